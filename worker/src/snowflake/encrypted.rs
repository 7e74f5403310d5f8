//! A store whose objects are encrypted on the client as Snowflake encrypts stage files. Every
//! object is encrypted and decrypted whole (a CBC object has no authentication to check piece by
//! piece, a GCM one has its tag at the end): a range is cut from the decrypted object, a
//! multipart upload gathers its parts and is encrypted when it completes, and sizes (heads,
//! listings) are the plaintext's.

use std::ops::Range;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::{self, BoxStream, StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{
    Attribute, Attributes, GetOptions, GetResult, GetResultPayload, ListResult, MultipartUpload,
    ObjectMeta, ObjectStore, PutMode, PutMultipartOptions, PutOptions, PutPayload, PutResult,
    Result, UploadPart,
};

use crate::errors::{raised, ErrorInfo, Kind};
use crate::snowflake::crypto::{self, Scheme};
use crate::snowflake::kms::{is_key_material, Kms};
use crate::wrapping::{self, forward_object_store};

/// How many heads a listing sends at once to learn its objects' plaintext sizes.
const SIZE_HEADS: usize = 16;
/// An encrypted object bigger than this goes up as a multipart upload of parts this big.
const PART: usize = 32 * 1024 * 1024;

#[derive(Debug, Clone)]
pub struct EncryptedStore {
    inner: Arc<dyn ObjectStore>,
    kms: Arc<Kms>,
}

impl std::fmt::Debug for Kms {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Kms({:?}, {:?}, keyring: ***)",
            self.location, self.scheme
        )
    }
}

impl std::fmt::Display for EncryptedStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Encrypted({})", self.inner)
    }
}

/// Snowflake's key material among an object's metadata, which reads do not show.
fn is_key_attribute(attribute: &Attribute) -> bool {
    matches!(attribute, Attribute::Metadata(name) if is_key_material(name))
}

impl EncryptedStore {
    pub fn new(inner: Arc<dyn ObjectStore>, kms: Kms) -> EncryptedStore {
        EncryptedStore {
            inner,
            kms: Arc::new(kms),
        }
    }

    async fn encrypt(
        &self,
        plain: &[u8],
        mut attributes: Attributes,
    ) -> Result<(Bytes, Attributes)> {
        let (material, own) = self.kms.for_write(plain.len()).await.map_err(raised)?;
        let cipher = material.encrypt(plain).map_err(raised)?;
        for (attribute, value) in own.iter() {
            attributes.insert(attribute.clone(), value.clone());
        }
        Ok((Bytes::from(cipher), attributes))
    }

    async fn put_encrypted(
        &self,
        location: &Path,
        plain: Bytes,
        opts: PutOptions,
    ) -> Result<PutResult> {
        let (cipher, attributes) = self.encrypt(&plain, opts.attributes.clone()).await?;
        if cipher.len() <= PART || opts.mode != PutMode::Overwrite {
            let opts = PutOptions { attributes, ..opts };
            return self.inner.put_opts(location, cipher.into(), opts).await;
        }
        let mut upload = self
            .inner
            .put_multipart_opts(
                location,
                PutMultipartOptions {
                    tags: opts.tags,
                    attributes,
                    extensions: opts.extensions,
                },
            )
            .await?;
        let mut offset = 0;
        while offset < cipher.len() {
            let end = (offset + PART).min(cipher.len());
            if let Err(e) = upload.put_part(cipher.slice(offset..end).into()).await {
                let _ = upload.abort().await;
                return Err(e);
            }
            offset = end;
        }
        upload.complete().await
    }

