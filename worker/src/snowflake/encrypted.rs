//! A store whose objects are encrypted on the client as Snowflake encrypts stage files, in
//! bounded memory: uploads are encrypted as their parts come and go up in parts of their own,
//! reads are decrypted as the bytes arrive (crypter.rs). A range of a CBC object is read from the
//! block before it; a GCM object is always read whole (one tag covers it all), keeping only the
//! range. Sizes (heads, listings, ranges) are the plaintext's, learnt once per version.

use std::collections::HashMap;
use std::ops::Range;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use bytes::Bytes;
use futures::future::BoxFuture;
use futures::stream::{self, BoxStream, StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{
    Attribute, Attributes, GetOptions, GetRange, GetResult, GetResultPayload, ListResult,
    MultipartUpload, ObjectMeta, ObjectStore, PutMode, PutMultipartOptions, PutOptions, PutPayload,
    PutResult, Result, UploadPart,
};

use crate::errors::{raised, ErrorInfo, Kind};
use crate::snowflake::crypter::{Decrypter, Encrypter, Start};
use crate::snowflake::crypto::{Material, Scheme, BLOCK};
use crate::snowflake::kms::{is_key_material, Described, Kms};
use crate::wrapping::{self, forward_object_store};

/// How many heads a listing sends at once to learn its objects' plaintext sizes.
const SIZE_HEADS: usize = 16;
/// A single put's ciphertext above this goes up as a multipart upload.
const SINGLE_PUT: usize = 32 * 1024 * 1024;
/// The least an upload's part holds (S3 takes no smaller part but the last); a part is as big as
/// the biggest the caller sent, so an upload has no more parts than the caller's.
const UPLOAD_PART: usize = 8 * 1024 * 1024;
/// A CBC object of unknown plaintext size up to this is read whole and decrypted at once (one
/// request); a bigger one learns its size from its last two blocks first.
const READ_WHOLE: u64 = 1024 * 1024;
/// Plaintext sizes kept, by key and e_tag.
const KNOWN_SIZES: usize = 16 * 1024;

/// Plaintext sizes by key, each for the version (e_tag) it was learnt of.
#[derive(Debug, Default)]
struct Sizes(Mutex<HashMap<Path, (String, u64)>>);

/// An e_tag as a version: listings and heads of some servers (moto) quote it differently.
fn version(e_tag: &str) -> &str {
    e_tag.trim_start_matches("W/").trim_matches('"')
}

impl Sizes {
    fn get(&self, meta: &ObjectMeta) -> Option<u64> {
        let e_tag = version(meta.e_tag.as_deref()?);
        let sizes = crate::sync::lock(&self.0);
        let (known, size) = sizes.get(&meta.location)?;
        (known == e_tag).then_some(*size)
    }

    fn insert(&self, location: &Path, e_tag: Option<&str>, size: u64) {
        let Some(e_tag) = e_tag.map(version) else {
            return;
        };
        let mut sizes = crate::sync::lock(&self.0);
        if sizes.len() >= KNOWN_SIZES {
            sizes.clear();
        }
        sizes.insert(location.clone(), (e_tag.to_string(), size));
    }
}

#[derive(Debug, Clone)]
pub struct EncryptedStore {
    inner: Arc<dyn ObjectStore>,
    kms: Arc<Kms>,
    sizes: Arc<Sizes>,
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

fn range_error(message: String) -> object_store::Error {
    raised(ErrorInfo::new(Kind::RangeNotSatisfiable, message))
}

/// The ciphertext to fetch for a plaintext range, CBC's blocks lining up with the plaintext's:
/// from the block before the range's first (its chaining value), to the end of its last.
fn cbc_fetch(range: &GetRange) -> GetRange {
    let block = BLOCK as u64;
    let from = |start: u64| (start / block).saturating_sub(1) * block;
    match range {
        GetRange::Bounded(r) => {
            GetRange::Bounded(from(r.start)..r.end.div_ceil(block).saturating_mul(block))
        }
        GetRange::Offset(start) => GetRange::Offset(from(*start)),
        GetRange::Suffix(_) => range.clone(),
    }
}

/// `cipher`'s plaintext from `skip` bytes in, `take` bytes of it; the stream fails if the object
/// does not check or decrypts to fewer bytes, or (`exact`, a whole object) to more.
fn plain_stream(
    cipher: BoxStream<'static, Result<Bytes>>,
    decrypter: Decrypter,
    location: Path,
    (skip, take): (u64, u64),
    exact: bool,
) -> BoxStream<'static, Result<Bytes>> {
    struct State {
        cipher: BoxStream<'static, Result<Bytes>>,
        decrypter: Option<Decrypter>,
        location: Path,
        skip: u64,
        left: u64,
        beyond: bool,
    }
    impl State {
        fn cut(&mut self, mut plain: Vec<u8>) -> Option<Bytes> {
            let skipped = self.skip.min(plain.len() as u64);
            self.skip -= skipped;
            let end = (skipped + self.left).min(plain.len() as u64);
            self.left -= end - skipped;
            self.beyond |= end < plain.len() as u64;
            plain.truncate(end as usize);
            let plain = Bytes::from(plain).slice(skipped as usize..);
            (!plain.is_empty()).then_some(plain)
        }
    }
    let state = State {
        cipher,
        decrypter: Some(decrypter),
        location,
        skip,
        left: take,
        beyond: false,
    };
    stream::try_unfold(state, move |mut state| async move {
        loop {
            let Some(decrypter) = state.decrypter.as_mut() else {
                return Ok(None);
            };
            let mut plain = Vec::new();
            match state.cipher.next().await {
                Some(chunk) => decrypter.update(&chunk?, &mut plain).map_err(raised)?,
                None => {
                    if let Some(decrypter) = state.decrypter.take() {
                        decrypter.finish(&mut plain).map_err(raised)?;
                    }
                    let piece = state.cut(plain);
                    if state.left > 0 || exact && state.beyond {
                        return Err(raised(ErrorInfo::new(
                            Kind::Data,
                            format!(
                                "{}: the object does not decrypt to the size its metadata gives",
                                state.location
                            ),
                        )));
                    }
                    return Ok(piece.map(|p| (p, state)));
                }
            }
            if let Some(piece) = state.cut(plain) {
                return Ok(Some((piece, state)));
            }
        }
    })
    .boxed()
}

/// What a read says of an object, sizes made the plaintext's and the key material hidden.
fn plain_result(
    result: &GetResult,
    size: u64,
    range: Range<u64>,
    payload: BoxStream<'static, Result<Bytes>>,
) -> GetResult {
    GetResult {
        payload: GetResultPayload::Stream(payload),
        meta: ObjectMeta {
            size,
            ..result.meta.clone()
        },
        range,
        attributes: wrapping::without(&result.attributes, is_key_attribute),
        extensions: result.extensions.clone(),
    }
}

/// The caller's attributes with the key material added.
fn with_key_material(mut attributes: Attributes, own: &Attributes) -> Attributes {
    for (attribute, value) in own.iter() {
        attributes.insert(attribute.clone(), value.clone());
    }
    attributes
}

fn body(result: GetResult) -> BoxStream<'static, Result<Bytes>> {
    match result.payload {
        GetResultPayload::Stream(s) => s,
        // The stores a stage lives on (S3, Azure) answer with streams; a file would be read whole.
        GetResultPayload::File(..) => stream::once(async move { result.bytes().await }).boxed(),
    }
}

