//! Stores: built from a registered configuration, validated strictly (object_store itself ignores
//! unknown option names), one builder per backend (`aws`, `azure`, `gcp`, `http`, `local` for
//! `file://` and `memory://`, `snowflake` for stages), and kept by `cache`.

mod aws;
mod azure;
mod cache;
mod gcp;
mod http;
mod local;
mod snowflake;

use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use object_store::aws::AmazonS3ConfigKey;
use object_store::azure::AzureConfigKey;
use object_store::gcp::GoogleConfigKey;
use object_store::path::Path;
use object_store::prefix::PrefixStore;
use object_store::signer::Signer;
use object_store::{ClientOptions, ObjectStore, ObjectStoreScheme, RetryConfig};
use url::Url;

use crate::codec::StoreConfig;
use crate::credentials::Slot;
use crate::errors::{self, ErrorInfo, Kind};
use crate::metrics::HttpCounters;

pub use cache::{CacheSettings, Stores};

const S3_DELETE_BATCH: usize = 1000;
const AZURE_DELETE_BATCH: usize = 256;

/// What a store keeps of a write besides its bytes.
#[derive(Debug, Clone, Copy)]
pub struct Keeps {
    /// The store as an error names it ("file://", "GCS").
    pub store: &'static str,
    /// `Content-Type` and the other standard headers.
    pub standard: bool,
    /// User metadata.
    pub metadata: bool,
    pub tags: bool,
}

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
    /// When the configuration's SAS token ends (its `se=`): a refusal after it says so.
    sas_expiry: Option<String>,
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
    /// A store that copies no payload, keeps no versions, signs nothing and names no bucket; each
    /// builder states what its backend does otherwise.
    fn new(
        inner: Arc<dyn ObjectStore>,
        keeps: Keeps,
        retry: RetryConfig,
        secrets: &[String],
    ) -> Store {
        Store {
            inner,
            keeps_payload: false,
            delete_batch: S3_DELETE_BATCH,
            local_root: None,
            bucket: None,
            unsigned: false,
            sas_expiry: None,
            signer: None,
            versioned: false,
            keeps,
            retry,
            secrets: secrets.to_vec(),
        }
    }

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
        let expired = self.sas_expiry.as_deref().filter(|end| is_past(end));
        if let (Some(end), Kind::Permission) = (expired, info.kind) {
            info.message = format!(
                "the configuration's SAS token expired at {end}: give it a new one (or a \
                 credential_provider, which is asked again before its tokens end); {}",
                info.message
            );
        }
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

fn is_drive_letter(segment: &str) -> bool {
    segment.len() == 2 && ends_in_drive_letter(segment)
}

fn ends_in_drive_letter(name: &str) -> bool {
    match name.as_bytes() {
        [.., letter, b':' | b'|'] => letter.is_ascii_alphabetic(),
        _ => false,
    }
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

fn build(
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
        return snowflake::build(config, retry, secrets, http);
    }
    let url = Url::parse(&config.url).map_err(|e| {
        let hint = match e {
            url::ParseError::RelativeUrlWithoutBase => {
                ": a store URL starts with its scheme, as in s3://bucket, az://container, \
                 gs://bucket, or file:///absolute/dir for a local directory (in Python, \
                 pathlib.Path(dir).resolve().as_uri())"
            }
            _ => "",
        };
        ErrorInfo::new(
            Kind::ParseUrl,
            format!("cannot parse URL {:?}: {e}{hint}", config.url),
        )
    })?;
    let (scheme, prefix) = ObjectStoreScheme::parse(&url).map_err(|e| {
        ErrorInfo::new(
            Kind::ParseUrl,
            format!("unsupported URL {:?}: {e}", config.url),
        )
    })?;
    let from = FromUrl {
        config,
        url,
        prefix,
        retry,
        secrets,
        http,
        pushed,
    };
    match scheme {
        ObjectStoreScheme::Memory => local::memory(from),
        ObjectStoreScheme::Local => local::file(from),
        ObjectStoreScheme::AmazonS3 => aws::build(from),
        ObjectStoreScheme::MicrosoftAzure => azure::build(from),
        ObjectStoreScheme::GoogleCloudStorage => gcp::build(from),
        ObjectStoreScheme::Http => http::build(from),
        other => Err(ErrorInfo::new(
            Kind::ParseUrl,
            format!("unsupported store scheme {other:?} in {:?}", config.url),
        )),
    }
}

