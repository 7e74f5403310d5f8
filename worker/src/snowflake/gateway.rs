//! The Snowflake REST calls a stage needs: login (an OAuth master token file, or a user name and
//! password), session renewal before the token runs out, a heartbeat every few minutes, and the
//! `PUT` / `GET` queries that answer a stage's location, temporary credentials and master keys.
//! No message built here carries a token, a password, a credential or a key.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use object_store::RetryConfig;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};
use url::Url;

use crate::errors::{ErrorInfo, Kind};

/// A session token this close to its end is renewed before the next call.
const RENEW_BEFORE: Duration = Duration::from_secs(180);

/// Who logs in, to which account and database.
pub struct Login {
    pub account: String,
    pub database: String,
    pub schema: String,
    pub warehouse: Option<String>,
    pub role: Option<String>,
    /// Logs in with a user name and password when both are given, else with the token file.
    pub username: Option<String>,
    pub password: Option<String>,
    pub master_token_path: PathBuf,
}

pub struct Settings {
    /// `https://account.snowflakecomputing.com`, without a trailing slash.
    pub endpoint: String,
    pub login: Login,
    pub stage: String,
    pub retry: RetryConfig,
    /// How long the answer of a stage's `PUT` query (credentials, master key) is kept.
    pub stage_info_ttl: Duration,
    pub heartbeat: Duration,
    pub request_timeout: Duration,
    pub connect_timeout: Duration,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StageInfo {
    pub location_type: String,
    pub location: String,
    #[serde(default)]
    pub region: Option<String>,
    #[serde(default)]
    pub storage_account: Option<String>,
    #[serde(default)]
    pub is_client_side_encrypted: bool,
    #[serde(default)]
    pub creds: HashMap<String, Option<String>>,
    #[serde(default)]
    pub end_point: Option<String>,
    /// Not part of Snowflake's API: a test gateway's storage server (as in RustyObjectStore.jl).
    #[serde(default)]
    pub test_endpoint: Option<String>,
}

impl StageInfo {
    pub fn credential(&self, name: &str) -> Option<&str> {
        self.creds.get(name).and_then(|v| v.as_deref())
    }

