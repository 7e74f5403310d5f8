//! Stores: built from a registered configuration, validated strictly (object_store itself ignores
//! unknown option names), and cached by configuration with a capacity, a time to live and a time to
//! idle. `memory://` stores hold the data, so they are never evicted.

use std::collections::HashMap;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::azure::{AzureConfigKey, MicrosoftAzureBuilder};
use object_store::gcp::{GoogleCloudStorageBuilder, GoogleConfigKey};
use object_store::http::HttpBuilder;
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::prefix::PrefixStore;
use object_store::signer::Signer;
use object_store::{ClientConfigKey, ClientOptions, ObjectStore, ObjectStoreScheme, RetryConfig};
use url::Url;

use crate::azure_commit::CommitChecked;
use crate::codec::StoreConfig;
use crate::credentials::{AwsPushed, BearerPushed, GcpPushed, Slot, Slots};
use crate::errors::{self, ErrorInfo, Kind};
use crate::metrics::{CountingConnector, HttpCounters};
use crate::ops::attributes::Keeps;

const S3_DELETE_BATCH: usize = 1000;
const AZURE_DELETE_BATCH: usize = 256;

/// A built store and what its errors must never show.
pub struct Store {
    pub inner: Arc<dyn ObjectStore>,
    /// The store keeps a put's payload after the put returns (`memory://`), so it must get a copy
    /// rather than a view of an arena region that Python will reuse.
    pub keeps_payload: bool,
    /// How many keys one bulk-delete request of this backend carries (S3: 1,000, Azure: 256;
    /// the others delete key by key, so any size serves).
    pub delete_batch: usize,
    /// A `file://` store's root directory: object_store's local store cannot hold every key the
    /// others can, and the worker lists it itself (`local_walk`).
    pub local_root: Option<PathBuf>,
    /// The bucket or container of a cloud store (`bucket "b"`), named when it turns out to be
    /// missing.
    bucket: Option<String>,
    /// Requests go out unsigned (`skip_signature`): a refusal then says so.
    unsigned: bool,
    /// What signs URLs for the store's keys (cloud stores only).
    pub signer: Option<Signing>,
    /// The store keeps versions an object_store read can name (not `memory://`, `file://`).
    pub versioned: bool,
    /// What a write can attach to an object here besides its bytes.
    pub keeps: Keeps,
    /// The store's retry settings, for what the worker sends again itself (`ops::meta`'s deletes).
    pub retry: RetryConfig,
    secrets: Vec<String>,
}

impl Store {
    /// An object key as protocol.md section 5 defines it; nothing else reaches a store, so a key
    /// can never leave a `file://` store's root.
    pub fn key(&self, key: &str) -> Result<Path, ErrorInfo> {
        let invalid =
            |why: &str| ErrorInfo::new(Kind::InvalidPath, format!("invalid key {key:?}: {why}"));
        if key.is_empty() {
            return Err(invalid("it is empty"));
        }
        if key.starts_with('/') || key.ends_with('/') {
            return Err(invalid("it starts or ends with '/'"));
        }
        if key.chars().any(char::is_control) {
            return Err(invalid("it contains a control character"));
        }
        let path = Path::parse(key).map_err(|e| invalid(&e.to_string()))?;
        // The local store turns keys into file URLs, where a segment such as "C:" is a Windows
        // drive letter and does not map back to the same file; and a key whose last segment ends
        // in one ("abC:") fails when its staged upload is renamed into place.
        if self.local_root.is_some() {
            if path.parts().any(|p| is_drive_letter(p.as_ref())) {
                return Err(invalid(
                    "a segment shaped like a drive letter (\"C:\") cannot be a local file name",
                ));
            }
            if ends_in_drive_letter(key) {
                return Err(invalid(
                    "a local file name cannot end in a letter and ':' or '|' (\"abC:\")",
                ));
            }
        }
        Ok(path)
    }

    pub fn error(&self, err: &object_store::Error) -> ErrorInfo {
        let mut info = errors::from_object_store(err).naming_missing_bucket(self.bucket.as_deref());
        if self.unsigned && info.kind == Kind::Permission {
            info.message = format!(
                "the request was sent unsigned (the configuration is anonymous: anonymous=True or \
                 skip_signature): give it credentials to reach a private bucket; {}",
                info.message
            );
        }
        info.redacted(&self.secrets)
    }

