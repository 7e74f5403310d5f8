//! `put`: the region's bytes, stored atomically.

use object_store::{PutMode, PutOptions, PutPayload, PutResult, UpdateVersion};

use crate::codec::{Attached, PutRequest, Success};
use crate::errors::{ErrorInfo, Kind};
use crate::ops::{attributes, Ctx};
use crate::stores::Store;

/// The region as a payload: a copy where what receives it `keeps` it after the request ends,
/// else a view.
pub fn payload(ctx: &Ctx, keeps: bool, offset: usize, len: usize) -> PutPayload {
    let bytes = if keeps {
        ctx.arena.copy_out(offset, len)
    } else {
        ctx.arena.borrow(offset, len)
    };
    PutPayload::from(bytes)
}

pub async fn put(ctx: &Ctx, r: PutRequest) -> Result<Success, ErrorInfo> {
    let (offset, len) = ctx.arena.check(r.region)?;
    let store = ctx.stores.get(r.store)?;
    let mode = put_mode(r.mode.as_deref(), r.e_tag, r.version)?;
    let payload = payload(ctx, store.keeps_payload, offset, len);
    let result = store_bytes(&store, &r.path, payload, mode, r.attached).await?;
    Ok(Success::Put {
        e_tag: result.e_tag,
        version: result.version,
    })
}

/// `payload` stored as the object `key`, with what is `attached`: one put, atomic.
pub async fn store_bytes(
    store: &Store,
    key: &str,
    payload: PutPayload,
    mode: PutMode,
    attached: Attached,
) -> Result<PutResult, ErrorInfo> {
    let path = store.key(key)?;
    let updating = matches!(mode, PutMode::Update(_));
    let (attributes, tags) = attributes::write_options(store, attached)?;
    let options = PutOptions {
        mode,
        attributes,
        tags,
        ..PutOptions::default()
    };
    store
        .inner
        .put_opts(&path, payload, options)
        .await
        .map_err(|e| {
            let mut info = store.error(&e);
            if updating && info.kind == Kind::AlreadyExists {
                // object_store calls every 409 "already exists"; to an update it means another
                // conditional write got there first (S3's ConditionalRequestConflict).
                info.kind = Kind::Precondition;
            }
            info
        })
}

/// A put's `mode`: "overwrite" (the default), "create", or "update" with `e_tag` and/or
/// `version`.
pub fn put_mode(
    mode: Option<&str>,
    e_tag: Option<String>,
    version: Option<String>,
) -> Result<PutMode, ErrorInfo> {
    match mode {
        None | Some("overwrite") => Ok(PutMode::Overwrite),
        Some("create") => Ok(PutMode::Create),
        Some("update") if e_tag.is_some() || version.is_some() => {
            Ok(PutMode::Update(UpdateVersion { e_tag, version }))
        }
        Some(other) => Err(ErrorInfo::new(
            Kind::Protocol,
            format!("unknown put mode {other:?}, or \"update\" without e_tag or version"),
        )),
    }
}
