//! `sign`: a pre-signed URL for one key, made with the store's own credentials (object_store's
//! `Signer`), so that a plain HTTP client can GET or PUT it until it expires.

use std::time::Duration;

use object_store::path::Path;
use object_store::signer::Method;

use crate::codec::{SignRequest, Success};
use crate::errors::{ErrorInfo, Kind};
use crate::ops::Ctx;

pub async fn sign(ctx: &Ctx, r: SignRequest) -> Result<Success, ErrorInfo> {
    let store = ctx.stores.get(r.store)?;
    let path = store.key(&r.path)?;
    let method = match r.method.as_str() {
        "GET" => Method::GET,
        "PUT" => Method::PUT,
        other => {
            return Err(ErrorInfo::new(
                Kind::Protocol,
                format!("a URL is signed for GET or PUT, not {other:?}"),
            ))
        }
    };
    if r.expires_secs == 0 {
        return Err(ErrorInfo::new(
            Kind::Protocol,
            "expires_secs must be positive",
        ));
    }
    let Some(signing) = &store.signer else {
        return Err(ErrorInfo::new(
            Kind::NotSupported,
            "only cloud stores (S3, Azure, GCS) sign URLs: this store has no URL to sign",
        ));
    };
    let full: Path = signing.prefix.parts().chain(path.parts()).collect();
    if signing.plain_keys_only && !full.as_ref().bytes().all(needs_no_encoding) {
        return Err(ErrorInfo::new(
            Kind::NotSupported,
            format!(
                "{}: object_store's Azure SAS signs the percent-encoded path, which Azure refuses, \
                 so a key with characters a URL must encode (spaces, non-ASCII, ...) cannot be \
                 signed here",
                r.path
            ),
        ));
    }
    let url = signing
        .signer
        .signed_url(method, &full, Duration::from_secs(r.expires_secs))
        .await
        .map_err(|e| store.error(&e))?;
    Ok(Success::Signed {
        url: url.to_string(),
    })
}

/// A byte a URL path carries as it is (RFC 3986's unreserved characters, and the separator).
fn needs_no_encoding(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'/')
}
