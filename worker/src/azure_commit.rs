//! Azure's commit of a multipart upload (Put Block List) is not idempotent: when its answer is
//! lost and object_store sends it again, the blocks it names are already committed and Azure
//! answers `InvalidBlockList`, though the object is written. As RustyObjectStore.jl does, every
//! upload carries an id in its metadata; a commit refused with `InvalidBlockList` succeeds if the
//! object now there carries this upload's id. Reads never show the id.
//!
//! Copies and renames carry the blob's tags over (azure_tags.rs).
//!
//! The same wrapper (every Azure store's, a stage's on Azure too) quotes the e_tags of listings:
//! Azure answers a blob's ETag quoted in a HEAD's or a GET's headers but bare in a listing's XML,
//! and a caller must get one form from every call, as from S3.

use std::sync::Arc;

use async_trait::async_trait;
use futures::stream::{BoxStream, StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{
    Attribute, CopyMode, CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload,
    ObjectMeta, ObjectStore, ObjectStoreExt, PutMultipartOptions, PutPayload, PutResult,
    RenameOptions, RenameTargetMode, Result, UploadPart,
};

use crate::azure_tags::BlobTags;
use crate::wrapping::{self, forward_object_store};

const UPLOAD_ID: &str = "rustyobjectstore_upload_id";

fn upload_id_attribute() -> Attribute {
    Attribute::Metadata(UPLOAD_ID.into())
}

/// A listing's entry with its e_tag as a HEAD gives it: in quotes (a weak one is left alone).
fn quoted(mut meta: ObjectMeta) -> ObjectMeta {
    if let Some(tag) = meta.e_tag.as_mut() {
        if !tag.starts_with('"') && !tag.starts_with("W/") {
            *tag = format!("\"{tag}\"");
        }
    }
    meta
}

fn new_upload_id() -> String {
    crate::ids::hex(&crate::ids::unique_bytes())
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
    /// Carries a blob's tags over on copies and renames (None: a stage, which keeps no tags).
    tags: Option<BlobTags>,
}

impl CommitChecked {
    pub fn new(inner: Arc<dyn ObjectStore>, tags: Option<BlobTags>) -> CommitChecked {
        CommitChecked { inner, tags }
    }
}

impl std::fmt::Display for CommitChecked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.inner.fmt(f)
    }
}

forward_object_store! {
    impl ObjectStore for CommitChecked {
        forward(|s| s.inner) [put_opts, get_ranges, delete_stream];

        async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> Result<()> {
            self.inner.copy_opts(from, to, options).await?;
            match &self.tags {
                Some(tags) => tags.copy(from, to).await,
                None => Ok(()),
            }
        }

        async fn rename_opts(&self, from: &Path, to: &Path, options: RenameOptions) -> Result<()> {
            let mode = match options.target_mode {
                RenameTargetMode::Overwrite => CopyMode::Overwrite,
                RenameTargetMode::Create => CopyMode::Create,
            };
            let copy = CopyOptions {
                mode,
                extensions: options.extensions,
            };
            self.copy_opts(from, to, copy).await?;
            self.inner.delete(from).await
        }

        fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, Result<ObjectMeta>> {
            self.inner.list(prefix).map_ok(quoted).boxed()
        }

        fn list_with_offset(
            &self,
            prefix: Option<&Path>,
            offset: &Path,
        ) -> BoxStream<'static, Result<ObjectMeta>> {
            self.inner.list_with_offset(prefix, offset).map_ok(quoted).boxed()
        }

        async fn list_with_delimiter(&self, prefix: Option<&Path>) -> Result<ListResult> {
            let mut listed = self.inner.list_with_delimiter(prefix).await?;
            listed.objects = listed.objects.into_iter().map(quoted).collect();
            Ok(listed)
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
            result.attributes =
                wrapping::without(&result.attributes, |a| *a == upload_id_attribute());
            Ok(result)
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(e_tag: Option<&str>) -> ObjectMeta {
        ObjectMeta {
            location: Path::from("k"),
            last_modified: chrono::DateTime::UNIX_EPOCH,
            size: 1,
            e_tag: e_tag.map(str::to_string),
            version: None,
        }
    }

    #[test]
    fn listed_e_tags_are_quoted_as_heads_give_them() {
        let bare = quoted(meta(Some("0x8DC1")));
        assert_eq!(bare.e_tag.as_deref(), Some("\"0x8DC1\""));
        let already = quoted(meta(Some("\"0x8DC1\"")));
        assert_eq!(already.e_tag.as_deref(), Some("\"0x8DC1\""));
        let weak = quoted(meta(Some("W/\"x\"")));
        assert_eq!(weak.e_tag.as_deref(), Some("W/\"x\""));
        assert_eq!(quoted(meta(None)).e_tag, None);
    }
}
