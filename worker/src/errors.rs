//! Error kinds as protocol.md section 6 lists them, classified from object_store's errors, with secrets
//! removed from every message before it leaves the worker.

use std::error::Error as StdError;

use object_store::client::{HttpError, HttpErrorKind};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    NotFound,
    BucketNotFound,
    Permission,
    Timeout,
    Connection,
    EarlyEof,
    HttpStatus,
    AlreadyExists,
    Precondition,
    NotModified,
    RangeNotSatisfiable,
    NotSupported,
    InvalidPath,
    Config,
    ParseUrl,
    Protocol,
    Data,
    StorageFull,
    LocalFile,
    Cancelled,
    Unknown,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::NotFound => "not_found",
            Kind::BucketNotFound => "bucket_not_found",
            Kind::Permission => "permission",
            Kind::Timeout => "timeout",
            Kind::Connection => "connection",
            Kind::EarlyEof => "early_eof",
            Kind::HttpStatus => "http_status",
            Kind::AlreadyExists => "already_exists",
            Kind::Precondition => "precondition",
            Kind::NotModified => "not_modified",
            Kind::RangeNotSatisfiable => "range_not_satisfiable",
            Kind::NotSupported => "not_supported",
            Kind::InvalidPath => "invalid_path",
            Kind::Config => "config",
            Kind::ParseUrl => "parse_url",
            Kind::Protocol => "protocol",
            Kind::Data => "data",
            Kind::StorageFull => "storage_full",
            Kind::LocalFile => "local_file",
            Kind::Cancelled => "cancelled",
            Kind::Unknown => "unknown",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ErrorInfo {
    pub kind: Kind,
    pub message: String,
    pub status: Option<u16>,
    /// A local file's system error (`local_file`): its errno and the file's path.
    pub local_file: Option<(i32, String)>,
}

impl ErrorInfo {
    pub fn new(kind: Kind, message: impl Into<String>) -> Self {
        ErrorInfo {
            kind,
            message: message.into(),
            status: None,
            local_file: None,
        }
    }

    /// A "not found" whose answer says that the bucket (or container) itself is missing becomes its
    /// own kind, naming the bucket (`bucket` says which, as in `container "c"`): the object's key
    /// is not what is wrong.
    pub fn naming_missing_bucket(self, bucket: Option<&str>) -> Self {
        // object_store makes a 404 on a conditional put a failed precondition.
        let not_found = matches!(self.kind, Kind::NotFound | Kind::Precondition);
        if !not_found || !BUCKET_MISSING.iter().any(|m| self.message.contains(m)) {
            return self;
        }
        let what = bucket.unwrap_or("the bucket or container");
        ErrorInfo {
            kind: Kind::BucketNotFound,
            message: format!("{what} does not exist: {}", self.message),
            status: self.status,
            local_file: None,
        }
    }

    /// A local file that could not be written: `doing` says what was being done to it.
    pub fn local_file(error: &std::io::Error, doing: &str, file: &std::path::Path) -> Self {
        let file = file.to_string_lossy().into_owned();
        ErrorInfo {
            kind: Kind::LocalFile,
            // Python adds the errno's own text; "(os error 2)" would say it twice.
            message: format!(
                "{doing}: {}",
                error
                    .to_string()
                    .split(" (os error")
                    .next()
                    .unwrap_or_default()
            ),
            status: None,
            local_file: Some((error.raw_os_error().unwrap_or(libc::EIO), file)),
        }
    }

    /// Removes the given secret values and every URL query string from the message.
    pub fn redacted(mut self, secrets: &[String]) -> Self {
        self.message = redact(&self.message, secrets);
        self
    }
}

/// What servers answer when the bucket or container itself is missing: S3 and GCS's XML API
/// (`NoSuchBucket`), Azure (`ContainerNotFound`, and only its message in a batch delete's answer),
/// GCS's JSON API.
const BUCKET_MISSING: [&str; 4] = [
    "NoSuchBucket",
    "ContainerNotFound",
    "The specified container does not exist",
    "The specified bucket does not exist",
];