impl EncryptedStore {
    pub fn new(inner: Arc<dyn ObjectStore>, kms: Kms) -> EncryptedStore {
        EncryptedStore {
            inner,
            kms: Arc::new(kms),
            sizes: Arc::default(),
        }
    }

    fn described(&self, result: &GetResult) -> Result<Described> {
        self.kms
            .describe(&result.attributes, result.meta.location.as_ref())
            .map_err(raised)
    }

    async fn material(&self, described: &Described, location: &Path) -> Result<Material> {
        self.kms
            .for_read(described, location.as_ref())
            .await
            .map_err(raised)
    }

    async fn put_encrypted(
        &self,
        location: &Path,
        plain: Bytes,
        opts: PutOptions,
    ) -> Result<PutResult> {
        let (material, own) = self
            .kms
            .for_write(Some(plain.len()))
            .await
            .map_err(raised)?;
        let cipher = Bytes::from(material.encrypt(&plain).map_err(raised)?);
        let attributes = with_key_material(opts.attributes.clone(), &own);
        let result = if cipher.len() <= SINGLE_PUT || opts.mode != PutMode::Overwrite {
            let opts = PutOptions { attributes, ..opts };
            self.inner.put_opts(location, cipher.into(), opts).await?
        } else {
            let options = PutMultipartOptions {
                tags: opts.tags,
                attributes,
                extensions: opts.extensions,
            };
            let mut upload = self.inner.put_multipart_opts(location, options).await?;
            let parts = (0..cipher.len())
                .step_by(SINGLE_PUT)
                .map(|at| {
                    upload.put_part(cipher.slice(at..(at + SINGLE_PUT).min(cipher.len())).into())
                })
                .collect::<Vec<_>>();
            match futures::future::try_join_all(parts).await {
                Ok(_) => upload.complete().await?,
                Err(e) => {
                    let _ = upload.abort().await;
                    return Err(e);
                }
            }
        };
        self.sizes
            .insert(location, result.e_tag.as_deref(), plain.len() as u64);
        Ok(result)
    }

