//! `put`: the region's bytes, stored atomically.

use object_store::{PutOptions, PutPayload};

use crate::codec::{PutRequest, Success};
use crate::errors::ErrorInfo;
use crate::ops::Ctx;
use crate::stores::Store;

/// The region as a payload: a view where the store lets go of it when the request ends, else a copy.
pub fn payload(ctx: &Ctx, store: &Store, offset: usize, len: usize) -> PutPayload {
    let bytes = if store.keeps_payload {
        ctx.arena.copy_out(offset, len)
    } else {
        ctx.arena.borrow(offset, len)
    };
    PutPayload::from(bytes)
}

pub async fn put(ctx: &Ctx, r: PutRequest) -> Result<Success, ErrorInfo> {
    let (offset, len) = ctx.arena.check(r.region)?;
    let store = ctx.stores.get(r.store)?;
    let path = store.key(&r.path)?;
    let result = store
        .inner
        .put_opts(
            &path,
            payload(ctx, &store, offset, len),
            PutOptions::default(),
        )
        .await
        .map_err(|e| store.error(&e))?;
    Ok(Success::Put {
        e_tag: result.e_tag,
        version: result.version,
    })
}
