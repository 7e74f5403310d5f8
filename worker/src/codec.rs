//! The frame codec, mirrored by `rustyobjectstore/_worker/codec.py`. protocol.md is the contract: change it
//! first, then both codecs, then `tests/vectors/`.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::errors::ErrorInfo;
use crate::latency::Histogram;

pub const PROTOCOL_VERSION: u32 = 3;
pub const MAX_FRAME: usize = 4 * 1024 * 1024;
pub const MAX_LIST_PAGE: u32 = 10_000;
#[cfg(not(feature = "fault-injection"))]
pub const FEATURES: &[&str] = &["aws", "azure", "gcp", "http", "file", "memory"];
#[cfg(feature = "fault-injection")]
pub const FEATURES: &[&str] = &[
    "aws",
    "azure",
    "gcp",
    "http",
    "file",
    "memory",
    "fault-injection",
];

/// `[offset, length]` inside the arena.
pub type Region = (u64, u64);

#[derive(Debug, Deserialize, PartialEq)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    Register(Register),
    Get(GetRequest),
    Download(DownloadRequest),
    DownloadMany(DownloadManyRequest),
    DownloadPart(DownloadPartRequest),
    Head(HeadRequest),
    Put(PutRequest),
    UploadMany(UploadManyRequest),
    Delete(PathRequest),
    MultipartStart(UploadStart),
    MultipartPart(MultipartPart),
    MultipartComplete(UploadRequest),
    MultipartAbort(UploadRequest),
    List(ListRequest),
    ListNext(CursorRequest),
    ListClose(CursorRequest),
    BulkDelete(BulkDeleteRequest),
    Copy(CopyRequest),
    Rename(CopyRequest),
    ReadOpen(StreamOpen),
    ReadNext(StreamChunk),
    ReadClose(StreamRequest),
    WriteOpen(StreamOpen),
    WriteChunk(StreamChunk),
    WriteFinish(StreamRequest),
    WriteAbort(StreamRequest),
    Sign(SignRequest),
    Metrics(IdRequest),
    Ping(IdRequest),
    Cancel(CancelRequest),
    Credentials(CredentialsPush),
    Invalidate(InvalidateRequest),
}

impl Request {
    /// The request's `op`, as its frame names it.
    pub fn op(&self) -> &'static str {
        match self {
            Request::Register(_) => "register",
            Request::Get(_) => "get",
            Request::Download(_) => "download",
            Request::DownloadMany(_) => "download_many",
            Request::DownloadPart(_) => "download_part",
            Request::Head(_) => "head",
            Request::Delete(_) => "delete",
            Request::MultipartStart(_) => "multipart_start",
            Request::Put(_) => "put",
            Request::UploadMany(_) => "upload_many",
            Request::MultipartPart(_) => "multipart_part",
            Request::MultipartComplete(_) => "multipart_complete",
            Request::MultipartAbort(_) => "multipart_abort",
            Request::List(_) => "list",
            Request::ListNext(_) => "list_next",
            Request::ListClose(_) => "list_close",
            Request::BulkDelete(_) => "bulk_delete",
            Request::Copy(_) => "copy",
            Request::Rename(_) => "rename",
            Request::ReadOpen(_) => "read_open",
            Request::ReadNext(_) => "read_next",
            Request::ReadClose(_) => "read_close",
            Request::WriteOpen(_) => "write_open",
            Request::WriteChunk(_) => "write_chunk",
            Request::WriteFinish(_) => "write_finish",
            Request::WriteAbort(_) => "write_abort",
            Request::Sign(_) => "sign",
            Request::Metrics(_) => "metrics",
            Request::Ping(_) => "ping",
            Request::Cancel(_) => "cancel",
            Request::Credentials(_) => "credentials",
            Request::Invalidate(_) => "invalidate",
        }
    }

    /// The region whose bytes the request reads or writes, for requests that name one.
    pub fn region(&self) -> Option<Region> {
        match self {
            Request::Get(r) => Some(r.region),
            Request::Put(r) => Some(r.region),
            Request::MultipartPart(r) => Some(r.region),
            _ => None,
        }
    }

    pub fn id(&self) -> Option<u64> {
        match self {
            Request::Register(_)
            | Request::Cancel(_)
            | Request::Credentials(_)
            | Request::Invalidate(_) => None,
            Request::Get(r) => Some(r.id),
            Request::Download(r) => Some(r.id),
            Request::DownloadMany(r) => Some(r.id),
            Request::DownloadPart(r) => Some(r.id),
            Request::Head(r) => Some(r.id),
            Request::Delete(r) => Some(r.id),
            Request::MultipartStart(r) => Some(r.id),
            Request::Put(r) => Some(r.id),
            Request::UploadMany(r) => Some(r.id),
            Request::MultipartPart(r) => Some(r.id),
            Request::MultipartComplete(r) | Request::MultipartAbort(r) => Some(r.id),
            Request::List(r) => Some(r.id),
            Request::ListNext(r) | Request::ListClose(r) => Some(r.id),
            Request::BulkDelete(r) => Some(r.id),
            Request::Copy(r) | Request::Rename(r) => Some(r.id),
            Request::ReadOpen(r) | Request::WriteOpen(r) => Some(r.id),
            Request::ReadNext(r) | Request::WriteChunk(r) => Some(r.id),
            Request::ReadClose(r) | Request::WriteFinish(r) | Request::WriteAbort(r) => Some(r.id),
            Request::Sign(r) => Some(r.id),
            Request::Metrics(r) | Request::Ping(r) => Some(r.id),
        }
    }
}