    /// The plaintext's size of the object `meta` describes (a head's or a read's): known for this
    /// version, written beside it, fixed by GCM's tag, or (CBC) from the padding in its last
    /// block, read pinned to the version.
    async fn plain_size(
        &self,
        meta: &ObjectMeta,
        described: &Described,
        material: Option<&Material>,
    ) -> Result<u64> {
        if let Some(n) = self.sizes.get(meta) {
            return Ok(n);
        }
        let known = described
            .plain_len
            .or_else(|| described.scheme.plain_len(meta.size));
        if let Some(n) = known {
            self.sizes.insert(&meta.location, meta.e_tag.as_deref(), n);
            return Ok(n);
        }
        let fetched;
        let material = match material {
            Some(m) => m,
            None => {
                fetched = self.material(described, &meta.location).await?;
                &fetched
            }
        };
        let start = meta.size.saturating_sub(2 * BLOCK as u64);
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
        let size = meta.size - padding;
        self.sizes
            .insert(&meta.location, meta.e_tag.as_deref(), size);
        Ok(size)
    }

    async fn head(&self, location: &Path, options: GetOptions) -> Result<GetResult> {
        let result = self.inner.get_opts(location, options).await?;
        let described = self.described(&result)?;
        let size = self.plain_size(&result.meta, &described, None).await?;
        Ok(plain_result(
            &result,
            size,
            0..size,
            stream::empty().boxed(),
        ))
    }

    /// A read of the object or of a range of it, decrypted as it arrives.
    async fn read(&self, location: &Path, mut options: GetOptions) -> Result<GetResult> {
        if let Some(GetRange::Suffix(n)) = options.range {
            // A plaintext suffix needs the plaintext's size (learnt once per version).
            let head = GetOptions {
                head: true,
                ..options.clone()
            };
            let head = self.head(location, head).await?;
            let size = head.meta.size;
            options.range = (size > 0).then(|| GetRange::Bounded(size.saturating_sub(n)..size));
            options.if_match = options.if_match.or(head.meta.e_tag);
        }
        let wanted = options.range.take();
        // GCM reads whole: read a CBC stage's ranges as CBC, and find out otherwise if need be.
        if self.kms.scheme == Scheme::Aes128Cbc {
            options.range = wanted.as_ref().map(cbc_fetch);
        }
        let fetched_range = options.range.is_some();
        let result = self.inner.get_opts(location, options.clone()).await?;
        let described = self.described(&result)?;
        if fetched_range && described.scheme != Scheme::Aes128Cbc {
            let whole = GetOptions {
                range: None,
                if_match: result.meta.e_tag.clone(),
                ..options
            };
            let result = self.inner.get_opts(location, whole).await?;
            return self.decrypt(location, result, wanted).await;
        }
        self.decrypt(location, result, wanted).await
    }

