//! `head`, `delete`, `bulk_delete`, `copy` and `rename`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::{stream, StreamExt};
use object_store::path::Path;
use object_store::{
    CopyMode, CopyOptions, GetOptions, ObjectStoreExt, RenameOptions, RenameTargetMode,
};

use crate::codec::{BulkDeleteRequest, CopyRequest, HeadRequest, PathRequest, Success};
use crate::errors::{self, ErrorInfo, Kind};
use crate::ops::{attributes, conditions, Ctx};
use crate::stores::Store;

pub async fn head(ctx: &Ctx, r: HeadRequest) -> Result<Success, ErrorInfo> {
    let store = ctx.stores.get(r.store)?;
    let path = store.key(&r.path)?;
    let options = GetOptions {
        head: true,
        ..conditions::options(r.when, &store, &r.path)?
    };
    let found = store
        .inner
        .get_opts(&path, options.clone())
        .await
        .map_err(|e| store.error(&e))?;
    conditions::check_version(&options.version, &found.meta, &r.path)?;
    Ok(Success::Head {
        meta: attributes::read_meta(&found),
    })
}

pub async fn delete(ctx: &Ctx, r: PathRequest) -> Result<Success, ErrorInfo> {
    let store = ctx.stores.get(r.store)?;
    let path = store.key(&r.path)?;
    delete_resending(&store, &path)
        .await
        .map_err(|e| store.error(&e))?;
    Ok(Success::Empty)
}

/// A delete, sent again when it broke off unanswered, as often and as late as the store's retry
/// settings allow. object_store resends only requests whose method is idempotent, and a delete goes
/// out as S3's bulk POST; but deleting twice leaves what deleting once does, and a stale pooled
/// connection (the server restarted) resets the first request on it.
async fn delete_resending(store: &Store, path: &Path) -> object_store::Result<()> {
    let started = Instant::now();
    let backoff = &store.retry.backoff;
    let mut wait = backoff.init_backoff;
    let mut sent = 0;
    loop {
        let error = match store.inner.delete(path).await {
            Ok(()) => return Ok(()),
            // The send that broke off may have deleted it before its answer was lost: a resend
            // that finds the key gone has what was asked.
            Err(e) if sent > 0 && store.error(&e).kind == Kind::NotFound => return Ok(()),
            Err(e) => e,
        };
        sent += 1;
        let out_of_time = started.elapsed() + wait > store.retry.retry_timeout;
        if !errors::broke_off_unanswered(&error) || sent > store.retry.max_retries || out_of_time {
            return Err(error);
        }
        tokio::time::sleep(wait).await;
        // Checked: the settings come from the user, and an overflowing `mul_f64` panics.
        wait = Duration::try_from_secs_f64(wait.as_secs_f64() * backoff.base)
            .unwrap_or(backoff.max_backoff)
            .min(backoff.max_backoff);
    }
}

/// Deletes many keys the way the backend batches them (S3: 1,000 a request, Azure: 256), a few
/// batches at a time. A key that was already gone counts as deleted, as S3 has it on every backend.
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
    // Owned batches: a future that borrows from this one trips the compiler's `Send` check.
    let batches: Vec<Vec<Path>> = valid
        .chunks(store.delete_batch)
        .map(|batch| batch.iter().map(|(_, path)| path.clone()).collect())
        .collect();
    let outcomes: Vec<Vec<Option<ErrorInfo>>> = stream::iter(batches)
        .map(|batch| delete_batch(Arc::clone(&store), batch))
        .buffered(BATCHES_AT_ONCE)
        .collect()
        .await;
    for ((key, _), outcome) in valid.into_iter().zip(outcomes.into_iter().flatten()) {
        if let Some(info) = outcome {
            failed.push((key, info));
        }
    }
    Ok(Success::BulkDelete { failed })
}

const BATCHES_AT_ONCE: usize = 8;
const SINGLE_DELETES_AT_ONCE: usize = 10;

/// One batch through `delete_stream`: the error of each key, or `None` once it is gone.
///
/// A batch request that fails as a whole comes back as one error, not one per key, so its answers
/// no longer line up with the keys; and one entry of a batch can fail on its own (a busy server
/// answers one sub-request with an error). Either way the key gets one more, single delete, whose
/// outcome is the one reported.
async fn delete_batch(store: Arc<Store>, batch: Vec<Path>) -> Vec<Option<ErrorInfo>> {
    let paths: Vec<_> = batch.iter().cloned().map(Ok).collect();
    let answers: Vec<_> = store
        .inner
        .delete_stream(stream::iter(paths).boxed())
        .collect()
        .await;
    let answers: Vec<Option<_>> = if answers.len() == batch.len() {
        answers.into_iter().map(Some).collect()
    } else {
        batch.iter().map(|_| None).collect()
    };
    stream::iter(batch.into_iter().zip(answers))
        .map(|(path, answer)| {
            let store = Arc::clone(&store);
            async move {
                let gone = |result: &object_store::Result<_>| match result {
                    Ok(_) => true,
                    Err(e) => store.error(e).kind == Kind::NotFound,
                };
                if answer.as_ref().is_some_and(gone) {
                    return None;
                }
                let error = delete_resending(&store, &path).await.err()?;
                Some(store.error(&error)).filter(|info| info.kind != Kind::NotFound)
            }
        })
        .buffered(SINGLE_DELETES_AT_ONCE)
        .collect()
        .await
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
