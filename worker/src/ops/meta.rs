//! `head`, `delete`, `bulk_delete`, `copy` and `rename`.

use futures::{stream, StreamExt};
use object_store::{CopyMode, CopyOptions, ObjectStoreExt, RenameOptions, RenameTargetMode};

use crate::codec::{BulkDeleteRequest, CopyRequest, Meta, PathRequest, Success};
use crate::errors::{ErrorInfo, Kind};
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

/// Deletes many keys the way the backend batches them (S3: 1,000 a request, Azure: 256). A key that
/// was already gone counts as deleted, as S3 has it on every backend.
pub async fn bulk_delete(ctx: &Ctx, r: BulkDeleteRequest) -> Result<Success, ErrorInfo> {
    let store = ctx.stores.get(r.store)?;
    let mut failed = Vec::new();
    let mut valid = Vec::with_capacity(r.paths.len());
    for key in r.paths {
        match store.key(&key) {
            Ok(path) => valid.push((key, path)),
            Err(e) => failed.push((key, e)),
        }
    }
    let paths: Vec<_> = valid.iter().map(|(_, p)| Ok(p.clone())).collect();
    let paths = stream::iter(paths).boxed();
    // Results come back in input order (object_store's delete_stream contract).
    let results: Vec<_> = store.inner.delete_stream(paths).collect().await;
    for ((key, path), result) in valid.iter().zip(results) {
        let Err(e) = result else { continue };
        if store.error(&e).kind == Kind::NotFound {
            continue;
        }
        // One entry of a batch can fail on its own (a busy server answers one sub-request with an
        // error): it gets one more, single delete before it is reported.
        if let Err(e) = store.inner.delete(path).await {
            let info = store.error(&e);
            if info.kind != Kind::NotFound {
                failed.push((key.clone(), info));
            }
        }
    }
    Ok(Success::BulkDelete { failed })
}

pub async fn copy(ctx: &Ctx, r: CopyRequest) -> Result<Success, ErrorInfo> {
    let store = ctx.stores.get(r.store)?;
    let (from, to) = (store.key(&r.from)?, store.key(&r.to)?);
    let mode = if r.overwrite {
        CopyMode::Overwrite
    } else {
        CopyMode::Create
    };
    store
        .inner
        .copy_opts(&from, &to, CopyOptions::new().with_mode(mode))
        .await
        .map_err(|e| store.error(&e))?;
    Ok(Success::Empty)
}

pub async fn rename(ctx: &Ctx, r: CopyRequest) -> Result<Success, ErrorInfo> {
    let store = ctx.stores.get(r.store)?;
    let (from, to) = (store.key(&r.from)?, store.key(&r.to)?);
    let mode = if r.overwrite {
        RenameTargetMode::Overwrite
    } else {
        RenameTargetMode::Create
    };
    store
        .inner
        .rename_opts(&from, &to, RenameOptions::new().with_target_mode(mode))
        .await
        .map_err(|e| store.error(&e))?;
    Ok(Success::Empty)
}