    /// `result`, a read of the whole object or (CBC) of the blocks `wanted` needs, decrypted.
    async fn decrypt(
        &self,
        location: &Path,
        result: GetResult,
        wanted: Option<GetRange>,
    ) -> Result<GetResult> {
        let described = self.described(&result)?;
        let material = self.material(&described, location).await?;
        let whole = result.range.start == 0 && result.range.end == result.meta.size;
        if wanted.is_none()
            && self.sizes.get(&result.meta).is_none()
            && described.plain_len.is_none()
            && described.scheme.plain_len(result.meta.size).is_none()
            && result.meta.size <= READ_WHOLE
        {
            // A small CBC object: decrypting it whole tells its size without a second request.
            let head = plain_result(&result, 0, 0..0, stream::empty().boxed());
            let cipher = result.bytes().await?;
            let plain = Bytes::from(material.decrypt(&cipher).map_err(raised)?);
            let size = plain.len() as u64;
            self.sizes
                .insert(location, head.meta.e_tag.as_deref(), size);
            let payload = stream::once(async move { Ok(plain) }).boxed();
            return Ok(GetResult {
                payload: GetResultPayload::Stream(payload),
                meta: ObjectMeta { size, ..head.meta },
                range: 0..size,
                ..head
            });
        }
        let size = self
            .plain_size(&result.meta, &described, Some(&material))
            .await?;
        let range = match &wanted {
            None => 0..size,
            Some(r) => r
                .as_range(size)
                .map_err(|e| range_error(format!("{location}: {e}")))?,
        };
        let (start, first) = match result.range.start {
            0 => (Start::Beginning, 0),
            at => (Start::AfterChainBlock, at + BLOCK as u64),
        };
        let unpad = whole && described.scheme == Scheme::Aes128Cbc;
        let decrypter = Decrypter::new(&material, start, unpad).map_err(raised)?;
        let skip = range.start - first;
        let take = range.end - range.start;
        let head = plain_result(&result, size, range.clone(), stream::empty().boxed());
        let exact = wanted.is_none();
        let plain = plain_stream(
            body(result),
            decrypter,
            location.clone(),
            (skip, take),
            exact,
        );
        let payload = if described.scheme == Scheme::Aes256Gcm && take < size {
            // The range is given once the whole object has passed its check.
            let kept: Vec<Bytes> = plain.try_collect().await?;
            stream::iter(kept.into_iter().map(Ok)).boxed()
        } else {
            plain
        };
        Ok(GetResult {
            payload: GetResultPayload::Stream(payload),
            ..head
        })
    }