#[derive(Debug, Deserialize, PartialEq, Clone, Default, Hash, Eq)]
pub struct ClientSettings {
    #[serde(default)]
    pub timeout_secs: Option<F64Key>,
    #[serde(default)]
    pub connect_timeout_secs: Option<F64Key>,
}

#[derive(Debug, Deserialize, PartialEq, Clone, Default, Hash, Eq)]
pub struct RetrySettings {
    #[serde(default)]
    pub max_retries: Option<u64>,
    #[serde(default)]
    pub retry_timeout_secs: Option<F64Key>,
    #[serde(default)]
    pub initial_backoff_ms: Option<u64>,
    #[serde(default)]
    pub max_backoff_ms: Option<u64>,
    #[serde(default)]
    pub backoff_exp_base: Option<F64Key>,
}

/// protocol.md: an absent optional field may be omitted or nil.
fn nil_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

/// A float that can be part of a cache key: compared and hashed by its bits.
#[derive(Debug, Deserialize, Clone, Copy)]
#[serde(transparent)]
pub struct F64Key(pub f64);

impl PartialEq for F64Key {
    fn eq(&self, other: &Self) -> bool {
        self.0.to_bits() == other.0.to_bits()
    }
}
impl Eq for F64Key {}
impl std::hash::Hash for F64Key {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.to_bits().hash(state)
    }
}

#[derive(Debug, Deserialize, PartialEq, Clone, Hash, Eq)]
pub struct StoreConfig {
    pub url: String,
    #[serde(default, deserialize_with = "nil_as_default")]
    pub options: BTreeMap<String, String>,
    #[serde(default, deserialize_with = "nil_as_default")]
    pub client: ClientSettings,
    #[serde(default, deserialize_with = "nil_as_default")]
    pub retry: RetrySettings,
    /// The credential provider whose pushed values sign this store's requests.
    #[serde(default)]
    pub credentials: Option<u32>,
}

/// protocol.md's `credentials`: a provider's newest value, AWS keys or a bearer token.
#[derive(Debug, Deserialize, PartialEq)]
pub struct CredentialsPush {
    pub provider: u32,
    #[serde(default)]
    pub aws: Option<PushedAws>,
    #[serde(default)]
    pub bearer: Option<Secret>,
}

/// A credential: never shown by `Debug` (requests are logged at the most verbose level).
#[derive(Deserialize, PartialEq)]
#[serde(transparent)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

#[derive(Deserialize, PartialEq)]
pub struct PushedAws {
    pub key_id: String,
    pub secret_key: String,
    #[serde(default)]
    pub token: Option<String>,
}

impl std::fmt::Debug for PushedAws {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PushedAws({:?}, ***)", self.key_id)
    }
}

#[derive(Debug, Deserialize, PartialEq)]
pub struct Register {
    pub store: u32,
    #[serde(flatten)]
    pub config: StoreConfig,
}

