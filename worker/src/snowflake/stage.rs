//! A Snowflake stage as a store: on first use it asks Snowflake where the stage lives (S3 or
//! Azure), builds that store with the stage's temporary credentials (asked again before they run
//! out), under the stage's prefix, and encrypted when the stage is.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use object_store::aws::{AmazonS3Builder, AwsCredential};
use object_store::azure::{AzureCredential, MicrosoftAzureBuilder};
use object_store::prefix::PrefixStore;
use object_store::{ClientOptions, CredentialProvider, ObjectStore, Result, RetryConfig};
use std::time::SystemTime;

use crate::azure_commit::CommitChecked;
use crate::errors::{raised, ErrorInfo, Kind};
use crate::metrics::{CountingConnector, HttpCounters};
use crate::snowflake::crypto::Scheme;
use crate::snowflake::encrypted::{EncryptedStore, DEFAULT_SCHEME};
use crate::snowflake::gateway::{Gateway, StageInfo};
use crate::snowflake::kms::{Keyring, Kms, Location};
use crate::wrapping::forward_object_store;

/// An Azure SAS this close to its expiry is asked for again.
const SAS_MARGIN: chrono::TimeDelta = chrono::TimeDelta::minutes(5);

pub struct Encryption {
    /// The scheme the configuration asks for (then the stage must be encrypted).
    pub required: Option<Scheme>,
    pub keyring_capacity: usize,
    pub keyring_ttl: std::time::Duration,
}

struct Lazy {
    gateway: Arc<Gateway>,
    encryption: Encryption,
    client: ClientOptions,
    retry: RetryConfig,
    http: Arc<HttpCounters>,
    store: tokio::sync::OnceCell<Arc<dyn ObjectStore>>,
}

#[derive(Clone)]
pub struct StageStore(Arc<Lazy>);

impl std::fmt::Debug for StageStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "StageStore({})", self.0.gateway.stage())
    }
}

impl std::fmt::Display for StageStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SnowflakeStage({})", self.0.gateway.stage())
    }
}

fn stage_error(message: String) -> ErrorInfo {
    ErrorInfo::new(Kind::Unknown, format!("Snowflake: {message}"))
}

impl StageStore {
    pub fn new(
        gateway: Arc<Gateway>,
        encryption: Encryption,
        client: ClientOptions,
        retry: RetryConfig,
        http: Arc<HttpCounters>,
    ) -> StageStore {
        StageStore(Arc::new(Lazy {
            gateway,
            encryption,
            client,
            retry,
            http,
            store: tokio::sync::OnceCell::new(),
        }))
    }

    async fn store(&self) -> Result<&Arc<dyn ObjectStore>> {
        self.0
            .store
            .get_or_try_init(|| async { self.0.build().await.map_err(raised) })
            .await
    }
}

impl Lazy {
    async fn build(&self) -> Result<Arc<dyn ObjectStore>, ErrorInfo> {
        let info = self.gateway.upload_info().await?;
        let stage_info = &info.stage_info;
        let (bucket, prefix) = stage_info.bucket_and_prefix()?;
        let mut client = self.client.clone();
        if stage_info
            .test_endpoint
            .as_deref()
            .is_some_and(|e| e.starts_with("http://"))
        {
            client = client.with_allow_http(true);
        }
        let connector = CountingConnector(Arc::clone(&self.http));
        let (store, location): (Arc<dyn ObjectStore>, Location) =
            match stage_info.location_type.to_ascii_uppercase().as_str() {
                "S3" => {
                    let mut b = AmazonS3Builder::new()
                        .with_bucket_name(bucket)
                        .with_region(
                            stage_info
                                .region
                                .clone()
                                .unwrap_or_else(|| "us-east-1".into()),
                        )
                        .with_credentials(Arc::new(S3Credentials(Arc::clone(&self.gateway))))
                        .with_unsigned_payload(true)
                        .with_client_options(client)
                        .with_retry(self.retry.clone())
                        .with_http_connector(connector);
                    b = match (&stage_info.test_endpoint, &stage_info.end_point) {
                        (Some(test), _) => b.with_endpoint(test.trim_end_matches('/')),
                        (None, Some(end_point)) => b
                            .with_endpoint(format!("https://{bucket}.{end_point}"))
                            .with_virtual_hosted_style_request(true),
                        (None, None) => b.with_virtual_hosted_style_request(true),
                    };
                    let built = b
                        .build()
                        .map_err(|e| stage_error(format!("the S3 stage: {e}")))?;
                    (Arc::new(built), Location::S3)
                }
                "AZURE" => {
                    let account = stage_info.storage_account.as_deref().ok_or_else(|| {
                        stage_error("the Azure stage's answer names no storage account".into())
                    })?;
                    let mut b = MicrosoftAzureBuilder::new()
                        .with_account(account)
                        .with_container_name(bucket)
                        .with_credentials(Arc::new(AzureCredentials(Arc::clone(&self.gateway))))
                        .with_client_options(client)
                        .with_retry(self.retry.clone())
                        .with_http_connector(connector);
                    b = match (&stage_info.test_endpoint, &stage_info.end_point) {
                        // An emulator's base URL: the account goes in the path (Azurite's form).
                        (Some(test), _) => {
                            b.with_endpoint(format!("{}/{account}", test.trim_end_matches('/')))
                        }
                        (None, Some(end_point)) => {
                            b.with_endpoint(format!("https://{account}.{end_point}"))
                        }
                        (None, None) => b,
                    };
                    let built = b
                        .build()
                        .map_err(|e| stage_error(format!("the Azure stage: {e}")))?;
                    (
                        Arc::new(CommitChecked::new(Arc::new(built), None)),
                        Location::Azure,
                    )
                }
                other => {
                    return Err(ErrorInfo::new(
                        Kind::NotSupported,
                        format!(
                            "Snowflake stage {} lives on {other:?}; this library reaches stages on \
                             S3 and Azure",
                            self.gateway.stage()
                        ),
                    ))
                }
            };
        let store: Arc<dyn ObjectStore> = if prefix.is_empty() {
            store
        } else {
            Arc::new(PrefixStore::new(store, prefix))
        };
        if !stage_info.is_client_side_encrypted {
            if let Some(scheme) = self.encryption.required {
                return Err(ErrorInfo::new(
                    Kind::Config,
                    format!(
                        "Snowflake stage {} is not client-side encrypted, but the configuration \
                         asks for {scheme:?}: leave encryption_scheme unset for this stage",
                        self.gateway.stage()
                    ),
                ));
            }
            return Ok(store);
        }
        let kms = Kms {
            gateway: Arc::clone(&self.gateway),
            location,
            scheme: self.encryption.required.unwrap_or(DEFAULT_SCHEME),
            keyring: Keyring::new(
                self.encryption.keyring_capacity,
                self.encryption.keyring_ttl,
            ),
        };
        Ok(Arc::new(EncryptedStore::new(store, kms)))
    }
}

