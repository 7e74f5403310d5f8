//! Azure's commit of a multipart upload (Put Block List) is not idempotent: when its answer is
//! lost and object_store sends it again, the blocks it names are already committed and Azure
//! answers `InvalidBlockList`, though the object is written. As RustyObjectStore.jl does, every
//! upload carries an id in its metadata; a commit refused with `InvalidBlockList` succeeds if the
//! object now there carries this upload's id. Reads never show the id.

use std::ops::Range;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::BoxStream;
use object_store::path::Path;
use object_store::{
    Attribute, Attributes, CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload,
    ObjectMeta, ObjectStore, PutMultipartOptions, PutOptions, PutPayload, PutResult, RenameOptions,
    Result, UploadPart,
};

const UPLOAD_ID: &str = "rustyobjectstore_upload_id";

fn upload_id_attribute() -> Attribute {
    Attribute::Metadata(UPLOAD_ID.into())
}

fn new_upload_id() -> String {
    crate::ids::hex(&crate::ids::unique_bytes())
}

fn without_upload_id(attributes: &Attributes) -> Attributes {
    attributes
        .iter()
        .filter(|(a, _)| **a != upload_id_attribute())
        .map(|(a, v)| (a.clone(), v.clone()))
        .collect()
}

fn is_invalid_block_list(err: &object_store::Error) -> bool {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = current {
        if e.to_string().contains("InvalidBlockList") {
            return true;
        }
        current = e.source();
    }
    false
}

#[derive(Debug)]
pub struct CommitChecked {
    inner: Arc<dyn ObjectStore>,
}

impl CommitChecked {
    pub fn new(inner: Arc<dyn ObjectStore>) -> CommitChecked {
        CommitChecked { inner }
    }
}

impl std::fmt::Display for CommitChecked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.inner.fmt(f)
    }
}

#[async_trait]
impl ObjectStore for CommitChecked {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> Result<PutResult> {
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        mut opts: PutMultipartOptions,
    ) -> Result<Box<dyn MultipartUpload>> {
        let id = new_upload_id();
        opts.attributes
            .insert(upload_id_attribute(), id.clone().into());
        let upload = self.inner.put_multipart_opts(location, opts).await?;
        Ok(Box::new(CheckedUpload {
            upload,
            store: Arc::clone(&self.inner),
            location: location.clone(),
            id,
        }))
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> Result<GetResult> {
        let mut result = self.inner.get_opts(location, options).await?;
        result.attributes = without_upload_id(&result.attributes);
        Ok(result)
    }

    async fn get_ranges(&self, location: &Path, ranges: &[Range<u64>]) -> Result<Vec<Bytes>> {
        self.inner.get_ranges(location, ranges).await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, Result<Path>>,
    ) -> BoxStream<'static, Result<Path>> {
        self.inner.delete_stream(locations)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, Result<ObjectMeta>> {
        self.inner.list(prefix)
    }

    fn list_with_offset(
        &self,
        prefix: Option<&Path>,
        offset: &Path,
    ) -> BoxStream<'static, Result<ObjectMeta>> {
        self.inner.list_with_offset(prefix, offset)
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> Result<ListResult> {
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> Result<()> {
        self.inner.copy_opts(from, to, options).await
    }

    async fn rename_opts(&self, from: &Path, to: &Path, options: RenameOptions) -> Result<()> {
        self.inner.rename_opts(from, to, options).await
    }
}

#[derive(Debug)]
struct CheckedUpload {
    upload: Box<dyn MultipartUpload>,
    store: Arc<dyn ObjectStore>,
    location: Path,
    id: String,
}

#[async_trait]
impl MultipartUpload for CheckedUpload {
    fn put_part(&mut self, data: PutPayload) -> UploadPart {
        self.upload.put_part(data)
    }

    async fn complete(&mut self) -> Result<PutResult> {
        let err = match self.upload.complete().await {
            Ok(done) => return Ok(done),
            Err(err) if is_invalid_block_list(&err) => err,
            Err(err) => return Err(err),
        };
        let head = GetOptions {
            head: true,
            ..GetOptions::default()
        };
        match self.store.get_opts(&self.location, head).await {
            Ok(found)
                if found
                    .attributes
                    .get(&upload_id_attribute())
                    .is_some_and(|v| v.as_ref() == self.id) =>
            {
                Ok(PutResult {
                    e_tag: found.meta.e_tag,
                    version: found.meta.version,
                    extensions: Default::default(),
                })
            }
            // Another upload's object, or none: the refusal stands.
            _ => Err(err),
        }
    }

    async fn abort(&mut self) -> Result<()> {
        self.upload.abort().await
    }
}
