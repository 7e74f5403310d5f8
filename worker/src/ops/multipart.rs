//! Multipart uploads: parts numbered in the order their frames arrive, completed or aborted by Python.

use std::sync::Arc;

use futures::future::BoxFuture;
use object_store::{MultipartUpload, PutMultipartOptions};

use crate::codec::{MultipartPart, Success, UploadRequest, UploadStart};
use crate::errors::{ErrorInfo, Kind};
use crate::ops::{attributes, put, Ctx};
use crate::stores::Store;
use crate::sync::lock;

pub struct Upload {
    upload: Box<dyn MultipartUpload>,
    store: Arc<Store>,
}

fn unknown_upload(upload: u64) -> ErrorInfo {
    ErrorInfo::new(Kind::Protocol, format!("no multipart upload {upload}"))
}

pub async fn start(ctx: &Ctx, r: UploadStart) -> Result<Success, ErrorInfo> {
    let store = ctx.stores.get(r.store)?;
    let path = store.key(&r.path)?;
    let (attributes, tags) = attributes::write_options(&store, r.attached)?;
    let options = PutMultipartOptions {
        attributes,
        tags,
        ..PutMultipartOptions::default()
    };
    let upload = store
        .inner
        .put_multipart_opts(&path, options)
        .await
        .map_err(|e| store.error(&e))?;
    let handle = ctx.new_handle();
    lock(&ctx.uploads).insert(handle, Upload { upload, store });
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
        let payload = put::payload(ctx, &entry.store, offset, len);
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
    let mut entry = take(ctx, r.upload)?;
    entry
        .upload
        .abort()
        .await
        .map_err(|e| entry.store.error(&e))?;
    Ok(Success::Empty)
}