/// What the builder of a URL's store starts from.
struct FromUrl<'a> {
    config: &'a StoreConfig,
    url: Url,
    /// The URL's path, put before every key.
    prefix: Path,
    retry: RetryConfig,
    secrets: &'a [String],
    http: &'a Arc<HttpCounters>,
    /// The slot of the configuration's credential provider, if it has one.
    pushed: Option<Arc<Slot>>,
}

impl FromUrl<'_> {
    fn no_options(&self, store: &str) -> Result<(), ErrorInfo> {
        match self.config.options.keys().next() {
            Some(key) => Err(config_error(format!(
                "unknown option {key:?} for a {store} store (it takes no options)"
            ))),
            None => Ok(()),
        }
    }

    /// `inner` under the URL's path, unsigned if the configuration says so: how every store but
    /// `file://` and a stage is finished.
    fn store(self, inner: Arc<dyn ObjectStore>, keeps: Keeps) -> Store {
        let inner: Arc<dyn ObjectStore> = if self.prefix.as_ref().is_empty() {
            inner
        } else {
            Arc::new(PrefixStore::new(inner, self.prefix))
        };
        Store {
            versioned: true,
            unsigned: option_is_true(self.config, "skip_signature"),
            sas_expiry: self
                .config
                .options
                .iter()
                .find(|(k, _)| k.ends_with("sas_key") || k.ends_with("sas_token"))
                .and_then(|(_, token)| sas_expiry(token)),
            ..Store::new(inner, keeps, self.retry, self.secrets)
        }
    }

    /// A cloud store signs URLs with its own credentials (object_store's `Signer`).
    fn signing(&self, signer: Arc<dyn Signer>, plain_keys_only: bool) -> Option<Signing> {
        Some(Signing {
            signer,
            prefix: self.prefix.clone(),
            plain_keys_only,
        })
    }

    /// object_store sends tags to S3 and Azure unless told not to.
    fn tagging(&self) -> bool {
        !option_is_true(self.config, "disable_tagging")
    }
}

/// A cloud store's bucket as an error names it (`bucket "b"`, `container "c"`).
fn named(noun: &str, bucket: Option<String>) -> Option<String> {
    bucket.map(|name| format!("{noun} {name:?}"))
}

/// Builds a URL's store: the builders share these methods but no trait. Client options go first:
/// with_client_options replaces what with_config set (allow_http). A cloud's builder also takes
/// the option that names its bucket and the type that hands it pushed credentials; it returns
/// the store and the bucket's name.
macro_rules! cloud_store {
    ($from:ident, $builder:ident, $key:ty, $label:expr $(, $bucket:expr, $pushed:path)?) => {{
        let mut b = $builder::new()
            .with_url($from.url.as_str())
            .with_client_options($crate::stores::client_options($from.config)?)
            .with_retry($from.retry.clone())
            .with_http_connector($crate::metrics::CountingConnector(std::sync::Arc::clone(
                $from.http,
            )));
        for (k, v) in &$from.config.options {
            b = b.with_config($crate::stores::parse_option::<$key>(k, $label)?, v);
        }
        let bucket: Option<String> = None;
        $(
            if let Some(slot) = $from.pushed.clone() {
                b = b.with_credentials(std::sync::Arc::new($pushed(slot)));
            } else if $crate::stores::option_is_true($from.config, "skip_signature") {
                if let Some(none) = <$pushed as $crate::credentials::Unsigned>::unsigned() {
                    b = b.with_credentials(none);
                }
            }
            // The builder reads the URL only when it builds: a bucket named there is the host of
            // a bucket-style URL (in an https URL the host is the service's).
            let bucket = bucket.or_else(|| b.get_config_value(&$bucket)).or_else(|| {
                matches!($from.url.scheme(), "s3" | "s3a" | "gs" | "az" | "azure")
                    .then(|| $from.url.host_str().map(str::to_string))
                    .flatten()
            });
        )?
        let built = b
            .build()
            .map_err(|e| $crate::stores::build_error(&e))?;
        (std::sync::Arc::new(built), bucket)
    }};
}
use cloud_store;

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