    /// The plaintext's size of the object whose head is `meta` and `attributes`.
    async fn plain_size(&self, meta: &ObjectMeta, attributes: &Attributes) -> Result<u64> {
        let described = self
            .kms
            .describe(attributes, meta.location.as_ref())
            .map_err(raised)?;
        if let Some(n) = described.plain_len {
            return Ok(n);
        }
        if let Some(n) = described.scheme.plain_len(meta.size) {
            return Ok(n);
        }
        // CBC: the padding's length is in the last block, which needs the content key and the
        // block before it.
        let material = self
            .kms
            .for_read(&described, meta.location.as_ref())
            .await
            .map_err(raised)?;
        let start = meta.size.saturating_sub(2 * crypto::BLOCK as u64);
        let opts = GetOptions {
            range: Some((start..meta.size).into()),
            if_match: meta.e_tag.clone(),
            ..GetOptions::default()
        };
        let tail = self
            .inner
            .get_opts(&meta.location, opts)
            .await?
            .bytes()
            .await?;
        let padding = material.cbc_padding(&tail).map_err(raised)?;
        Ok(meta.size - padding)
    }

    async fn head(&self, location: &Path, options: GetOptions) -> Result<GetResult> {
        let result = self.inner.get_opts(location, options).await?;
        let size = self.plain_size(&result.meta, &result.attributes).await?;
        Ok(GetResult {
            payload: GetResultPayload::Stream(stream::empty().boxed()),
            meta: ObjectMeta {
                size,
                ..result.meta
            },
            range: 0..size,
            attributes: wrapping::without(&result.attributes, is_key_attribute),
            extensions: result.extensions,
        })
    }

    /// The whole object, decrypted, with its metadata.
    async fn decrypted(&self, location: &Path, options: GetOptions) -> Result<(Bytes, GetResult)> {
        let options = GetOptions {
            range: None,
            ..options
        };
        let result = self.inner.get_opts(location, options).await?;
        let meta = result.meta.clone();
        let attributes = result.attributes.clone();
        let extensions = result.extensions.clone();
        let cipher = result.bytes().await?;
        let described = self
            .kms
            .describe(&attributes, location.as_ref())
            .map_err(raised)?;
        let material = self
            .kms
            .for_read(&described, location.as_ref())
            .await
            .map_err(raised)?;
        let plain = Bytes::from(material.decrypt(&cipher).map_err(raised)?);
        let size = plain.len() as u64;
        let head = GetResult {
            payload: GetResultPayload::Stream(stream::empty().boxed()),
            meta: ObjectMeta { size, ..meta },
            range: 0..size,
            attributes: wrapping::without(&attributes, is_key_attribute),
            extensions,
        };
        Ok((plain, head))
    }

    async fn with_plain_size(&self, meta: ObjectMeta) -> Result<ObjectMeta> {
        let head = GetOptions {
            head: true,
            ..GetOptions::default()
        };
        let result = self.inner.get_opts(&meta.location, head).await?;
        let size = self.plain_size(&result.meta, &result.attributes).await?;
        Ok(ObjectMeta { size, ..meta })
    }

    fn sized(
        &self,
        listing: BoxStream<'static, Result<ObjectMeta>>,
    ) -> BoxStream<'static, Result<ObjectMeta>> {
        let me = self.clone();
        listing
            .map_ok(move |meta| {
                let me = me.clone();
                async move { me.with_plain_size(meta).await }
            })
            .try_buffered(SIZE_HEADS)
            .boxed()
    }
}

fn range_error(message: String) -> object_store::Error {
    raised(ErrorInfo::new(Kind::RangeNotSatisfiable, message))
}

