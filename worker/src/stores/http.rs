//! Plain HTTP stores (WebDAV and the like, `http://` and `https://` URLs no cloud claims).

use object_store::http::HttpBuilder;
use object_store::ClientConfigKey;

use super::{cloud_store, FromUrl, Keeps, Store};
use crate::errors::ErrorInfo;

pub(super) fn build(from: FromUrl<'_>) -> Result<Store, ErrorInfo> {
    let (http, _) = cloud_store!(from, HttpBuilder, ClientConfigKey, "HTTP");
    // object_store sends no user metadata over plain HTTP, and no tags.
    let keeps = Keeps {
        store: "HTTP",
        standard: true,
        metadata: false,
        tags: false,
    };
    Ok(from.store(http, keeps))
}