    async fn with_plain_size(&self, meta: ObjectMeta) -> Result<ObjectMeta> {
        if let Some(size) = self.sizes.get(&meta) {
            return Ok(ObjectMeta { size, ..meta });
        }
        let head = GetOptions {
            head: true,
            ..GetOptions::default()
        };
        let result = self.inner.get_opts(&meta.location, head).await?;
        let described = self.described(&result)?;
        let size = self.plain_size(&result.meta, &described, None).await?;
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

    async fn ranges(&self, location: &Path, ranges: &[Range<u64>]) -> Result<Vec<Bytes>> {
        let head = self
            .head(
                location,
                GetOptions {
                    head: true,
                    ..GetOptions::default()
                },
            )
            .await?;
        let size = head.meta.size;
        for r in ranges {
            let empty_at_end = r.start == r.end && r.start == size;
            if r.start > r.end || r.start >= size && !empty_at_end {
                return Err(range_error(format!(
                    "{location}: range {}..{} of a {size}-byte object",
                    r.start, r.end
                )));
            }
        }
        let pinned = head.meta.e_tag;
        let fetch = |r: Range<u64>| {
            let options = GetOptions {
                range: Some(GetRange::Bounded(r)),
                if_match: pinned.clone(),
                ..GetOptions::default()
            };
            async move { self.read(location, options).await?.bytes().await }
        };
        let non_empty: Vec<Range<u64>> = ranges
            .iter()
            .filter(|r| r.start < r.end)
            .map(|r| r.start..r.end.min(size))
            .collect();
        let mut fetched = object_store::coalesce_ranges(
            &non_empty,
            fetch,
            object_store::OBJECT_STORE_COALESCE_DEFAULT,
        )
        .await?
        .into_iter();
        Ok(ranges
            .iter()
            .map(|r| match r.start < r.end {
                true => fetched.next().unwrap_or_default(),
                false => Bytes::new(),
            })
            .collect())
    }
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
            let (material, own) = self.kms.for_write(None).await.map_err(raised)?;
            let encrypter = Encrypter::new(&material).map_err(raised)?;
            let attributes = with_key_material(opts.attributes.clone(), &own);
            let opts = PutMultipartOptions { attributes, ..opts };
            let upload = self.inner.put_multipart_opts(location, opts).await?;
            Ok(Box::new(EncryptingUpload {
                upload,
                encrypter: Some(encrypter),
                pending: Vec::new(),
                part: UPLOAD_PART,
                plain_len: 0,
                store: self.clone(),
                location: location.clone(),
            }))
        }

        async fn get_opts(&self, location: &Path, options: GetOptions) -> Result<GetResult> {
            if options.head {
                return self.head(location, options).await;
            }
            self.read(location, options).await
        }

        async fn get_ranges(&self, location: &Path, ranges: &[Range<u64>]) -> Result<Vec<Bytes>> {
            self.ranges(location, ranges).await
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

/// A multipart upload to an encrypted stage: each part is encrypted as it comes (a copy: a
/// part's payload is a view of the caller's arena region, which is answered only once nothing
/// holds it, arena.rs) and the ciphertext goes up in parts of its own.
struct EncryptingUpload {
    upload: Box<dyn MultipartUpload>,
    /// `None` once the upload has completed or been aborted.
    encrypter: Option<Encrypter>,
    /// Ciphertext not sent yet.
    pending: Vec<u8>,
    part: usize,
    plain_len: u64,
    store: EncryptedStore,
    location: Path,
}

impl std::fmt::Debug for EncryptingUpload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "EncryptingUpload({}, {} bytes)",
            self.location, self.plain_len
        )
    }
}

fn ended() -> object_store::Error {
    raised(ErrorInfo::new(
        Kind::Protocol,
        "the upload has already been completed or aborted",
    ))
}

impl EncryptingUpload {
    fn send(&mut self) -> BoxFuture<'static, Result<()>> {
        let full = std::mem::take(&mut self.pending);
        self.upload.put_part(Bytes::from(full).into())
    }
}

#[async_trait]
impl MultipartUpload for EncryptingUpload {
    fn put_part(&mut self, data: PutPayload) -> UploadPart {
        let Some(encrypter) = self.encrypter.as_mut() else {
            return Box::pin(async { Err(ended()) });
        };
        self.part = self.part.max(data.content_length());
        self.plain_len += data.content_length() as u64;
        for chunk in &data {
            encrypter.update(chunk, &mut self.pending);
        }
        if self.pending.len() < self.part {
            return Box::pin(async { Ok(()) });
        }
        self.send()
    }

    async fn complete(&mut self) -> Result<PutResult> {
        let encrypter = self.encrypter.take().ok_or_else(ended)?;
        encrypter.finish(&mut self.pending);
        self.send().await?;
        let result = self.upload.complete().await?;
        self.store
            .sizes
            .insert(&self.location, result.e_tag.as_deref(), self.plain_len);
        Ok(result)
    }

    async fn abort(&mut self) -> Result<()> {
        self.encrypter = None;
        self.pending = Vec::new();
        self.upload.abort().await
    }
}

/// The scheme an encrypted stage's writes use unless the configuration names one.
pub const DEFAULT_SCHEME: Scheme = Scheme::Aes128Cbc;