forward_object_store! {
    impl ObjectStore for EncryptedStore {
        // A copy keeps the metadata, and with it the wrapped key: the copy decrypts as well.
        forward(|s| s.inner) [delete_stream, copy_opts, rename_opts];

        async fn put_opts(
            &self,
            location: &Path,
            payload: PutPayload,
            opts: PutOptions,
        ) -> Result<PutResult> {
            self.put_encrypted(location, payload.into(), opts).await
        }

        async fn put_multipart_opts(
            &self,
            location: &Path,
            opts: PutMultipartOptions,
        ) -> Result<Box<dyn MultipartUpload>> {
            Ok(Box::new(GatheredUpload {
                store: self.clone(),
                location: location.clone(),
                opts: Some(opts),
                plain: Vec::new(),
                parts: 0,
            }))
        }

        async fn get_opts(&self, location: &Path, options: GetOptions) -> Result<GetResult> {
            if options.head {
                return self.head(location, options).await;
            }
            let wanted = options.range.clone();
            let (plain, head) = self.decrypted(location, options).await?;
            let size = plain.len() as u64;
            let range = match wanted {
                None => 0..size,
                Some(r) => r
                    .as_range(size)
                    .map_err(|e| range_error(format!("{location}: {e}")))?,
            };
            let body = plain.slice(range.start as usize..range.end as usize);
            Ok(GetResult {
                payload: GetResultPayload::Stream(stream::once(async move { Ok(body) }).boxed()),
                range,
                ..head
            })
        }

        async fn get_ranges(&self, location: &Path, ranges: &[Range<u64>]) -> Result<Vec<Bytes>> {
            let (plain, _) = self.decrypted(location, GetOptions::default()).await?;
            let size = plain.len() as u64;
            ranges
                .iter()
                .map(|r| {
                    let empty_at_end = r.start == r.end && r.start == size;
                    if r.start > r.end || r.start >= size && !empty_at_end {
                        return Err(range_error(format!(
                            "{location}: range {}..{} of a {size}-byte object",
                            r.start, r.end
                        )));
                    }
                    Ok(plain.slice(r.start as usize..r.end.min(size) as usize))
                })
                .collect()
        }

        fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, Result<ObjectMeta>> {
            self.sized(self.inner.list(prefix))
        }

        fn list_with_offset(
            &self,
            prefix: Option<&Path>,
            offset: &Path,
        ) -> BoxStream<'static, Result<ObjectMeta>> {
            self.sized(self.inner.list_with_offset(prefix, offset))
        }

        async fn list_with_delimiter(&self, prefix: Option<&Path>) -> Result<ListResult> {
            let mut listed = self.inner.list_with_delimiter(prefix).await?;
            let found = std::mem::take(&mut listed.objects);
            let objects = self
                .sized(stream::iter(found.into_iter().map(Ok)).boxed())
                .try_collect()
                .await?;
            Ok(ListResult { objects, ..listed })
        }
    }
}

/// A multipart upload to an encrypted stage: its parts' bytes are gathered until it completes,
/// then the object is encrypted whole and written. Each part is copied as it comes, never kept:
/// a part's payload is a view of the caller's arena region, and the part is answered only once
/// nothing holds that region (arena.rs), so keeping it would leave the part unanswered for ever.
struct GatheredUpload {
    store: EncryptedStore,
    location: Path,
    opts: Option<PutMultipartOptions>,
    plain: Vec<u8>,
    parts: usize,
}

impl std::fmt::Debug for GatheredUpload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "GatheredUpload({}, {} parts)", self.location, self.parts)
    }
}

#[async_trait]
impl MultipartUpload for GatheredUpload {
    fn put_part(&mut self, data: PutPayload) -> UploadPart {
        for chunk in &data {
            self.plain.extend_from_slice(chunk);
        }
        self.parts += 1;
        Box::pin(async { Ok(()) })
    }

    async fn complete(&mut self) -> Result<PutResult> {
        let Some(opts) = self.opts.take() else {
            return Err(raised(ErrorInfo::new(
                Kind::Protocol,
                "the upload was already completed",
            )));
        };
        let plain = std::mem::take(&mut self.plain);
        let opts = PutOptions {
            mode: PutMode::Overwrite,
            tags: opts.tags,
            attributes: opts.attributes,
            extensions: opts.extensions,
        };
        self.store
            .put_encrypted(&self.location, Bytes::from(plain), opts)
            .await
    }

    async fn abort(&mut self) -> Result<()> {
        self.plain = Vec::new();
        Ok(())
    }
}

/// The scheme an encrypted stage's writes use unless the configuration names one.
pub const DEFAULT_SCHEME: Scheme = Scheme::Aes128Cbc;
