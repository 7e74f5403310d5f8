//! Counters of the HTTP traffic behind every store this worker built: each request object_store sends,
//! and each attempt that failed in a way object_store retries (5xx, 429, 408, connect errors,
//! timeouts, broken connections). Counted at the HTTP client, so retries inside object_store show up.
//! The same client drops the empty bearer an unsigned GCS store's uploads carry.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use object_store::client::{
    HttpClient, HttpConnector, HttpError, HttpErrorKind, HttpRequest, HttpResponse, HttpService,
    ReqwestConnector,
};
use object_store::ClientOptions;
use reqwest::header::AUTHORIZATION;

use crate::latency::Latencies;

#[derive(Default)]
pub struct HttpCounters {
    pub requests: AtomicU64,
    pub retryable_failures: AtomicU64,
    /// How long each attempt took, by method.
    pub attempts: Latencies,
}

impl std::fmt::Debug for HttpCounters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "HttpCounters({:?})", self.snapshot())
    }
}

/// An HTTP method as a name a histogram can keep.
fn method_name(method: &str) -> &'static str {
    match method {
        "GET" => "GET",
        "PUT" => "PUT",
        "POST" => "POST",
        "HEAD" => "HEAD",
        "DELETE" => "DELETE",
        "PATCH" => "PATCH",
        _ => "OTHER",
    }
}

impl HttpCounters {
    pub fn snapshot(&self) -> (u64, u64) {
        (
            self.requests.load(Ordering::Relaxed),
            self.retryable_failures.load(Ordering::Relaxed),
        )
    }
}

/// object_store's own reqwest connector, with every call counted.
#[derive(Debug)]
pub struct CountingConnector(pub Arc<HttpCounters>);

impl HttpConnector for CountingConnector {
    fn connect(&self, options: &ClientOptions) -> object_store::Result<HttpClient> {
        crate::tls::install();
        let inner = ReqwestConnector::default().connect(options)?;
        Ok(HttpClient::new(Counting {
            inner,
            counters: Arc::clone(&self.0),
        }))
    }
}

/// An unsigned store's requests carry no `Authorization` at all: GCS's client adds a bearer even
/// then (`credentials::Unsigned`), and GCS refuses a bad one where it would take none.
fn drop_empty_bearer(request: &mut HttpRequest) {
    let headers = request.headers_mut();
    if headers
        .get(AUTHORIZATION)
        .is_some_and(|value| value.as_bytes().trim_ascii_end() == b"Bearer")
    {
        headers.remove(AUTHORIZATION);
    }
}

#[derive(Debug)]
struct Counting {
    inner: HttpClient,
    counters: Arc<HttpCounters>,
}

#[async_trait]
impl HttpService for Counting {
    async fn call(&self, mut request: HttpRequest) -> Result<HttpResponse, HttpError> {
        drop_empty_bearer(&mut request);
        self.counters.requests.fetch_add(1, Ordering::Relaxed);
        let method = method_name(request.method().as_str());
        let started = Instant::now();
        let result = self.inner.execute(request).await;
        self.counters.attempts.record(method, started.elapsed());
        let retryable = match &result {
            Ok(response) => {
                let status = response.status().as_u16();
                status >= 500 || status == 429 || status == 408
            }
            Err(e) => matches!(
                e.kind(),
                HttpErrorKind::Connect
                    | HttpErrorKind::Timeout
                    | HttpErrorKind::Request
                    | HttpErrorKind::Interrupted
            ),
        };
        if retryable {
            self.counters
                .retryable_failures
                .fetch_add(1, Ordering::Relaxed);
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_authorization(value: &str) -> HttpRequest {
        let mut request = HttpRequest::new(object_store::client::HttpRequestBody::empty());
        let value = reqwest::header::HeaderValue::from_str(value).unwrap();
        request.headers_mut().insert(AUTHORIZATION, value);
        request
    }

    #[test]
    fn an_empty_bearer_is_dropped_and_a_real_one_kept() {
        for empty in ["Bearer ", "Bearer"] {
            let mut request = with_authorization(empty);
            drop_empty_bearer(&mut request);
            assert!(request.headers().get(AUTHORIZATION).is_none(), "{empty:?}");
        }
        for kept in ["Bearer ya29.token", "AWS4-HMAC-SHA256 Credential=..."] {
            let mut request = with_authorization(kept);
            drop_empty_bearer(&mut request);
            assert_eq!(request.headers()[AUTHORIZATION], kept);
        }
    }
}
