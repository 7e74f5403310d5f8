//! `head` and `delete`.

use object_store::ObjectStoreExt;

use crate::codec::{Meta, PathRequest, Success};
use crate::errors::ErrorInfo;
use crate::ops::Ctx;

pub async fn head(ctx: &Ctx, r: PathRequest) -> Result<Success, ErrorInfo> {
    let store = ctx.stores.get(r.store)?;
    let path = store.key(&r.path)?;
    let meta = store.inner.head(&path).await.map_err(|e| store.error(&e))?;
    Ok(Success::Head {
        meta: Meta::from(&meta),
    })
}

pub async fn delete(ctx: &Ctx, r: PathRequest) -> Result<Success, ErrorInfo> {
    let store = ctx.stores.get(r.store)?;
    let path = store.key(&r.path)?;
    store
        .inner
        .delete(&path)
        .await
        .map_err(|e| store.error(&e))?;
    Ok(Success::Empty)
}