    /// The bucket or container and the prefix of the stage's files (`location` is
    /// "bucket/prefix/").
    pub fn bucket_and_prefix(&self) -> Result<(&str, &str), ErrorInfo> {
        let (bucket, prefix) = self
            .location
            .split_once('/')
            .unwrap_or((&self.location, ""));
        if bucket.is_empty() {
            return Err(answer_error(format!(
                "the stage's location {:?} names no bucket or container",
                self.location
            )));
        }
        Ok((bucket, prefix.trim_end_matches('/')))
    }
}

#[derive(Deserialize, Clone)]
#[serde(rename_all = "camelCase")]
pub struct EncryptionMaterial {
    pub query_stage_master_key: String,
    pub query_id: String,
    pub smk_id: Value,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UploadInfo {
    pub stage_info: StageInfo,
    #[serde(default)]
    pub encryption_material: Option<EncryptionMaterial>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DownloadInfo {
    #[serde(rename = "src_locations", default)]
    src_locations: Vec<String>,
    #[serde(default)]
    encryption_material: Vec<Option<EncryptionMaterial>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LoginData {
    token: String,
    validity_in_seconds: u64,
    master_token: String,
    master_validity_in_seconds: u64,
}

#[derive(Deserialize)]
struct RenewData {
    #[serde(rename = "sessionToken")]
    session_token: String,
    #[serde(rename = "validityInSecondsST")]
    validity: u64,
    #[serde(rename = "masterToken")]
    master_token: String,
    #[serde(rename = "validityInSecondsMT")]
    master_validity: u64,
}

struct Session {
    token: String,
    expires: Instant,
    master: String,
    master_expires: Instant,
}

pub struct Gateway {
    settings: Settings,
    http: reqwest::Client,
    session: tokio::sync::Mutex<Option<Session>>,
    upload: tokio::sync::Mutex<Option<(Instant, Arc<UploadInfo>)>>,
    heartbeat_started: AtomicBool,
    me: Weak<Gateway>,
}

fn answer_error(message: String) -> ErrorInfo {
    ErrorInfo::new(Kind::Unknown, format!("Snowflake: {message}"))
}

/// A failure to reach the gateway at all, by what the HTTP client says of it.
fn transport_error(what: &str, err: reqwest::Error) -> ErrorInfo {
    let kind = if err.is_timeout() {
        Kind::Timeout
    } else if err.is_connect() {
        Kind::Connection
    } else {
        Kind::Unknown
    };
    let err = err.without_url();
    let mut text = err.to_string();
    let mut source = std::error::Error::source(&err);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    ErrorInfo::new(kind, format!("Snowflake {what}: {text}"))
}

fn request_id() -> String {
    // A UUID (version 4) as Snowflake's clients send.
    let mut bytes = crate::ids::unique_bytes();
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex = crate::ids::hex(&bytes);
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

/// Single quotes for a stage path inside a query's text.
fn quoted(text: &str) -> String {
    format!("'{}'", text.replace('\\', "\\\\").replace('\'', "\\'"))
}

enum Failure {
    /// Worth sending again: a broken connection, a 5xx, a 429.
    Transient(ErrorInfo),
    /// The session token was refused: log in again, then send again.
    Unauthorized(ErrorInfo),
    Final(ErrorInfo),
}

impl Failure {
    fn into_info(self) -> ErrorInfo {
        match self {
            Failure::Transient(e) | Failure::Unauthorized(e) | Failure::Final(e) => e,
        }
    }
}

impl Gateway {
    pub fn new(settings: Settings) -> Result<Arc<Gateway>, ErrorInfo> {
        crate::tls::install();
        let http = reqwest::Client::builder()
            .timeout(settings.request_timeout)
            .connect_timeout(settings.connect_timeout)
            .build()
            .map_err(|e| {
                ErrorInfo::new(
                    Kind::Config,
                    format!("cannot build Snowflake's HTTP client: {e}"),
                )
            })?;
        Ok(Arc::new_cyclic(|me| Gateway {
            settings,
            http,
            session: tokio::sync::Mutex::new(None),
            upload: tokio::sync::Mutex::new(None),
            heartbeat_started: AtomicBool::new(false),
            me: me.clone(),
        }))
    }

    pub fn stage(&self) -> &str {
        &self.settings.stage
    }

    fn url(&self, path: &str, query: &[(&str, &str)]) -> Result<Url, ErrorInfo> {
        let mut url = Url::parse(&format!("{}{path}", self.settings.endpoint)).map_err(|e| {
            ErrorInfo::new(
                Kind::Config,
                format!(
                    "the Snowflake endpoint {:?} is not a URL: {e}",
                    self.settings.endpoint
                ),
            )
        })?;
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        Ok(url)
    }

    /// One POST with a JSON body; the answer's `data` when it says `success`.
    async fn post<T: DeserializeOwned>(
        &self,
        what: &str,
        url: Url,
        authorization: Option<&str>,
        body: &Value,
    ) -> Result<T, Failure> {
        let mut request = self
            .http
            .post(url)
            .header("Content-Type", "application/json")
            .header("Accept", "application/json")
            .body(body.to_string());
        if let Some(token) = authorization {
            request = request.header("Authorization", format!("Snowflake Token=\"{token}\""));
        }
        let response = request
            .send()
            .await
            .map_err(|e| Failure::Transient(transport_error(what, e)))?;
        let status = response.status();
        let text = response
            .text()
            .await
            .map_err(|e| Failure::Transient(transport_error(what, e)))?;
        if !status.is_success() {
            let mut info = ErrorInfo::new(
                Kind::HttpStatus,
                format!("Snowflake {what}: the gateway answered {status}"),
            );
            info.status = Some(status.as_u16());
            return Err(match status.as_u16() {
                401 | 403 => {
                    info.kind = Kind::Permission;
                    Failure::Unauthorized(info)
                }
                429 | 500..=599 => Failure::Transient(info),
                _ => Failure::Final(info),
            });
        }
        let answer: Value = serde_json::from_str(&text).map_err(|e| {
            Failure::Final(answer_error(format!("the {what} answer is not JSON: {e}")))
        })?;
        if answer.get("success").and_then(Value::as_bool) != Some(true) {
            let code = answer.get("code").and_then(Value::as_str).unwrap_or("?");
            let message = answer
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or("no message");
            let query_id = answer
                .pointer("/data/queryId")
                .and_then(Value::as_str)
                .unwrap_or("-");
            // 390xxx: the session or the login itself (an expired token, a wrong password);
            // 002003: the stage does not exist (or this role may not see it).
            let kind = if code.starts_with("390") {
                Kind::Permission
            } else if code == "002003" {
                Kind::BucketNotFound
            } else {
                Kind::Unknown
            };
            let info = ErrorInfo::new(
                kind,
                format!("Snowflake {what} failed (code {code}, query id {query_id}): {message}"),
            );
            return Err(if matches!(code, "390112" | "390114") {
                Failure::Unauthorized(info)
            } else {
                Failure::Final(info)
            });
        }
        let data = answer.get("data").cloned().unwrap_or(Value::Null);
        serde_json::from_value(data).map_err(|e| {
            Failure::Final(answer_error(format!(
                "the {what} answer is not understood: {e}"
            )))
        })
    }

    async fn login(&self) -> Result<Session, ErrorInfo> {
        let l = &self.settings.login;
        let mut query = vec![
            ("accountName", l.account.as_str()),
            ("databaseName", l.database.as_str()),
            ("schemaName", l.schema.as_str()),
        ];
        if let Some(warehouse) = &l.warehouse {
            query.push(("warehouse", warehouse));
        }
        if let Some(role) = &l.role {
            query.push(("roleName", role));
        }
        let request_id = request_id();
        query.push(("requestId", &request_id));
        let data = match (&l.username, &l.password) {
            (Some(user), Some(password)) => json!({
                "ACCOUNT_NAME": l.account,
                "LOGIN_NAME": user,
                "PASSWORD": password,
            }),
            _ => {
                let token = std::fs::read_to_string(&l.master_token_path).map_err(|e| {
                    ErrorInfo::new(
                        Kind::Config,
                        format!(
                            "Snowflake login: cannot read the master token file {} ({e}); give \
                             master_token_path (or MASTER_TOKEN_PATH), or a username and password",
                            l.master_token_path.display()
                        ),
                    )
                })?;
                json!({
                    "ACCOUNT_NAME": l.account,
                    "TOKEN": token.trim(),
                    "AUTHENTICATOR": "OAUTH",
                })
            }
        };
        let url = self.url("/session/v1/login-request", &query)?;
        let body = json!({ "data": data });
        let data: LoginData = self
            .with_retries(|| self.post("login", url.clone(), None, &body))
            .await?;
        let now = Instant::now();
        self.start_heartbeat();
        Ok(Session {
            token: data.token,
            expires: now + Duration::from_secs(data.validity_in_seconds),
            master: data.master_token,
            master_expires: now + Duration::from_secs(data.master_validity_in_seconds),
        })
    }

    async fn renew(&self, old: &Session) -> Result<Session, ErrorInfo> {
        let request_id = request_id();
        let url = self.url("/session/token-request", &[("requestId", &request_id)])?;
        let body = json!({ "oldSessionToken": old.token, "requestType": "RENEW" });
        let data: RenewData = self
            .with_retries(|| self.post("session renewal", url.clone(), Some(&old.master), &body))
            .await?;
        let now = Instant::now();
        Ok(Session {
            token: data.session_token,
            expires: now + Duration::from_secs(data.validity),
            master: data.master_token,
            master_expires: now + Duration::from_secs(data.master_validity),
        })
    }

    /// A session token with at least `RENEW_BEFORE` left: the current one, a renewed one, or
    /// one from a new login when renewal fails or the master token has run out too.
    async fn token(&self) -> Result<String, ErrorInfo> {
        let mut session = self.session.lock().await;
        let now = Instant::now();
        if let Some(s) = session.as_ref() {
            if now + RENEW_BEFORE < s.expires {
                return Ok(s.token.clone());
            }
        }
        let renewed = match session.as_ref() {
            Some(old) if now < old.master_expires => self.renew(old).await.ok(),
            _ => None,
        };
        let fresh = match renewed {
            Some(s) => s,
            None => self.login().await?,
        };
        let token = fresh.token.clone();
        *session = Some(fresh);
        Ok(token)
    }

    async fn forget_session(&self, token: &str) {
        let mut session = self.session.lock().await;
        if session.as_ref().is_some_and(|s| s.token == token) {
            *session = None;
        }
    }

    /// Sends again what failed for a transient reason, with the store's backoff, within its
    /// retry count and timeout.
    async fn with_retries<T, F, Fut>(&self, mut send: F) -> Result<T, ErrorInfo>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, Failure>>,
    {
        let retry = &self.settings.retry;
        let started = Instant::now();
        let mut backoff = retry.backoff.init_backoff;
        let mut retries = 0;
        loop {
            match send().await {
                Ok(value) => return Ok(value),
                Err(Failure::Transient(_))
                    if retries < retry.max_retries && started.elapsed() < retry.retry_timeout =>
                {
                    tokio::time::sleep(backoff).await;
                    backoff = backoff
                        .mul_f64(retry.backoff.base)
                        .min(retry.backoff.max_backoff);
                    retries += 1;
                }
                Err(failure) => return Err(failure.into_info()),
            }
        }
    }

    /// A query's `data`, logging in again once if the session was refused.
    async fn query<T: DeserializeOwned>(&self, sql: &str) -> Result<T, ErrorInfo> {
        let mut relogged = false;
        loop {
            let token = self.token().await?;
            let request_id = request_id();
            let url = self.url("/queries/v1/query-request", &[("requestId", &request_id)])?;
            let body = json!({ "sqlText": sql, "asyncExec": false, "sequenceId": 1 });
            let sent = self
                .with_retries(|| self.post("query", url.clone(), Some(&token), &body))
                .await;
            match sent {
                Err(e) if e.kind == Kind::Permission && !relogged => {
                    self.forget_session(&token).await;
                    relogged = true;
                }
                other => return other,
            }
        }
    }

    /// The stage's location, credentials and current master key, kept for `stage_info_ttl`.
    pub async fn upload_info(&self) -> Result<Arc<UploadInfo>, ErrorInfo> {
        let mut cached = self.upload.lock().await;
        if let Some((at, info)) = cached.as_ref() {
            if at.elapsed() < self.settings.stage_info_ttl {
                return Ok(Arc::clone(info));
            }
        }
        let info = Arc::new(self.fetch_upload_info().await?);
        *cached = Some((Instant::now(), Arc::clone(&info)));
        Ok(info)
    }

    /// The stage's answer asked again, for credentials that are about to run out.
    pub async fn refresh_upload_info(&self) -> Result<Arc<UploadInfo>, ErrorInfo> {
        let mut cached = self.upload.lock().await;
        let info = Arc::new(self.fetch_upload_info().await?);
        *cached = Some((Instant::now(), Arc::clone(&info)));
        Ok(info)
    }

    async fn fetch_upload_info(&self) -> Result<UploadInfo, ErrorInfo> {
        let sql = format!(
            "PUT 'file:///tmp/rustyobjectstore' {}",
            quoted(&format!("@{}", self.stage()))
        );
        self.query(&sql).await
    }

    /// The master key that encrypted the stage file `path` (relative to the stage).
    pub async fn master_key_of(&self, path: &str) -> Result<EncryptionMaterial, ErrorInfo> {
        let sql = format!(
            "GET {} 'file:///tmp/rustyobjectstore'",
            quoted(&format!("@{}/{path}", self.stage()))
        );
        let info: DownloadInfo = self.query(&sql).await?;
        let position = info.src_locations.iter().position(|l| l == path);
        let material = position
            .and_then(|i| info.encryption_material.get(i).cloned())
            .or_else(|| {
                // One file asked, one answer: some gateways name it otherwise (a prefix).
                (info.encryption_material.len() == 1).then(|| info.encryption_material[0].clone())
            })
            .flatten();
        material.ok_or_else(|| {
            ErrorInfo::new(
                Kind::NotFound,
                format!("Snowflake has no encryption material for {path:?} on the stage"),
            )
        })
    }

    /// Keeps the session alive while the store lives (Snowflake ends idle sessions).
    fn start_heartbeat(&self) {
        if self.heartbeat_started.swap(true, Ordering::SeqCst) {
            return;
        }
        let me = self.me.clone();
        let every = self.settings.heartbeat;
        tokio::spawn(async move {
            let mut interval = tokio::time::interval(every);
            interval.tick().await;
            loop {
                interval.tick().await;
                let Some(gateway) = me.upgrade() else { break };
                gateway.heartbeat().await;
            }
        });
    }

    async fn heartbeat(&self) {
        let token = match self.session.lock().await.as_ref() {
            Some(s) => s.token.clone(),
            None => return,
        };
        let Ok(url) = self.url("/session/heartbeat", &[("requestId", &request_id())]) else {
            return;
        };
        // A failed heartbeat costs nothing now: the next call renews or logs in again.
        let sent: Result<Value, Failure> =
            self.post("heartbeat", url, Some(&token), &json!({})).await;
        if let Err(Failure::Unauthorized(_)) = sent {
            self.forget_session(&token).await;
        }
    }
}