#[derive(Debug, Deserialize, PartialEq)]
pub struct GetRequest {
    pub id: u64,
    pub store: u32,
    pub path: String,
    pub region: Region,
    #[serde(default)]
    pub whole: bool,
    /// `[start, end)`, or `[start, nil]`: from `start` to the end.
    #[serde(default)]
    pub range: Option<(u64, Option<u64>)>,
    /// The last `suffix` bytes (never with `range`).
    #[serde(default)]
    pub suffix: Option<u64>,
    #[serde(flatten)]
    pub when: Conditions,
}

/// An object into a local file: written into `temp` (created), renamed over `target` once whole.
#[derive(Debug, Deserialize, PartialEq)]
pub struct DownloadRequest {
    pub id: u64,
    pub store: u32,
    pub path: String,
    pub temp: String,
    pub target: String,
    /// How many bytes this request writes at most; the caller fetches the rest of a bigger object.
    pub limit: u64,
    #[serde(default)]
    pub fsync: bool,
    #[serde(flatten)]
    pub when: Conditions,
}

/// Bytes `range` (`[start, end)`) of an object into the existing local file `file`, at the same
/// offsets; `target` is what its errors name.
#[derive(Debug, Deserialize, PartialEq)]
pub struct DownloadPartRequest {
    pub id: u64,
    pub store: u32,
    pub path: String,
    pub file: String,
    pub target: String,
    pub range: (u64, u64),
    #[serde(flatten)]
    pub when: Conditions,
}

/// Objects into local files, each `[key, temp, target]` as in `download`, each written whole.
#[derive(Debug, Deserialize, PartialEq)]
pub struct DownloadManyRequest {
    pub id: u64,
    pub store: u32,
    pub files: Vec<[String; 3]>,
    #[serde(default)]
    pub fsync: bool,
}

/// The conditions of a read (`get`, `head`, `read_open`, `download`), object_store's `GetOptions`.
#[derive(Debug, Default, Deserialize, PartialEq)]
pub struct Conditions {
    #[serde(default)]
    pub if_match: Option<String>,
    #[serde(default)]
    pub if_none_match: Option<String>,
    /// Nanoseconds since the Unix epoch, UTC.
    #[serde(default)]
    pub if_modified_since: Option<i64>,
    #[serde(default)]
    pub if_unmodified_since: Option<i64>,
    #[serde(default)]
    pub version: Option<String>,
}

#[derive(Debug, Deserialize, PartialEq)]
pub struct SignRequest {
    pub id: u64,
    pub store: u32,
    pub path: String,
    /// "GET" or "PUT".
    pub method: String,
    pub expires_secs: u64,
}

#[derive(Debug, Deserialize, PartialEq)]
pub struct HeadRequest {
    pub id: u64,
    pub store: u32,
    pub path: String,
    #[serde(flatten)]
    pub when: Conditions,
}

#[derive(Debug, Deserialize, PartialEq)]
pub struct PathRequest {
    pub id: u64,
    pub store: u32,
    pub path: String,
}

#[derive(Debug, Deserialize, PartialEq)]
pub struct PutRequest {
    pub id: u64,
    pub store: u32,
    pub path: String,
    pub region: Region,
    /// "overwrite" (the default), "create", or "update" with `e_tag` and/or `version`.
    #[serde(default)]
    pub mode: Option<String>,
    #[serde(default)]
    pub e_tag: Option<String>,
    #[serde(default)]
    pub version: Option<String>,
    #[serde(flatten)]
    pub attached: Attached,
}

/// Local files into objects, each read whole by the worker and stored by one put.
#[derive(Debug, Deserialize, PartialEq)]
pub struct UploadManyRequest {
    pub id: u64,
    pub store: u32,
    pub files: Vec<UploadFile>,
    /// "overwrite" (the default) or "create", for every file.
    #[serde(default)]
    pub mode: Option<String>,
    /// The most bytes a file may hold: a bigger one fails (it grew since it was listed).
    pub limit: u64,
}

/// One file of an `upload_many`: its local path, its key, and what its object is to carry.
#[derive(Debug, Deserialize, PartialEq)]
pub struct UploadFile {
    pub file: String,
    pub path: String,
    #[serde(flatten)]
    pub attached: Attached,
}