/// Whether a store of `url` takes every option in `names`, without building anything: what Python
/// asks (`--check-option-names`) before it runs a credential chain, so that a misspelt option is
/// reported as one rather than as missing credentials. Only the clouds, whose options Python
/// completes from a chain; what is wrong with the URL itself the build says.
pub fn check_option_names(url: &str, names: &[String]) -> Result<(), ErrorInfo> {
    let Ok(parsed) = Url::parse(url) else {
        return Ok(());
    };
    match ObjectStoreScheme::parse(&parsed) {
        Ok((ObjectStoreScheme::AmazonS3, _)) => all_parse::<AmazonS3ConfigKey>(names, aws::STORE),
        Ok((ObjectStoreScheme::MicrosoftAzure, _)) => {
            all_parse::<AzureConfigKey>(names, azure::STORE)
        }
        Ok((ObjectStoreScheme::GoogleCloudStorage, _)) => {
            all_parse::<GoogleConfigKey>(names, gcp::STORE)
        }
        _ => Ok(()),
    }
}

/// Every name parses as a `K`, as a builder's options do.
fn all_parse<K: FromStr>(names: &[String], store: &str) -> Result<(), ErrorInfo> {
    names
        .iter()
        .try_for_each(|name| parse_option::<K>(name, store).map(drop))
}

fn parse_option<K: FromStr>(name: &str, store: &str) -> Result<K, ErrorInfo> {
    K::from_str(name).map_err(|_| {
        let meant = near_miss::<K>(name)
            .map(|m| format!("; did you mean {m:?}?"))
            .unwrap_or_default();
        config_error(format!("unknown option {name:?} for {store} stores{meant}"))
    })
}

/// The option name one typo away from `name` (two letters swapped, one left out, one wrong, one
/// too many) that the store takes, if any: found by asking the store's own parser.
fn near_miss<K: FromStr>(name: &str) -> Option<String> {
    const LETTERS: &str = "abcdefghijklmnopqrstuvwxyz0123456789_";
    let chars: Vec<char> = name.to_lowercase().chars().collect();
    let text = |cs: &[char]| cs.iter().collect::<String>();
    let mut tries = Vec::new();
    for i in 0..chars.len() {
        if i + 1 < chars.len() {
            let mut swapped = chars.clone();
            swapped.swap(i, i + 1);
            tries.push(text(&swapped));
        }
        let mut dropped = chars.clone();
        dropped.remove(i);
        tries.push(text(&dropped));
    }
    for i in 0..=chars.len() {
        for letter in LETTERS.chars() {
            if i < chars.len() {
                let mut changed = chars.clone();
                changed[i] = letter;
                tries.push(text(&changed));
            }
            let mut added = chars.clone();
            added.insert(i, letter);
            tries.push(text(&added));
        }
    }
    tries
        .into_iter()
        .find(|t| t != name && K::from_str(t).is_ok())
}

/// A SAS token's signed expiry (`se=`, percent-encoded in the token).
fn sas_expiry(token: &str) -> Option<String> {
    let token = token.trim_start_matches('?');
    url::form_urlencoded::parse(token.as_bytes())
        .find(|(k, _)| k == "se")
        .map(|(_, v)| v.into_owned())
}

/// Whether a SAS time (ISO 8601: a UTC date, or a date and time) has passed; false when it
/// cannot be read.
fn is_past(end: &str) -> bool {
    let at = chrono::DateTime::parse_from_rfc3339(end)
        .map(|t| t.with_timezone(&chrono::Utc))
        .ok()
        .or_else(|| {
            let day = chrono::NaiveDate::parse_from_str(end, "%Y-%m-%d").ok()?;
            Some(day.and_hms_opt(0, 0, 0)?.and_utc())
        });
    at.is_some_and(|t| t < chrono::Utc::now())
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
}
