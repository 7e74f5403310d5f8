//! Snowflake stages (`snowflake://` URLs with `snowflake_*` options, as RustyObjectStore.jl
//! takes them): the gateway's REST calls (`gateway`), the stage as a store (`stage`), and
//! Snowflake's client-side encryption (`crypto`, `kms`, `encrypted`).

mod crypter;
mod crypto;
mod encrypted;
mod gateway;
mod kms;
mod stage;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use object_store::{ClientOptions, ObjectStore, RetryConfig};

use crate::codec::StoreConfig;
use crate::errors::{ErrorInfo, Kind};
use crate::metrics::HttpCounters;

/// The options a stage takes (`snowflake_` and these), as the seed names them.
const OPTIONS: [&str; 15] = [
    "stage",
    "encryption_scheme",
    "account",
    "database",
    "schema",
    "endpoint",
    "warehouse",
    "username",
    "password",
    "role",
    "master_token_path",
    "keyring_capacity",
    "keyring_ttl_secs",
    "stage_info_cache_ttl_secs",
    "heartbeat_secs",
];

const DEFAULT_TOKEN_PATH: &str = "/snowflake/session/token";

pub fn is_stage_url(url: &str) -> bool {
    url.get(..10)
        .is_some_and(|s| s.eq_ignore_ascii_case("snowflake:"))
}

fn config_error(message: String) -> ErrorInfo {
    ErrorInfo::new(Kind::Config, message)
}

struct Options<'a>(BTreeMap<&'a str, &'a str>);

impl<'a> Options<'a> {
    fn read(config: &'a StoreConfig) -> Result<Options<'a>, ErrorInfo> {
        let mut found = BTreeMap::new();
        for (name, value) in &config.options {
            let short = name.strip_prefix("snowflake_").unwrap_or(name);
            if !OPTIONS.contains(&short) {
                return Err(config_error(format!(
                    "unknown option {name:?} for a Snowflake stage (it takes snowflake_{})",
                    OPTIONS.join(", snowflake_")
                )));
            }
            found.insert(short, value.as_str());
        }
        Ok(Options(found))
    }

    fn get(&self, name: &str) -> Option<String> {
        self.0
            .get(name)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    }

    fn required(&self, name: &str) -> Result<String, ErrorInfo> {
        self.get(name).ok_or_else(|| {
            config_error(format!(
                "a Snowflake stage needs snowflake_{name} (SnowflakeConfig's {name}, or \
                 SNOWFLAKE_{} in the environment)",
                name.to_ascii_uppercase()
            ))
        })
    }

    fn number(&self, name: &str) -> Result<Option<u64>, ErrorInfo> {
        self.get(name)
            .map(|v| {
                v.parse::<u64>().map_err(|_| {
                    config_error(format!(
                        "snowflake_{name} must be a whole non-negative number, got {v:?}"
                    ))
                })
            })
            .transpose()
    }

    fn seconds(&self, name: &str, default: u64) -> Result<Duration, ErrorInfo> {
        Ok(Duration::from_secs(self.number(name)?.unwrap_or(default)))
    }
}

fn seconds_or(value: Option<f64>, default: u64) -> Duration {
    value
        .and_then(|v| Duration::try_from_secs_f64(v).ok())
        .unwrap_or(Duration::from_secs(default))
}

/// The stage store of a `snowflake://` configuration; nothing is asked of Snowflake until the
/// first call.
pub fn build(
    config: &StoreConfig,
    client: ClientOptions,
    retry: RetryConfig,
    http: &Arc<HttpCounters>,
) -> Result<Arc<dyn ObjectStore>, ErrorInfo> {
    let o = Options::read(config)?;
    let url_stage = config
        .url
        .get(12..)
        .map(|s| s.trim_matches('/').to_string())
        .filter(|s| !s.is_empty());
    let stage = o
        .get("stage")
        .or(url_stage)
        .ok_or_else(|| config_error("a Snowflake stage needs its name (snowflake_stage)".into()))?;
    let required = match o.get("encryption_scheme") {
        None => None,
        Some(name) => Some(crypto::Scheme::parse(&name).ok_or_else(|| {
            config_error(format!(
                "snowflake_encryption_scheme must be AES_128_CBC or AES_256_GCM, got {name:?}"
            ))
        })?),
    };
    let endpoint = o.required("endpoint")?;
    let endpoint = if endpoint.contains("://") {
        endpoint.trim_end_matches('/').to_string()
    } else {
        format!("https://{}", endpoint.trim_end_matches('/'))
    };
    let login = gateway::Login {
        account: o.required("account")?,
        database: o.required("database")?,
        schema: o.required("schema")?,
        warehouse: o.get("warehouse"),
        role: o.get("role"),
        username: o.get("username"),
        password: o.get("password"),
        master_token_path: PathBuf::from(
            o.get("master_token_path")
                .unwrap_or_else(|| DEFAULT_TOKEN_PATH.to_string()),
        ),
    };
    let heartbeat = o.seconds("heartbeat_secs", 300)?;
    if heartbeat.is_zero() {
        return Err(config_error(
            "snowflake_heartbeat_secs must be at least 1".into(),
        ));
    }
    let settings = gateway::Settings {
        endpoint,
        login,
        stage,
        retry: retry.clone(),
        stage_info_ttl: o.seconds("stage_info_cache_ttl_secs", 40 * 60)?,
        heartbeat,
        request_timeout: seconds_or(config.client.timeout_secs.map(|t| t.0), 180),
        connect_timeout: seconds_or(config.client.connect_timeout_secs.map(|t| t.0), 30),
    };
    let encryption = stage::Encryption {
        required,
        keyring_capacity: usize::try_from(o.number("keyring_capacity")?.unwrap_or(100_000))
            .unwrap_or(usize::MAX),
        keyring_ttl: o.seconds("keyring_ttl_secs", 10 * 60)?,
    };
    let gateway = gateway::Gateway::new(settings)?;
    Ok(Arc::new(stage::StageStore::new(
        gateway,
        encryption,
        client,
        retry,
        Arc::clone(http),
    )))
}
