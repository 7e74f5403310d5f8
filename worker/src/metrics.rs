//! Counters of the HTTP traffic behind every store this worker built: each request object_store sends,
//! and each attempt that failed in a way object_store retries (5xx, 429, 408, connect errors,
//! timeouts, broken connections). Counted at the HTTP client, so retries inside object_store show up.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use object_store::client::{
    HttpClient, HttpConnector, HttpError, HttpErrorKind, HttpRequest, HttpResponse, HttpService,
    ReqwestConnector,
};
use object_store::ClientOptions;

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

#[derive(Debug)]
struct Counting {
    inner: HttpClient,
    counters: Arc<HttpCounters>,
}

#[async_trait]
impl HttpService for Counting {
    async fn call(&self, request: HttpRequest) -> Result<HttpResponse, HttpError> {
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