/// What a write attaches to the object besides its bytes (`put`, `multipart_start`, `write_open`,
/// each file of `upload_many`).
#[derive(Debug, Default, Deserialize, PartialEq)]
pub struct Attached {
    /// Header name (`Content-Type`, ...) or user metadata name, to its value.
    #[serde(default, deserialize_with = "nil_as_default")]
    pub attributes: BTreeMap<String, String>,
    #[serde(default, deserialize_with = "nil_as_default")]
    pub tags: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize, PartialEq)]
pub struct UploadStart {
    pub id: u64,
    pub store: u32,
    pub path: String,
    /// The object's size, where the uploader knows it.
    #[serde(default)]
    pub size: Option<u64>,
    #[serde(flatten)]
    pub attached: Attached,
}

#[derive(Debug, Deserialize, PartialEq)]
pub struct BulkDeleteRequest {
    pub id: u64,
    pub store: u32,
    pub paths: Vec<String>,
}

#[derive(Debug, Deserialize, PartialEq)]
pub struct CopyRequest {
    pub id: u64,
    pub store: u32,
    pub from: String,
    pub to: String,
    #[serde(default = "yes")]
    pub overwrite: bool,
}

fn yes() -> bool {
    true
}

/// Opens a read or write stream; `codec` is "gzip", "deflate", "zlib" or "zstd".
#[derive(Debug, Deserialize, PartialEq)]
pub struct StreamOpen {
    pub id: u64,
    pub store: u32,
    pub path: String,
    #[serde(default)]
    pub codec: Option<String>,
    /// `read_open` only.
    #[serde(flatten)]
    pub when: Conditions,
    /// `write_open` only.
    #[serde(flatten)]
    pub attached: Attached,
}

#[derive(Debug, Deserialize, PartialEq)]
pub struct StreamChunk {
    pub id: u64,
    pub stream: u64,
    pub region: Region,
}

#[derive(Debug, Deserialize, PartialEq)]
pub struct StreamRequest {
    pub id: u64,
    pub stream: u64,
}

#[derive(Debug, Deserialize, PartialEq)]
pub struct MultipartPart {
    pub id: u64,
    pub upload: u64,
    pub region: Region,
}

#[derive(Debug, Deserialize, PartialEq)]
pub struct UploadRequest {
    pub id: u64,
    pub upload: u64,
}

#[derive(Debug, Deserialize, PartialEq)]
pub struct ListRequest {
    pub id: u64,
    pub store: u32,
    pub prefix: String,
    #[serde(default)]
    pub offset: Option<String>,
    pub page: u32,
    /// One level only: the objects directly under the prefix's directory, and its subdirectories.
    #[serde(default)]
    pub delimiter: bool,
}

#[derive(Debug, Deserialize, PartialEq)]
pub struct CursorRequest {
    pub id: u64,
    pub cursor: u64,
}

#[derive(Debug, Deserialize, PartialEq)]
pub struct IdRequest {
    pub id: u64,
}

/// Asks the worker to stop the request `target`; that request still gets its one response.
#[derive(Debug, Deserialize, PartialEq)]
pub struct CancelRequest {
    pub target: u64,
}

/// Drops the built store of `store` (every built store when absent): the next call builds it anew,
/// with a new HTTP client and credentials fetched again.
#[derive(Debug, Deserialize, PartialEq)]
pub struct InvalidateRequest {
    #[serde(default)]
    pub store: Option<u32>,
}

/// Just the id of a request whose `op` or fields did not decode, so the error can still be answered.
#[derive(Debug, Deserialize)]
struct IdOnly {
    id: u64,
}

/// What a frame turned out to be.
#[derive(Debug)]
pub enum Decoded {
    Request(Request),
    /// A map with an id but an unusable op or fields: answer that id with a protocol error.
    Invalid {
        id: u64,
        message: String,
    },
}

