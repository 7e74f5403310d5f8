//! A blob's tags, carried over by copies and renames: Azure's Copy Blob copies the content and
//! the metadata but not the tags, and object_store neither asks for them nor sends them. The
//! tags are read (Get Blob Tags) and written (Set Blob Tags) by requests of our own, signed by
//! object_store's `AzureAuthorizer` with the store's own credential, whatever its kind, and sent
//! by an HTTP client made as the store's is (its client options, TLS roots and counters).

use bytes::Bytes;
use object_store::azure::{AzureAuthorizer, AzureConfigKey, AzureCredentialProvider};
use object_store::client::{HttpClient, HttpConnector, HttpRequest, HttpRequestBody};
use object_store::path::Path;
use object_store::{ClientOptions, Result};
use url::Url;

use crate::errors::{raised, ErrorInfo, Kind};

/// Where a container's blobs are and how to sign requests to them.
pub struct BlobTags {
    http: HttpClient,
    /// The container's URL; a blob's is this and its key.
    container: Url,
    account: String,
    credentials: AzureCredentialProvider,
}

impl std::fmt::Debug for BlobTags {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "BlobTags({})", self.container)
    }
}

/// What the store's configuration says of where it is, in object_store's terms.
#[derive(Default)]
pub struct Place {
    pub account: Option<String>,
    pub container: Option<String>,
    pub endpoint: Option<String>,
    pub emulator: bool,
}

impl Place {
    /// The configuration's options (any alias), then its URL where they leave a gap, as
    /// object_store's builder reads them.
    pub fn of(url: &Url, options: &[(AzureConfigKey, String)]) -> Place {
        let mut place = Place::default();
        for (key, value) in options {
            match key {
                AzureConfigKey::AccountName => place.account = Some(value.clone()),
                AzureConfigKey::ContainerName => place.container = Some(value.clone()),
                AzureConfigKey::Endpoint => place.endpoint = Some(value.clone()),
                AzureConfigKey::UseEmulator => place.emulator = value.eq_ignore_ascii_case("true"),
                _ => {}
            }
        }
        let host = url.host_str().unwrap_or_default();
        match url.scheme() {
            "az" | "azure" | "adl" | "abfs" | "abfss" if url.username().is_empty() => {
                place.container.get_or_insert_with(|| host.to_string());
            }
            "abfs" | "abfss" => {
                place
                    .container
                    .get_or_insert_with(|| url.username().to_string());
                if let Some((account, _)) = host.split_once('.') {
                    place.account.get_or_insert_with(|| account.to_string());
                }
            }
            "https" => {
                if let Some((account, _)) = host.split_once('.') {
                    place.account.get_or_insert_with(|| account.to_string());
                }
                let first = url.path_segments().and_then(|mut s| s.next());
                if let Some(container) = first.filter(|c| !c.is_empty()) {
                    place.container.get_or_insert_with(|| container.to_string());
                }
            }
            _ => {}
        }
        place
    }
}

impl BlobTags {
    /// `None` where the container's URL cannot be told (an unusual endpoint: copies there do not
    /// carry tags, as the README says).
    pub fn new(
        place: Place,
        credentials: AzureCredentialProvider,
        connector: &dyn HttpConnector,
        options: ClientOptions,
    ) -> Option<BlobTags> {
        const EMULATOR: &str = "http://127.0.0.1:10000";
        let account = place
            .account
            .or_else(|| place.emulator.then(|| "devstoreaccount1".to_string()))?;
        let service = match (&place.endpoint, place.emulator) {
            (Some(endpoint), _) => endpoint.trim_end_matches('/').to_string(),
            (None, true) => format!(
                "{}/{account}",
                std::env::var("AZURITE_BLOB_STORAGE_URL")
                    .unwrap_or_else(|_| EMULATOR.to_string())
                    .trim_end_matches('/')
            ),
            (None, false) => format!("https://{account}.blob.core.windows.net"),
        };
        let container = Url::parse(&format!("{service}/{}/", place.container?)).ok()?;
        // The store reached the same service over http (the emulator), or it would not have
        // copied: the builder allows it there without saying so in the options.
        let http = connector
            .connect(&options.with_allow_http(container.scheme() == "http"))
            .ok()?;
        Some(BlobTags {
            http,
            container,
            account,
            credentials,
        })
    }

    fn blob_url(&self, path: &Path) -> Result<Url> {
        let mut url = self.container.clone();
        url.path_segments_mut()
            .map_err(|()| tags_error(format!("{} cannot hold a blob's path", self.container)))?
            .pop_if_empty()
            .extend(path.parts());
        url.set_query(Some("comp=tags"));
        Ok(url)
    }

    async fn send(&self, method: reqwest::Method, path: &Path, body: Bytes) -> Result<Bytes> {
        let url = self.blob_url(path)?;
        let mut request = HttpRequest::new(HttpRequestBody::from(body.clone()));
        *request.method_mut() = method;
        *request.uri_mut() = url
            .as_str()
            .parse()
            .map_err(|e| tags_error(format!("{url}: {e}")))?;
        if !body.is_empty() {
            let headers = request.headers_mut();
            headers.insert(
                reqwest::header::CONTENT_TYPE,
                "application/xml"
                    .parse()
                    .map_err(|e| tags_error(format!("a header: {e}")))?,
            );
            headers.insert(reqwest::header::CONTENT_LENGTH, body.len().into());
        }
        let credential = self.credentials.get_credential().await?;
        AzureAuthorizer::new(&credential, &self.account).try_authorize(&mut request)?;
        let answer = self
            .http
            .execute(request)
            .await
            .map_err(|e| tags_error(format!("{path}: {e}")))?;
        let status = answer.status();
        let text = answer
            .into_body()
            .bytes()
            .await
            .map_err(|e| tags_error(format!("{path}: {e}")))?;
        if !status.is_success() {
            let kind = match status.as_u16() {
                401 | 403 => Kind::Permission,
                404 => Kind::NotFound,
                _ => Kind::HttpStatus,
            };
            let mut info = ErrorInfo::new(
                kind,
                format!(
                    "{path}: the blob's tags: HTTP {status}: {}",
                    String::from_utf8_lossy(&text)
                ),
            );
            info.status = Some(status.as_u16());
            return Err(raised(info));
        }
        Ok(text)
    }

    /// Gives `to` the tags `from` has (after a copy of `from` to `to`); nothing when it has none.
    pub async fn copy(&self, from: &Path, to: &Path) -> Result<()> {
        let tags = match self.send(reqwest::Method::GET, from, Bytes::new()).await {
            // Credentials that may copy but not read tags (a SAS without its "t"): the copy
            // stands, as Copy Blob alone would leave it.
            Err(e) if crate::errors::from_object_store(&e).kind == Kind::Permission => {
                return Ok(())
            }
            other => other?,
        };
        if !tags.windows(5).any(|w| w == b"<Tag>") {
            return Ok(());
        }
        self.send(reqwest::Method::PUT, to, tags).await.map(drop)
    }
}

fn tags_error(message: String) -> object_store::Error {
    raised(ErrorInfo::new(Kind::Unknown, message))
}