    pub fn redact(&self, info: ErrorInfo) -> ErrorInfo {
        info.redacted(&self.secrets)
    }
}

pub struct Signing {
    pub signer: Arc<dyn Signer>,
    /// What the store's URL puts before every key.
    pub prefix: Path,
    /// object_store's Azure SAS signs the percent-encoded path, which the service does not accept
    /// (it signs the name): only keys that need no encoding can be signed there.
    pub plain_keys_only: bool,
}

pub struct CacheSettings {
    pub capacity: usize,
    /// How long a built store is kept, and how long it may go unused; zero: no limit (as in
    /// RustyObjectStore.jl, whose users set 0 to keep clients for the life of the process).
    pub ttl: Duration,
    pub tti: Duration,
}

impl CacheSettings {
    fn fresh(&self, entry: &Cached, now: Instant) -> bool {
        let within =
            |since: Instant, limit: Duration| limit.is_zero() || now.duration_since(since) < limit;
        within(entry.created, self.ttl) && within(entry.last_used, self.tti)
    }
}

struct Cached {
    store: Arc<Store>,
    created: Instant,
    last_used: Instant,
}

pub struct Stores {
    settings: CacheSettings,
    /// The HTTP traffic of every store built here (the `metrics` request reads it).
    pub http: Arc<HttpCounters>,
    /// What credential providers pushed (protocol.md's `credentials`).
    pub credentials: Slots,
    registered: Mutex<HashMap<u32, Arc<StoreConfig>>>,
    cache: Mutex<HashMap<Arc<StoreConfig>, Cached>>,
    memory: Mutex<HashMap<Arc<StoreConfig>, Arc<Store>>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding one of these locks leaves plain maps behind, still consistent.
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Stores {
    pub fn new(settings: CacheSettings) -> Self {
        Stores {
            settings,
            http: Arc::new(HttpCounters::default()),
            credentials: Slots::default(),
            registered: Mutex::new(HashMap::new()),
            cache: Mutex::new(HashMap::new()),
            memory: Mutex::new(HashMap::new()),
        }
    }

    pub fn register(&self, id: u32, config: StoreConfig) {
        lock(&self.registered).insert(id, Arc::new(config));
    }

    /// Forgets the built store of the registered `id` (every built store when None), so that
    /// the next call builds it anew. Memory stores are kept: their objects live in them.
    pub fn invalidate(&self, id: Option<u32>) {
        match id {
            None => lock(&self.cache).clear(),
            Some(id) => {
                let config = lock(&self.registered).get(&id).cloned();
                if let Some(config) = config {
                    lock(&self.cache).remove(&config);
                }
            }
        }
    }

    /// The store registered as `id`, built on first use and rebuilt after it expires.
    pub fn get(&self, id: u32) -> Result<Arc<Store>, ErrorInfo> {
        let config = lock(&self.registered).get(&id).cloned().ok_or_else(|| {
            ErrorInfo::new(Kind::Protocol, format!("store {id} was never registered"))
        })?;
        if is_memory(&config.url) {
            return self.memory_store(config);
        }
        let now = Instant::now();
        if let Some(entry) = lock(&self.cache).get_mut(&config) {
            if self.settings.fresh(entry, now) {
                entry.last_used = now;
                return Ok(Arc::clone(&entry.store));
            }
        }
        // Built outside the lock: building an HTTP client takes a while.
        let store = Arc::new(build(&config, &self.http, self.slot(&config))?);
        let mut cache = lock(&self.cache);
        cache.insert(
            config,
            Cached {
                store: Arc::clone(&store),
                created: now,
                last_used: now,
            },
        );
        self.evict(&mut cache, now);
        Ok(store)
    }

    fn evict(&self, cache: &mut HashMap<Arc<StoreConfig>, Cached>, now: Instant) {
        cache.retain(|_, e| self.settings.fresh(e, now));
        while cache.len() > self.settings.capacity.max(1) {
            let oldest = cache
                .iter()
                .min_by_key(|(_, e)| e.last_used)
                .map(|(k, _)| Arc::clone(k));
            match oldest {
                Some(key) => cache.remove(&key),
                None => break,
            };
        }
    }

    fn slot(&self, config: &StoreConfig) -> Option<Arc<Slot>> {
        config
            .credentials
            .map(|provider| self.credentials.slot(provider))
    }

    fn memory_store(&self, config: Arc<StoreConfig>) -> Result<Arc<Store>, ErrorInfo> {
        let mut memory = lock(&self.memory);
        if let Some(store) = memory.get(&config) {
            return Ok(Arc::clone(store));
        }
        let store = Arc::new(build(&config, &self.http, self.slot(&config))?);
        memory.insert(config, Arc::clone(&store));
        Ok(store)
    }
}

fn is_drive_letter(segment: &str) -> bool {
    segment.len() == 2 && ends_in_drive_letter(segment)
}

fn ends_in_drive_letter(name: &str) -> bool {
    match name.as_bytes() {
        [.., letter, b':' | b'|'] => letter.is_ascii_alphabetic(),
        _ => false,
    }
}

fn is_memory(url: &str) -> bool {
    url.starts_with("memory:")
}

fn config_error(message: String) -> ErrorInfo {
    ErrorInfo::new(Kind::Config, message)
}

/// Option values that must never appear in a message, judged by the option's name (a file's path,
/// such as `snowflake_master_token_path`, is not one: the message names the file).
fn secrets_of(config: &StoreConfig) -> Vec<String> {
    const SECRET_WORDS: [&str; 7] = [
        "secret",
        "key",
        "token",
        "sas",
        "password",
        "credential",
        "signature",
    ];
    let mut secrets = Vec::new();
    for (name, value) in &config.options {
        let name = name.to_ascii_lowercase();
        if !name.ends_with("_path") && SECRET_WORDS.iter().any(|w| name.contains(w)) {
            secrets.push(value.clone());
            // A SAS token's signature also shows up on its own, as one query pair.
            for pair in value.trim_start_matches('?').split('&') {
                if let Some((_, v)) = pair.split_once('=') {
                    if v.len() >= 8 {
                        secrets.push(v.to_string());
                    }
                }
            }
        }
    }
    secrets
}

pub fn build(
    config: &StoreConfig,
    http: &Arc<HttpCounters>,
    pushed: Option<Arc<Slot>>,
) -> Result<Store, ErrorInfo> {
    let secrets = secrets_of(config);
    build_inner(config, &secrets, http, pushed).map_err(|e| e.redacted(&secrets))
}

fn build_inner(
    config: &StoreConfig,
    secrets: &[String],
    http: &Arc<HttpCounters>,
    pushed: Option<Arc<Slot>>,
) -> Result<Store, ErrorInfo> {
    check_file_url(&config.url)?;
    let retry = retry_config(config)?;
    if crate::snowflake::is_stage_url(&config.url) {
        let inner = crate::snowflake::build(config, client_options(config)?, retry.clone(), http)?;
        return Ok(Store {
            inner,
            keeps_payload: false,
            versioned: false,
            keeps: Keeps {
                store: "Snowflake stage",
                standard: true,
                metadata: true,
                tags: false,
            },
            // A stage lives on S3 or Azure; Azure's batch is the smaller of the two.
            delete_batch: AZURE_DELETE_BATCH,
            local_root: None,
            signer: None,
            bucket: None,
            unsigned: false,
            retry,
            secrets: secrets.to_vec(),
        });
    }
    let url = Url::parse(&config.url).map_err(|e| {
        ErrorInfo::new(
            Kind::ParseUrl,
            format!("cannot parse URL {:?}: {e}", config.url),
        )
    })?;
    let (scheme, prefix) = ObjectStoreScheme::parse(&url).map_err(|e| {
        ErrorInfo::new(
            Kind::ParseUrl,
            format!("unsupported URL {:?}: {e}", config.url),
        )
    })?;
    // The builders share these methods but no trait. Client options go first: with_client_options
    // replaces what with_config set (allow_http).
    macro_rules! cloud_store {
        ($builder:ident, $key:ty, $label:literal, $bucket:expr, $pushed:expr) => {{
            let mut b = $builder::new()
                .with_url(url.as_str())
                .with_client_options(client_options(config)?)
                .with_retry(retry.clone())
                .with_http_connector(CountingConnector(Arc::clone(http)));
            for (k, v) in &config.options {
                b = b.with_config(parse_option::<$key>(k, $label)?, v);
            }
            b = $pushed(b);
            // The builder reads the URL only when it builds: a bucket named there is the host of
            // a bucket-style URL (in an https URL the host is the service's).
            let bucket: Option<String> = $bucket(&b).or_else(|| {
                matches!(url.scheme(), "s3" | "s3a" | "gs" | "az" | "azure")
                    .then(|| url.host_str().map(str::to_string))
                    .flatten()
            });
            (Arc::new(b.build().map_err(|e| build_error(&e))?), bucket)
        }};
    }
    let no_options = |store: &str| match config.options.keys().next() {
        Some(key) => Err(config_error(format!(
            "unknown option {key:?} for a {store} store (it takes no options)"
        ))),
        None => Ok(()),
    };
    let delete_batch = if scheme == ObjectStoreScheme::MicrosoftAzure {
        AZURE_DELETE_BATCH
    } else {
        S3_DELETE_BATCH
    };
    // A cloud store signs URLs with its own credentials (object_store's `Signer`).
    macro_rules! signing {
        ($built:expr, $plain_keys_only:expr) => {{
            let (store, bucket) = $built;
            let signer: Arc<dyn Signer> = store.clone();
            let signing = (signer, $plain_keys_only);
            (store as Arc<dyn ObjectStore>, Some(signing), bucket)
        }};
    }
    type Built = (
        Arc<dyn ObjectStore>,
        Option<(Arc<dyn Signer>, bool)>,
        Option<String>,
    );
    let (inner, signer, bucket): Built = match scheme {
        ObjectStoreScheme::Memory => {
            no_options("memory://")?;
            (Arc::new(InMemory::new()), None, None)
        }
        ObjectStoreScheme::Local => {
            no_options("file://")?;
            let dir = url.to_file_path().map_err(|()| {
                ErrorInfo::new(
                    Kind::ParseUrl,
                    format!("{:?} is not a local directory URL", config.url),
                )
            })?;
            if !dir.is_dir() {
                return Err(config_error(format!(
                    "local store root {} is not an existing directory",
                    dir.display()
                )));
            }
            let fs = LocalFileSystem::new_with_prefix(&dir)
                .map_err(|e| config_error(errors::from_object_store(&e).message))?;
            // The prefix is already the root; nothing to wrap.
            return Ok(Store {
                inner: Arc::new(fs),
                keeps_payload: false,
                versioned: false,
                keeps: Keeps {
                    store: "file://",
                    standard: false,
                    metadata: false,
                    tags: false,
                },
                delete_batch: S3_DELETE_BATCH,
                local_root: Some(dir),
                signer: None,
                bucket: None,
                unsigned: false,
                retry: RetryConfig::default(),
                secrets: secrets.to_vec(),
            });
        }
        ObjectStoreScheme::AmazonS3 => signing!(
            cloud_store!(
                AmazonS3Builder,
                AmazonS3ConfigKey,
                "S3",
                |b: &AmazonS3Builder| b.get_config_value(&AmazonS3ConfigKey::Bucket),
                |b: AmazonS3Builder| match pushed.clone() {
                    Some(slot) => b.with_credentials(Arc::new(AwsPushed(slot))),
                    None => b,
                }
            ),
            false
        ),
        ObjectStoreScheme::MicrosoftAzure => signing!(
            cloud_store!(
                MicrosoftAzureBuilder,
                AzureConfigKey,
                "Azure",
                |b: &MicrosoftAzureBuilder| b.get_config_value(&AzureConfigKey::ContainerName),
                |b: MicrosoftAzureBuilder| match pushed.clone() {
                    Some(slot) => b.with_credentials(Arc::new(BearerPushed(slot))),
                    None => b,
                }
            ),
            true
        ),
        ObjectStoreScheme::GoogleCloudStorage => signing!(
            cloud_store!(
                GoogleCloudStorageBuilder,
                GoogleConfigKey,
                "GCS",
                |b: &GoogleCloudStorageBuilder| b.get_config_value(&GoogleConfigKey::Bucket),
                |b: GoogleCloudStorageBuilder| match pushed.clone() {
                    Some(slot) => b.with_credentials(Arc::new(GcpPushed(slot))),
                    None => b,
                }
            ),
            false
        ),
        ObjectStoreScheme::Http => {
            let (store, _) = cloud_store!(
                HttpBuilder,
                ClientConfigKey,
                "HTTP",
                |_: &HttpBuilder| None::<String>,
                |b: HttpBuilder| b
            );
            (store, None, None)
        }
        other => {
            return Err(ErrorInfo::new(
                Kind::ParseUrl,
                format!("unsupported store scheme {other:?} in {:?}", config.url),
            ))
        }
    };
    let keeps_payload = scheme == ObjectStoreScheme::Memory;
    let tagging = !option_is_true(config, "disable_tagging");
    // object_store sends tags to S3 and Azure only (unless told not to), and user metadata to every
    // cloud but not over plain HTTP.
    let (store, metadata, tags) = match scheme {
        ObjectStoreScheme::Memory => ("memory://", true, false),
        ObjectStoreScheme::AmazonS3 => ("S3", true, tagging),
        ObjectStoreScheme::MicrosoftAzure => ("Azure", true, tagging),
        ObjectStoreScheme::GoogleCloudStorage => ("GCS", true, false),
        _ => ("HTTP", false, false),
    };
    let keeps = Keeps {
        store,
        standard: true,
        metadata,
        tags,
    };
    let noun = if scheme == ObjectStoreScheme::MicrosoftAzure {
        "container"
    } else {
        "bucket"
    };
    let bucket = bucket.map(|name| format!("{noun} {name:?}"));
    let inner: Arc<dyn ObjectStore> = if scheme == ObjectStoreScheme::MicrosoftAzure {
        Arc::new(CommitChecked::new(inner))
    } else {
        inner
    };
    let inner: Arc<dyn ObjectStore> = if prefix.as_ref().is_empty() {
        inner
    } else {
        Arc::new(PrefixStore::new(inner, prefix.clone()))
    };
    Ok(Store {
        inner,
        signer: signer.map(|(signer, plain_keys_only)| Signing {
            signer,
            prefix,
            plain_keys_only,
        }),
        keeps_payload,
        versioned: !keeps_payload, // memory:// keeps no versions
        keeps,
        delete_batch,
        local_root: None,
        bucket,
        unsigned: option_is_true(config, "skip_signature"),
        retry,
        secrets: secrets.to_vec(),
    })
}

/// A `file:` URL must name an absolute path: the URL parser takes `file:data` for `/data` and
/// `file://./data` for a host named ".", neither of which is what was meant.
fn check_file_url(url: &str) -> Result<(), ErrorInfo> {
    let Some(rest) = url
        .get(..5)
        .filter(|scheme| scheme.eq_ignore_ascii_case("file:"))
        .map(|_| &url[5..])
    else {
        return Ok(());
    };
    let absolute = match rest.strip_prefix("//") {
        Some(after) => after.starts_with('/') || after.starts_with("localhost/"),
        None => rest.starts_with('/'),
    };
    if absolute {
        return Ok(());
    }
    Err(ErrorInfo::new(
        Kind::ParseUrl,
        format!(
            "{url:?} is not an absolute file: URL: a local store needs an absolute path, as in \
             \"file:///data/store\" (in Python, pathlib.Path(\"data\").resolve().as_uri())"
        ),
    ))
}

fn parse_option<K: FromStr>(name: &str, store: &str) -> Result<K, ErrorInfo> {
    K::from_str(name)
        .map_err(|_| config_error(format!("unknown option {name:?} for an {store} store")))
}

/// A boolean option (`aws_skip_signature`, `azure_disable_tagging`, ...) under any cloud's prefix.
fn option_is_true(config: &StoreConfig, name: &str) -> bool {
    config
        .options
        .iter()
        .any(|(k, v)| k.ends_with(name) && v.eq_ignore_ascii_case("true"))
}

fn build_error(err: &object_store::Error) -> ErrorInfo {
    let mut info = errors::from_object_store(err);
    if matches!(info.kind, Kind::Unknown | Kind::NotSupported) {
        info.kind = Kind::Config;
    }
    info
}

fn seconds(name: &str, value: f64) -> Result<Duration, ErrorInfo> {
    Duration::try_from_secs_f64(value).map_err(|_| {
        config_error(format!(
            "{name} must be a non-negative number of seconds, got {value}"
        ))
    })
}

fn client_options(config: &StoreConfig) -> Result<ClientOptions, ErrorInfo> {
    let mut opts = ClientOptions::new();
    if let Some(t) = config.client.timeout_secs {
        opts = opts.with_timeout(seconds("request_timeout_secs", t.0)?);
    }
    if let Some(t) = config.client.connect_timeout_secs {
        opts = opts.with_connect_timeout(seconds("connect_timeout_secs", t.0)?);
    }
    Ok(opts)
}

fn retry_config(config: &StoreConfig) -> Result<RetryConfig, ErrorInfo> {
    let r = &config.retry;
    let mut retry = RetryConfig::default();
    if let Some(n) = r.max_retries {
        retry.max_retries = usize::try_from(n).unwrap_or(usize::MAX);
    }
    if let Some(t) = r.retry_timeout_secs {
        retry.retry_timeout = seconds("retry_timeout_secs", t.0)?;
    }
    if let Some(ms) = r.initial_backoff_ms {
        retry.backoff.init_backoff = Duration::from_millis(ms);
    }
    if let Some(ms) = r.max_backoff_ms {
        retry.backoff.max_backoff = Duration::from_millis(ms);
    }
    if let Some(base) = r.backoff_exp_base {
        if !(base.0.is_finite() && base.0 >= 1.0) {
            return Err(config_error(format!(
                "backoff_exp_base must be a number >= 1, got {}",
                base.0
            )));
        }
        retry.backoff.base = base.0;
    }
    Ok(retry)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::{ClientSettings, RetrySettings};
    use std::collections::BTreeMap;

    #[test]
    fn a_file_url_must_name_an_absolute_path() {
        for good in [
            "file:///data",
            "file:/data",
            "FILE:///data",
            "file://localhost/data",
            "memory://",
        ] {
            assert!(check_file_url(good).is_ok(), "{good}");
        }
        for bad in [
            "file:data",
            "file://./data",
            "file://data/x",
            "file:./data",
            "file:",
        ] {
            let err = check_file_url(bad).expect_err(bad);
            assert_eq!(err.kind, Kind::ParseUrl);
            assert!(err.message.contains("absolute"), "{}", err.message);
        }
    }

    fn cached_twice(ttl: Duration, tti: Duration) -> bool {
        let stores = Stores::new(CacheSettings {
            capacity: 4,
            ttl,
            tti,
        });
        let dir = std::env::temp_dir();
        let url = format!("file://{}", dir.display());
        stores.register(
            1,
            StoreConfig {
                url,
                options: BTreeMap::new(),
                client: ClientSettings::default(),
                retry: RetrySettings::default(),
                credentials: None,
            },
        );
        let first = stores.get(1).expect("a file store builds");
        std::thread::sleep(Duration::from_millis(5));
        let second = stores.get(1).expect("a file store builds");
        Arc::ptr_eq(&first, &second)
    }

    #[test]
    fn a_zero_ttl_or_tti_keeps_stores_without_limit() {
        let long = Duration::from_secs(3600);
        assert!(cached_twice(long, long));
        assert!(cached_twice(Duration::ZERO, Duration::ZERO));
        assert!(cached_twice(Duration::ZERO, long));
        assert!(cached_twice(long, Duration::ZERO));
        // A limit shorter than the pause between the two uses: built anew.
        assert!(!cached_twice(Duration::from_millis(1), Duration::ZERO));
        assert!(!cached_twice(Duration::ZERO, Duration::from_millis(1)));
    }
}