fn credential_error(info: ErrorInfo) -> object_store::Error {
    raised(info)
}

#[derive(Debug)]
struct S3Credentials(Arc<Gateway>);

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Gateway({})", self.stage())
    }
}

#[async_trait]
impl CredentialProvider for S3Credentials {
    type Credential = AwsCredential;

    async fn get_credential(&self) -> Result<Arc<AwsCredential>> {
        let info = self.0.upload_info().await.map_err(credential_error)?;
        let s = &info.stage_info;
        let (Some(key_id), Some(secret_key)) =
            (s.credential("AWS_KEY_ID"), s.credential("AWS_SECRET_KEY"))
        else {
            return Err(credential_error(stage_error(
                "the S3 stage's answer carries no AWS_KEY_ID and AWS_SECRET_KEY".into(),
            )));
        };
        // A MinIO-backed stage hands out keys without a session token.
        let token = s
            .credential("AWS_TOKEN")
            .map(str::trim)
            .filter(|t| !t.is_empty());
        Ok(Arc::new(AwsCredential {
            key_id: key_id.to_string(),
            secret_key: secret_key.to_string(),
            token: token.map(str::to_string),
        }))
    }
}

#[derive(Debug)]
struct AzureCredentials(Arc<Gateway>);

/// When a SAS token's `se` says it expires (a time, or a day as in "2030-01-01").
fn sas_expiry(pairs: &[(String, String)]) -> Option<DateTime<Utc>> {
    let (_, se) = pairs.iter().find(|(k, _)| k == "se")?;
    if let Ok(t) = DateTime::parse_from_rfc3339(se) {
        return Some(t.with_timezone(&Utc));
    }
    let day = NaiveDate::parse_from_str(se, "%Y-%m-%d").ok()?;
    Some(day.and_hms_opt(0, 0, 0)?.and_utc())
}

fn now() -> DateTime<Utc> {
    DateTime::<Utc>::from(SystemTime::now())
}

fn sas_pairs(info: &StageInfo) -> Result<Vec<(String, String)>> {
    let sas = info.credential("AZURE_SAS_TOKEN").ok_or_else(|| {
        credential_error(stage_error(
            "the Azure stage's answer carries no AZURE_SAS_TOKEN".into(),
        ))
    })?;
    Ok(
        url::form_urlencoded::parse(sas.trim().trim_start_matches('?').as_bytes())
            .into_owned()
            .collect(),
    )
}

#[async_trait]
impl CredentialProvider for AzureCredentials {
    type Credential = AzureCredential;

    async fn get_credential(&self) -> Result<Arc<AzureCredential>> {
        let info = self.0.upload_info().await.map_err(credential_error)?;
        let mut pairs = sas_pairs(&info.stage_info)?;
        if sas_expiry(&pairs).is_some_and(|se| se < now() + SAS_MARGIN) {
            let info = self
                .0
                .refresh_upload_info()
                .await
                .map_err(credential_error)?;
            pairs = sas_pairs(&info.stage_info)?;
            if sas_expiry(&pairs).is_some_and(|se| se < now()) {
                return Err(credential_error(ErrorInfo::new(
                    Kind::Permission,
                    "Snowflake handed out an Azure SAS token that has already expired",
                )));
            }
        }
        Ok(Arc::new(AzureCredential::SASToken(pairs)))
    }
}

// Every call waits for the stage's store, built on the first.
forward_object_store! {
    impl ObjectStore for StageStore {
        forward(later |s| s.store().await?) *;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sas_expiry_is_read_as_a_time_or_a_day() {
        let pairs = |se: &str| {
            vec![
                ("sv".to_string(), "x".to_string()),
                ("se".to_string(), se.to_string()),
            ]
        };
        assert_eq!(
            sas_expiry(&pairs("2030-01-02T03:04:05Z")).map(|t| t.to_rfc3339()),
            Some("2030-01-02T03:04:05+00:00".to_string())
        );
        assert_eq!(
            sas_expiry(&pairs("2030-01-02")).map(|t| t.to_rfc3339()),
            Some("2030-01-02T00:00:00+00:00".to_string())
        );
        assert_eq!(sas_expiry(&pairs("soon")), None);
        assert_eq!(sas_expiry(&[]), None);
    }
}
