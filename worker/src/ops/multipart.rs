//! Multipart uploads: parts numbered in the order their frames arrive, completed or aborted by Python.

use std::sync::Arc;

use futures::future::BoxFuture;
use object_store::{MultipartUpload, PutMultipartOptions};

use crate::codec::{MultipartPart, Success, UploadRequest, UploadStart};
use crate::errors::{ErrorInfo, Kind};
use crate::ops::assembly::Assembly;
use crate::ops::{attributes, put, Ctx};
use crate::stores::Store;
use crate::sync::lock;

pub struct Upload {
    upload: Box<dyn MultipartUpload>,
    store: Arc<Store>,
    /// The upload holds on to its parts' payloads after they are answered, so they must be
    /// copies rather than views of arena regions that Python will reuse.
    keeps_parts: bool,
}

fn unknown_upload(upload: u64) -> ErrorInfo {
    ErrorInfo::new(Kind::Protocol, format!("no multipart upload {upload}"))
}

pub async fn start(ctx: &Arc<Ctx>, r: UploadStart) -> Result<Success, ErrorInfo> {
    let store = ctx.stores.get(r.store)?;
    let path = store.key(&r.path)?;
    let (attributes, tags) = attributes::write_options(&store, r.attached)?;
    let options = PutMultipartOptions {
        attributes,
        tags,
        ..PutMultipartOptions::default()
    };
    match r.size {
        // A store that keeps what it is given holds the whole object anyway: gathering it in
        // one buffer costs no more memory, and a copy less.
        Some(size) if store.keeps_payload => {
            let size = usize::try_from(size).map_err(|_| {
                ErrorInfo::new(Kind::Protocol, format!("an upload of {size} bytes"))
            })?;
            let inner = Arc::clone(&store.inner);
            let upload = Box::new(Assembly::new(inner, path, options, size)?);
            let handle = register(ctx, upload, store, false);
            Ok(Success::Upload { upload: handle })
        }
        _ => create(ctx, store, path, options).await,
    }
}

fn register(
    ctx: &Ctx,
    upload: Box<dyn MultipartUpload>,
    store: Arc<Store>,
    keeps_parts: bool,
) -> u64 {
    let handle = ctx.new_handle();
    let entry = Upload {
        upload,
        store,
        keeps_parts,
    };
    lock(&ctx.uploads).insert(handle, entry);
    handle
}

/// The server's upload, created and put in the table by a task of its own: a caller that stops
/// waiting (Ctrl-C, a deadline) may do so after the server made the upload and before its answer
/// came, and then nobody would know the upload to abort it. The task aborts it itself, and
/// stdin's EOF waits for the task, then aborts what the table holds.
async fn create(
    ctx: &Arc<Ctx>,
    store: Arc<Store>,
    path: object_store::path::Path,
    options: PutMultipartOptions,
) -> Result<Success, ErrorInfo> {
    let (answer, answered) = tokio::sync::oneshot::channel();
    let ctx = Arc::clone(ctx);
    tokio::spawn(async move {
        let _cleanup = ctx.cleanups.start();
        let handle = match store.inner.put_multipart_opts(&path, options).await {
            Ok(upload) => {
                let keeps_parts = store.keeps_payload;
                register(&ctx, upload, Arc::clone(&store), keeps_parts)
            }
            Err(e) => {
                let _ = answer.send(Err(store.error(&e)));
                return;
            }
        };
        if answer.send(Ok(handle)).is_err() {
            let orphan = lock(&ctx.uploads).remove(&handle);
            if let Some(mut entry) = orphan {
                let _ = entry.upload.abort().await;
            }
        }
    });
    let handle = answered.await.map_err(|_| {
        ErrorInfo::new(
            Kind::Unknown,
            "the upload's creation was dropped by the runtime".to_string(),
        )
    })??;
    Ok(Success::Upload { upload: handle })
}

/// Called from the read loop, in frame order, so that part numbers follow the frames; the returned
/// future does the upload.
pub fn part(ctx: &Arc<Ctx>, r: MultipartPart) -> BoxFuture<'static, Result<Success, ErrorInfo>> {
    let started = (|| {
        let (offset, len) = ctx.arena.check(r.region)?;
        let mut uploads = lock(&ctx.uploads);
        let entry = uploads
            .get_mut(&r.upload)
            .ok_or_else(|| unknown_upload(r.upload))?;
        let payload = put::payload(ctx, entry.keeps_parts, offset, len);
        Ok((entry.upload.put_part(payload), Arc::clone(&entry.store)))
    })();
    Box::pin(async move {
        let (upload_part, store) = started?;
        upload_part.await.map_err(|e| store.error(&e))?;
        Ok(Success::Empty)
    })
}

fn take(ctx: &Ctx, upload: u64) -> Result<Upload, ErrorInfo> {
    lock(&ctx.uploads)
        .remove(&upload)
        .ok_or_else(|| unknown_upload(upload))
}

pub async fn complete(ctx: &Ctx, r: UploadRequest) -> Result<Success, ErrorInfo> {
    let mut entry = take(ctx, r.upload)?;
    let result = match entry.upload.complete().await {
        Ok(result) => result,
        Err(e) => {
            // The upload is out of the table, so nobody else can drop its parts: do it here, as
            // object_store's own `WriteMultipart::finish` does. The completion's error is the one
            // to report.
            let _ = entry.upload.abort().await;
            return Err(entry.store.error(&e));
        }
    };
    Ok(Success::Put {
        e_tag: result.e_tag,
        version: result.version,
    })
}

pub async fn abort(ctx: &Ctx, r: UploadRequest) -> Result<Success, ErrorInfo> {
    // Counted before the entry leaves the table: one or the other is what EOF waits for.
    let _cleanup = ctx.cleanups.start();
    let mut entry = take(ctx, r.upload)?;
    entry
        .upload
        .abort()
        .await
        .map_err(|e| entry.store.error(&e))?;
    Ok(Success::Empty)
}

/// Aborts every upload still open: stdin's EOF, with no one left to complete them (a caller
/// stopped by Ctrl-C, or gone), leaves none of their parts on the server.
pub async fn abort_all(ctx: &Ctx) {
    let open: Vec<Upload> = lock(&ctx.uploads).drain().map(|(_, entry)| entry).collect();
    futures::future::join_all(open.into_iter().map(|mut entry| async move {
        let _ = entry.upload.abort().await;
    }))
    .await;
}