/// Decodes one frame body. An `Err` means the stream can no longer be trusted.
pub fn decode_request(frame: &[u8]) -> Result<Decoded, String> {
    // rmp-serde also reads a struct from an array; protocol.md allows only a map.
    if !matches!(frame.first(), Some(0x80..=0x8f | 0xde | 0xdf)) {
        return Err("undecodable frame: not a msgpack map".into());
    }
    match rmp_serde::from_slice::<Request>(frame) {
        Ok(request) => Ok(Decoded::Request(request)),
        Err(err) => match rmp_serde::from_slice::<IdOnly>(frame) {
            Ok(IdOnly { id }) => Ok(Decoded::Invalid {
                id,
                message: format!("bad request: {err}"),
            }),
            Err(_) => Err(format!("undecodable frame: {err}")),
        },
    }
}

/// Object metadata as it travels in frames.
#[derive(Debug, Clone, PartialEq)]
pub struct Meta {
    pub path: String,
    pub size: u64,
    pub last_modified_ns: i64,
    pub e_tag: Option<String>,
    pub version: Option<String>,
    /// What a read answers with (`head`, `get`, `read_open`); a listing carries none.
    pub attributes: Option<Vec<(String, String)>>,
}

impl From<&object_store::ObjectMeta> for Meta {
    fn from(m: &object_store::ObjectMeta) -> Self {
        Meta {
            path: m.location.to_string(),
            size: m.size,
            // Whole microseconds, what Python's datetime holds (and what its listing decoder
            // relies on to round exactly).
            last_modified_ns: m
                .last_modified
                .timestamp_micros()
                .checked_mul(1000)
                .unwrap_or(i64::MAX),
            e_tag: m.e_tag.clone(),
            version: m.version.clone(),
            attributes: None,
        }
    }
}