/// The full chain of an error as one line: object_store's own Display often hides the root cause.
fn chain_text(err: &(dyn StdError + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// The first `HttpError` in the chain, if any, tells connect / timeout / interrupted apart.
fn http_error_kind(err: &(dyn StdError + 'static)) -> Option<HttpErrorKind> {
    let mut current: Option<&(dyn StdError + 'static)> = Some(err);
    while let Some(e) = current {
        if let Some(http) = e.downcast_ref::<HttpError>() {
            return Some(http.kind());
        }
        current = e.source();
    }
    None
}

/// A request that broke off without an answer (a reset, a timeout): object_store sends it again
/// only when its method is idempotent, so a caller whose operation is idempotent by meaning (a
/// delete sent as S3's bulk POST) may send it again itself.
pub fn broke_off_unanswered(err: &object_store::Error) -> bool {
    matches!(
        http_error_kind(err),
        Some(HttpErrorKind::Interrupted | HttpErrorKind::Timeout)
    )
}

/// A local write that failed for want of room: a full disk, a quota, a file size limit.
fn disk_is_full(err: &(dyn StdError + 'static)) -> bool {
    let mut current = Some(err);
    while let Some(e) = current {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            if matches!(
                io.raw_os_error(),
                Some(libc::ENOSPC | libc::EFBIG | libc::EDQUOT)
            ) {
                return true;
            }
        }
        current = e.source();
    }
    false
}

/// object_store keeps its retry error private; its message carries the status as
/// "status code: 503" (the "Server returned non-2xx status code" form).
fn status_in(text: &str) -> Option<u16> {
    let marker = "status code: ";
    let start = text.find(marker)? + marker.len();
    text.get(start..start + 3)?.parse().ok()
}

fn looks_like_early_eof(text: &str) -> bool {
    let lower = text.to_ascii_lowercase();
    [
        "incomplete message",
        "incompletemessage",
        "end of file before message completed",
        "unexpected eof",
        "unexpected end of file",
        "error reading a body from connection",
    ]
    .iter()
    .any(|needle| lower.contains(needle))
}

/// object_store wraps some errors in `Generic`: a body read that fails and is retried with a ranged
/// GET returns `Generic { source: Precondition { .. } }` when the retry gets a 412 (the object changed
/// under an `if_match` read). The most specific variant in the chain decides the kind.
fn most_specific(err: &object_store::Error) -> &object_store::Error {
    // Only a `Generic` wrapper is looked through: `AlreadyExists` caused by a 412 stays itself.
    let mut current: &(dyn StdError + 'static) = err;
    let mut found = err;
    while matches!(found, object_store::Error::Generic { .. }) {
        let Some(source) = current.source() else {
            break;
        };
        if let Some(inner) = source.downcast_ref::<object_store::Error>() {
            found = inner;
        }
        current = source;
    }
    found
}

/// What object_store's local and memory stores say of a range that starts at or past the end
/// (its `InvalidGetRange::StartTooLarge`, which the crate does not export).
const START_PAST_THE_END: &str = "Wanted range starting at";

/// What the HTTP client says of a plain `http://` URL when `allow_http` is not set.
const HTTP_NOT_ALLOWED: &str = "URL scheme is not allowed";

/// An error the worker raises inside a store of its own (a Snowflake stage), its kind decided
/// where it happens; it travels through object_store's `Generic` and keeps that kind.
#[derive(Debug)]
pub struct Raised(pub ErrorInfo);

impl std::fmt::Display for Raised {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0.message)
    }
}

impl StdError for Raised {}

pub fn raised(info: ErrorInfo) -> object_store::Error {
    object_store::Error::Generic {
        store: "Snowflake",
        source: Box::new(Raised(info)),
    }
}

fn raised_in<'a>(err: &'a (dyn StdError + 'static)) -> Option<&'a ErrorInfo> {
    let mut current = Some(err);
    while let Some(e) = current {
        if let Some(Raised(info)) = e.downcast_ref::<Raised>() {
            return Some(info);
        }
        current = e.source();
    }
    None
}

pub fn from_object_store(err: &object_store::Error) -> ErrorInfo {
    use object_store::Error as E;
    if let Some(info) = raised_in(err) {
        return info.clone();
    }
    let text = chain_text(err);
    if text.contains(HTTP_NOT_ALLOWED) {
        return ErrorInfo::new(
            Kind::Config,
            format!(
                "plain http:// is refused unless the store's allow_http option is \"true\" (the \
                 typed configurations set it for an http:// host): {text}"
            ),
        );
    }
    if let Some(hint) = wrong_region(&text) {
        return ErrorInfo {
            kind: Kind::Config,
            message: format!("{hint}: {text}"),
            status: status_in(&text),
            local_file: None,
        };
    }
    if text.contains("<Code>ExpiredToken</Code>") {
        // S3 answers 400 to a session token past its end; it is a refusal of the credentials.
        return ErrorInfo {
            kind: Kind::Permission,
            message: format!(
                "the credentials' session token has expired: give the configuration new ones (or \
                 a credential_provider, which is asked again before its credentials end): {text}"
            ),
            status: status_in(&text),
            local_file: None,
        };
    }
    let (kind, status) = match most_specific(err) {
        E::NotFound { .. } => (Kind::NotFound, Some(404)),
        E::PermissionDenied { .. } => (Kind::Permission, Some(403)),
        E::Unauthenticated { .. } => (Kind::Permission, Some(401)),
        E::AlreadyExists { .. } => (Kind::AlreadyExists, status_in(&text)),
        E::Precondition { .. } => (Kind::Precondition, status_in(&text)),
        E::NotModified { .. } => (Kind::NotModified, Some(304)),
        E::NotSupported { .. } | E::NotImplemented { .. } => (Kind::NotSupported, None),
        E::InvalidPath { .. } => (Kind::InvalidPath, None),
        E::UnknownConfigurationKey { .. } => (Kind::Config, None),
        _ => classify_generic(err, &text),
    };
    ErrorInfo {
        kind,
        message: text,
        status,
        local_file: None,
    }
}

/// What to do when S3 says the request was signed for another region than the bucket's: its
/// answer names the bucket's region (`<Region>` in an `AuthorizationHeaderMalformed` error), or
/// object_store saw the redirect AWS answers a virtual-hosted request with.
fn wrong_region(text: &str) -> Option<String> {
    if text.contains("AuthorizationHeaderMalformed") {
        let region = text.split("<Region>").nth(1)?.split('<').next()?.trim();
        if !region.is_empty() {
            return Some(format!(
                "the bucket is in region {region}, not the configuration's: set its region \
                 (aws_region) to \"{region}\""
            ));
        }
    }
    text.contains(REDIRECT_WITHOUT_LOCATION).then(|| {
        "the bucket is in another region than the configuration's (S3 answered with a \
         redirect): set its region (aws_region) to the bucket's"
            .to_string()
    })
}

/// object_store's error for a redirect it cannot follow, which AWS sends for a wrong region.
const REDIRECT_WITHOUT_LOCATION: &str = "incorrectly configured region";

fn classify_generic(err: &object_store::Error, text: &str) -> (Kind, Option<u16>) {
    let status = status_in(text);
    if let Some(status) = status {
        let kind = match status {
            401 | 403 => Kind::Permission,
            304 => Kind::NotModified,
            404 => Kind::NotFound,
            408 => Kind::Timeout,
            412 => Kind::Precondition,
            416 => Kind::RangeNotSatisfiable,
            _ => Kind::HttpStatus,
        };
        return (kind, Some(status));
    }
    if text.contains(START_PAST_THE_END) {
        return (Kind::RangeNotSatisfiable, None);
    }
    if looks_like_early_eof(text) {
        return (Kind::EarlyEof, None);
    }
    if disk_is_full(err) {
        return (Kind::StorageFull, None);
    }
    let kind = match http_error_kind(err) {
        Some(HttpErrorKind::Timeout) => Kind::Timeout,
        Some(HttpErrorKind::Connect)
        | Some(HttpErrorKind::Request)
        | Some(HttpErrorKind::Interrupted) => Kind::Connection,
        Some(HttpErrorKind::Decode) => Kind::EarlyEof,
        _ => Kind::Unknown,
    };
    (kind, None)
}

/// Every URL query string becomes `?REDACTED` (SAS tokens and presigned signatures live there), and
/// every secret value (raw and percent-encoded) becomes `REDACTED`.
pub fn redact(message: &str, secrets: &[String]) -> String {
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(pos) = rest.find("://") {
        let (head, tail) = rest.split_at(pos);
        out.push_str(head);
        let end = tail
            .find(|c: char| c.is_whitespace() || c == ')' || c == '"' || c == '\'' || c == ',')
            .unwrap_or(tail.len());
        let url = &tail[..end];
        match url.find('?') {
            Some(q) => {
                out.push_str(&url[..q]);
                out.push_str("?REDACTED");
            }
            None => out.push_str(url),
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    for secret in secrets.iter().filter(|s| s.len() >= 4) {
        for form in [secret.clone(), percent_encode(secret)] {
            if out.contains(&form) {
                out = out.replace(&form, "REDACTED");
            }
        }
    }
    out
}

fn percent_encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redact_removes_query_strings_and_secrets() {
        let msg = "Error performing GET http://h:1/c/k?sv=1&sig=abc%2Bdef in 1s - key s3cr3t+key";
        let out = redact(msg, &["s3cr3t+key".to_string()]);
        assert_eq!(
            out,
            "Error performing GET http://h:1/c/k?REDACTED in 1s - key REDACTED"
        );
    }

    #[test]
    fn a_wrapped_error_is_classified_by_its_inner_variant() {
        let inner = object_store::Error::Precondition {
            path: "k".to_string(),
            source: "Server returned non-2xx status code: 412 Precondition Failed".into(),
        };
        let outer = object_store::Error::Generic {
            store: "S3",
            source: Box::new(inner),
        };
        let info = from_object_store(&outer);
        assert_eq!(info.kind, Kind::Precondition);
        assert_eq!(info.status, Some(412));
    }

    #[test]
    fn a_missing_bucket_is_its_own_kind_naming_the_bucket() {
        let missing = ErrorInfo {
            kind: Kind::NotFound,
            message: "... 404 Not Found: <Error><Code>NoSuchBucket</Code></Error>".to_string(),
            status: Some(404),
            local_file: None,
        };
        let named = missing.clone().naming_missing_bucket(Some("bucket \"b1\""));
        assert_eq!(named.kind, Kind::BucketNotFound);
        assert!(named.message.starts_with("bucket \"b1\" does not exist: "));
        let unnamed = missing.naming_missing_bucket(None);
        assert!(unnamed
            .message
            .starts_with("the bucket or container does not exist: "));
        let key = ErrorInfo {
            kind: Kind::NotFound,
            message: "... <Code>NoSuchKey</Code>".to_string(),
            status: Some(404),
            local_file: None,
        };
        assert_eq!(
            key.clone().naming_missing_bucket(Some("bucket \"b1\"")),
            key
        );
    }

    #[test]
    fn a_wrong_region_says_which_region_the_bucket_is_in() {
        let minio = "Server returned non-2xx status code: 400 Bad Request: <Error><Code>\
                     AuthorizationHeaderMalformed</Code><Message>the region is wrong; expecting \
                     &#39;eu-west-1&#39;.</Message><Region>eu-west-1</Region></Error>";
        let hint = wrong_region(minio).expect("named");
        assert!(hint.contains("aws_region) to \"eu-west-1\""), "{hint}");
        assert!(wrong_region(
            "Received redirect without LOCATION, this normally indicates an \
                              incorrectly configured region"
        )
        .is_some());
        assert_eq!(wrong_region("<Code>AccessDenied</Code>"), None);
    }

    #[test]
    fn status_is_read_from_retry_error_text() {
        assert_eq!(
            status_in("Server returned non-2xx status code: 503 Service Unavailable"),
            Some(503)
        );
        assert_eq!(status_in("no status here"), None);
    }
}