/// The fields of a successful response, by operation.
#[derive(Debug, PartialEq)]
pub enum Success {
    Empty,
    Get {
        size: u64,
        /// Where in the object the returned bytes start (a suffix's start is learned here).
        start: u64,
        written: u64,
        meta: Meta,
    },
    Head {
        meta: Meta,
    },
    Put {
        e_tag: Option<String>,
        version: Option<String>,
    },
    Upload {
        upload: u64,
    },
    Signed {
        url: String,
    },
    List {
        entries: Vec<Meta>,
        /// The common prefixes of a `delimiter` listing (omitted when there are none).
        prefixes: Vec<String>,
        cursor: Option<u64>,
    },
    BulkDelete {
        failed: Vec<(String, ErrorInfo)>,
    },
    /// `download_many` and `upload_many`: the bytes moved per file (0 where it failed), and the
    /// failures by index.
    Sizes {
        sizes: Vec<u64>,
        failed: Vec<(u64, ErrorInfo)>,
    },
    Stream {
        stream: u64,
    },
    ReadOpen {
        stream: u64,
        meta: Meta,
    },
    Read {
        written: u64,
        eof: bool,
    },
    Metrics {
        http_requests: u64,
        retries: u64,
        /// Durations of this worker's operations, by op.
        latency: Vec<(&'static str, Histogram)>,
        /// Durations of HTTP attempts, by method.
        http_latency: Vec<(&'static str, Histogram)>,
        heap_bytes: u64,
        rss_bytes: Option<u64>,
    },
}

/// Writes msgpack into a Vec; writing into memory cannot fail, so errors are dropped in one place.
struct Writer(Vec<u8>);

impl Writer {
    fn map(&mut self, len: u32) {
        let _ = rmp::encode::write_map_len(&mut self.0, len);
    }
    fn array(&mut self, len: u32) {
        let _ = rmp::encode::write_array_len(&mut self.0, len);
    }
    fn str(&mut self, s: &str) {
        let _ = rmp::encode::write_str(&mut self.0, s);
    }
    fn uint(&mut self, v: u64) {
        let _ = rmp::encode::write_uint(&mut self.0, v);
    }
    fn int(&mut self, v: i64) {
        let _ = rmp::encode::write_sint(&mut self.0, v);
    }
    fn bool(&mut self, v: bool) {
        let _ = rmp::encode::write_bool(&mut self.0, v);
    }
    fn nil(&mut self) {
        let _ = rmp::encode::write_nil(&mut self.0);
    }
    /// A msgpack timestamp (extension type -1), in the shortest of its three forms: Python's
    /// decoder makes it a datetime in C, several times cheaper than building one in Python.
    fn timestamp(&mut self, nanos: i64) {
        let seconds = nanos.div_euclid(1_000_000_000);
        let nsec = nanos.rem_euclid(1_000_000_000) as u32;
        if seconds >> 34 != 0 {
            let _ = rmp::encode::write_ext_meta(&mut self.0, 12, -1);
            self.0.extend_from_slice(&nsec.to_be_bytes());
            self.0.extend_from_slice(&seconds.to_be_bytes());
        } else if nsec == 0 && seconds >> 32 == 0 {
            let _ = rmp::encode::write_ext_meta(&mut self.0, 4, -1);
            self.0.extend_from_slice(&(seconds as u32).to_be_bytes());
        } else {
            let _ = rmp::encode::write_ext_meta(&mut self.0, 8, -1);
            self.0
                .extend_from_slice(&((u64::from(nsec) << 34) | seconds as u64).to_be_bytes());
        }
    }
    fn opt_str(&mut self, v: &Option<String>) {
        match v {
            Some(s) => self.str(s),
            None => self.nil(),
        }
    }
    fn key_uint(&mut self, k: &str, v: u64) {
        self.str(k);
        self.uint(v);
    }
    fn key_str(&mut self, k: &str, v: &str) {
        self.str(k);
        self.str(v);
    }
    /// Histograms by name: `{name: {count, min_ns, max_ns, sum_ns, buckets: [[index, count]]}}`.
    fn histograms(&mut self, named: &[(&'static str, Histogram)]) {
        self.map(named.len() as u32);
        for (name, h) in named {
            self.str(name);
            self.map(5);
            self.key_uint("count", h.count);
            self.key_uint("min_ns", if h.count == 0 { 0 } else { h.min_ns });
            self.key_uint("max_ns", h.max_ns);
            self.key_uint("sum_ns", h.sum_ns);
            let filled = h.filled();
            self.str("buckets");
            self.array(filled.len() as u32);
            for (index, count) in filled {
                self.array(2);
                self.uint(index);
                self.uint(count);
            }
        }
    }
    fn error(&mut self, e: &ErrorInfo) {
        let extra = u32::from(e.status.is_some()) + 2 * u32::from(e.local_file.is_some());
        self.map(2 + extra);
        self.key_str("kind", e.kind.as_str());
        self.key_str("message", &e.message);
        if let Some(status) = e.status {
            self.key_uint("status", u64::from(status));
        }
        if let Some((errno, file)) = &e.local_file {
            self.str("errno");
            self.int(i64::from(*errno));
            self.key_str("file", file);
        }
    }
    /// A page of metas as columns, one array per field: Python builds them with loops that run in
    /// C, a third of what decoding and reading a map per entry costs. `last_modified` is a column of
    /// timestamps, which Python's decoder turns into datetimes itself.
    fn objects(&mut self, entries: &[Meta]) {
        let n = entries.len() as u32;
        self.map(5);
        self.str("path");
        self.array(n);
        for m in entries {
            self.str(&m.path);
        }
        self.str("size");
        self.array(n);
        for m in entries {
            self.uint(m.size);
        }
        self.str("last_modified");
        self.array(n);
        for m in entries {
            self.timestamp(m.last_modified_ns);
        }
        self.str("e_tag");
        self.array(n);
        for m in entries {
            self.opt_str(&m.e_tag);
        }
        self.str("version");
        self.array(n);
        for m in entries {
            self.opt_str(&m.version);
        }
    }
    fn meta(&mut self, m: &Meta) {
        self.map(if m.attributes.is_some() { 6 } else { 5 });
        self.key_str("path", &m.path);
        self.key_uint("size", m.size);
        self.str("last_modified");
        self.int(m.last_modified_ns);
        self.str("e_tag");
        self.opt_str(&m.e_tag);
        self.str("version");
        self.opt_str(&m.version);
        if let Some(attributes) = &m.attributes {
            self.str("attributes");
            self.map(attributes.len() as u32);
            for (name, value) in attributes {
                self.key_str(name, value);
            }
        }
    }
}

pub fn encode_hello(arena_size: u64, concurrency: u64) -> Vec<u8> {
    let mut w = Writer(Vec::with_capacity(160));
    w.map(7);
    w.key_str("t", "hello");
    w.key_uint("protocol", u64::from(PROTOCOL_VERSION));
    w.key_str("worker_version", env!("CARGO_PKG_VERSION"));
    w.key_uint("max_frame", MAX_FRAME as u64);
    w.key_uint("arena_size", arena_size);
    w.key_uint("concurrency", concurrency);
    w.str("features");
    w.array(FEATURES.len() as u32);
    for f in FEATURES {
        w.str(f);
    }
    w.0
}

pub fn encode_response(id: u64, result: &Result<Success, ErrorInfo>) -> Vec<u8> {
    let mut w = Writer(Vec::with_capacity(128));
    match result {
        Err(e) => {
            w.map(3);
            w.key_uint("id", id);
            w.str("ok");
            w.bool(false);
            w.str("error");
            w.error(e);
        }
        Ok(success) => {
            let extra = match success {
                Success::Empty => 0,
                Success::Head { .. }
                | Success::Upload { .. }
                | Success::Signed { .. }
                | Success::BulkDelete { .. }
                | Success::Stream { .. } => 1,
                Success::List { prefixes, .. } => 2 + u32::from(!prefixes.is_empty()),
                Success::Sizes { .. } => 2,
                Success::Put { .. } | Success::ReadOpen { .. } | Success::Read { .. } => 2,
                Success::Get { .. } => 4,
                Success::Metrics { .. } => 6,
            };
            w.map(2 + extra);
            w.key_uint("id", id);
            w.str("ok");
            w.bool(true);
            match success {
                Success::Empty => {}
                Success::Get {
                    size,
                    start,
                    written,
                    meta,
                } => {
                    w.key_uint("size", *size);
                    w.key_uint("start", *start);
                    w.key_uint("written", *written);
                    w.str("meta");
                    w.meta(meta);
                }
                Success::Head { meta } => {
                    w.str("meta");
                    w.meta(meta);
                }
                Success::Put { e_tag, version } => {
                    w.str("e_tag");
                    w.opt_str(e_tag);
                    w.str("version");
                    w.opt_str(version);
                }
                Success::Upload { upload } => w.key_uint("upload", *upload),
                Success::Signed { url } => w.key_str("url", url),
                Success::List {
                    entries,
                    prefixes,
                    cursor,
                } => {
                    w.str("objects");
                    w.objects(entries);
                    if !prefixes.is_empty() {
                        w.str("prefixes");
                        w.array(prefixes.len() as u32);
                        for p in prefixes {
                            w.str(p);
                        }
                    }
                    w.str("cursor");
                    match cursor {
                        Some(c) => w.uint(*c),
                        None => w.nil(),
                    }
                }
                Success::Sizes { sizes, failed } => {
                    w.str("sizes");
                    w.array(sizes.len() as u32);
                    for size in sizes {
                        w.uint(*size);
                    }
                    w.str("failed");
                    w.array(failed.len() as u32);
                    for (index, error) in failed {
                        w.map(2);
                        w.key_uint("index", *index);
                        w.str("error");
                        w.error(error);
                    }
                }
                Success::BulkDelete { failed } => {
                    w.str("failed");
                    w.array(failed.len() as u32);
                    for (path, error) in failed {
                        w.map(2);
                        w.key_str("path", path);
                        w.str("error");
                        w.error(error);
                    }
                }
                Success::Stream { stream } => w.key_uint("stream", *stream),
                Success::ReadOpen { stream, meta } => {
                    w.key_uint("stream", *stream);
                    w.str("meta");
                    w.meta(meta);
                }
                Success::Metrics {
                    http_requests,
                    retries,
                    latency,
                    http_latency,
                    heap_bytes,
                    rss_bytes,
                } => {
                    w.key_uint("http_requests", *http_requests);
                    w.key_uint("retries", *retries);
                    w.str("latency");
                    w.histograms(latency);
                    w.str("http_latency");
                    w.histograms(http_latency);
                    w.key_uint("heap_bytes", *heap_bytes);
                    w.str("rss_bytes");
                    match rss_bytes {
                        Some(n) => w.uint(*n),
                        None => w.nil(),
                    }
                }
                Success::Read { written, eof } => {
                    w.key_uint("written", *written);
                    w.str("eof");
                    w.bool(*eof);
                }
            }
        }
    }
    w.0
}
