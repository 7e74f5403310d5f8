//! Where an encrypted stage file keeps its key material, as Snowflake writes it: on S3 the
//! `x-amz-key`, `x-amz-iv`, `x-amz-cek-alg`, `x-amz-matdesc` and
//! `x-amz-unencrypted-content-length` user metadata; on Azure the `encryptiondata` and `matdesc`
//! metadata. And the keyring: the stage's master keys by the query id that handed them out.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use object_store::{Attribute, AttributeValue, Attributes};
use serde::{Deserialize, Serialize};

use crate::errors::{ErrorInfo, Kind};
use crate::snowflake::crypto::{self, Material, Scheme, Secret};
use crate::snowflake::gateway::{EncryptionMaterial, Gateway};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Location {
    S3,
    Azure,
}

const S3_KEY: &str = "x-amz-key";
const S3_IV: &str = "x-amz-iv";
const S3_ALG: &str = "x-amz-cek-alg";
const S3_MATDESC: &str = "x-amz-matdesc";
const S3_PLAIN_LEN: &str = "x-amz-unencrypted-content-length";
const AZURE_DATA: &str = "encryptiondata";
const AZURE_MATDESC: &str = "matdesc";

const CBC_ALG: &str = "AES/CBC/PKCS5Padding";
const GCM_ALG: &str = "AES/GCM/NoPadding";

/// The metadata names this module owns: a read does not hand them back as the object's own.
pub fn is_key_material(name: &str) -> bool {
    [
        S3_KEY,
        S3_IV,
        S3_ALG,
        S3_MATDESC,
        S3_PLAIN_LEN,
        AZURE_DATA,
        AZURE_MATDESC,
    ]
    .iter()
    .any(|n| n.eq_ignore_ascii_case(name))
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct MaterialDescription {
    smk_id: String,
    query_id: String,
    key_size: String,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct EncryptionData {
    encryption_mode: String,
    wrapped_content_key: WrappedContentKey,
    encryption_agent: EncryptionAgent,
    #[serde(rename = "ContentEncryptionIV")]
    content_encryption_iv: String,
    #[serde(default)]
    key_wrapping_metadata: HashMap<String, String>,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct WrappedContentKey {
    key_id: String,
    encrypted_key: String,
    algorithm: String,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct EncryptionAgent {
    protocol: String,
    encryption_algorithm: String,
}

fn data_error(message: String) -> ErrorInfo {
    ErrorInfo::new(Kind::Data, message)
}

fn metadata<'a>(attributes: &'a Attributes, name: &str) -> Option<&'a str> {
    attributes
        .get(&Attribute::Metadata(name.to_string().into()))
        .map(AttributeValue::as_ref)
}

fn required<'a>(attributes: &'a Attributes, name: &str, path: &str) -> Result<&'a str, ErrorInfo> {
    metadata(attributes, name).ok_or_else(|| {
        data_error(format!(
            "{path} is on an encrypted stage but has no {name:?} metadata: it was not written by a \
             Snowflake client"
        ))
    })
}

fn json<T: for<'de> Deserialize<'de>>(text: &str, name: &str, path: &str) -> Result<T, ErrorInfo> {
    serde_json::from_str(text).map_err(|e| {
        data_error(format!(
            "{path}: its {name:?} metadata is not understood: {e}"
        ))
    })
}

fn put(attributes: &mut Attributes, name: &'static str, value: String) {
    attributes.insert(Attribute::Metadata(name.into()), value.into());
}

/// What a read needs to decrypt an object, from its metadata.
pub struct Described {
    pub scheme: Scheme,
    pub query_id: String,
    pub wrapped_key: Secret,
    pub iv: Vec<u8>,
    /// Written beside S3 objects only.
    pub plain_len: Option<u64>,
}

/// Master keys by query id, each kept for the keyring's time to live (Snowflake's guarantee that
/// a revoked key stops decrypting within it) and at most `capacity` of them.
pub struct Keyring {
    capacity: usize,
    ttl: Duration,
    keys: Mutex<HashMap<String, (Instant, Arc<Secret>)>>,
}

impl Keyring {
    pub fn new(capacity: usize, ttl: Duration) -> Keyring {
        Keyring {
            capacity,
            ttl,
            keys: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (Instant, Arc<Secret>)>> {
        crate::sync::lock(&self.keys)
    }

    fn get(&self, query_id: &str) -> Option<Arc<Secret>> {
        let keys = self.lock();
        let (at, key) = keys.get(query_id)?;
        (at.elapsed() < self.ttl).then(|| Arc::clone(key))
    }

    fn insert(&self, query_id: &str, key: Arc<Secret>) {
        if self.capacity == 0 || self.ttl.is_zero() {
            return;
        }
        let mut keys = self.lock();
        if keys.len() >= self.capacity && !keys.contains_key(query_id) {
            keys.retain(|_, (at, _)| at.elapsed() < self.ttl);
            while keys.len() >= self.capacity {
                let oldest = keys
                    .iter()
                    .min_by_key(|(_, (at, _))| *at)
                    .map(|(k, _)| k.clone());
                match oldest {
                    Some(k) => keys.remove(&k),
                    None => break,
                };
            }
        }
        keys.insert(query_id.to_string(), (Instant::now(), key));
    }
}

/// An encrypted stage's keys: the current master key for writes, the keyring for reads.
pub struct Kms {
    pub gateway: Arc<Gateway>,
    pub location: Location,
    pub scheme: Scheme,
    pub keyring: Keyring,
}

impl Kms {
    fn master(material: &EncryptionMaterial) -> Result<Arc<Secret>, ErrorInfo> {
        Secret::from_base64(&material.query_stage_master_key, "stage's master key").map(Arc::new)
    }

    /// A fresh content key for a write of `plain_len` bytes (not known yet for an upload in
    /// parts), and the metadata that goes with it.
    pub async fn for_write(
        &self,
        plain_len: Option<usize>,
    ) -> Result<(Material, Attributes), ErrorInfo> {
        let info = self.gateway.upload_info().await?;
        let em = info.encryption_material.as_ref().ok_or_else(|| {
            ErrorInfo::new(
                Kind::Unknown,
                format!(
                    "Snowflake: stage {} is client-side encrypted but its answer carries no \
                     encryption material",
                    self.gateway.stage()
                ),
            )
        })?;
        let master = Self::master(em)?;
        self.keyring.insert(&em.query_id, Arc::clone(&master));
        let material = Material::fresh(self.scheme)?;
        let wrapped = crypto::to_base64(&crypto::wrap_key(&master, &material.key)?);
        let iv = crypto::to_base64(&material.iv);
        let smk_id = match &em.smk_id {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let description = MaterialDescription {
            smk_id,
            query_id: em.query_id.clone(),
            key_size: (master.bytes().len() * 8).to_string(),
        };
        let matdesc = serde_json::to_string(&description).unwrap_or_default();
        let mut attributes = Attributes::new();
        match self.location {
            Location::S3 => {
                put(&mut attributes, S3_KEY, wrapped);
                put(&mut attributes, S3_IV, iv);
                let alg = match self.scheme {
                    Scheme::Aes128Cbc => CBC_ALG,
                    Scheme::Aes256Gcm => GCM_ALG,
                };
                put(&mut attributes, S3_ALG, alg.to_string());
                put(&mut attributes, S3_MATDESC, matdesc);
                if let Some(n) = plain_len {
                    put(&mut attributes, S3_PLAIN_LEN, n.to_string());
                }
            }
            Location::Azure => {
                // Snowflake's Go and Java clients write these values for a CBC blob; a GCM one
                // names its own algorithm.
                let algorithm = match self.scheme {
                    Scheme::Aes128Cbc => "AES_CBC_128",
                    Scheme::Aes256Gcm => "AES_GCM_256",
                };
                let data = EncryptionData {
                    encryption_mode: "FullBlob".into(),
                    wrapped_content_key: WrappedContentKey {
                        key_id: "symmKey1".into(),
                        encrypted_key: wrapped,
                        algorithm: "AES_CBC_256".into(),
                    },
                    encryption_agent: EncryptionAgent {
                        protocol: "1.0".into(),
                        encryption_algorithm: algorithm.into(),
                    },
                    content_encryption_iv: iv,
                    key_wrapping_metadata: HashMap::from([(
                        "EncryptionLibrary".to_string(),
                        "Java 5.3.0".to_string(),
                    )]),
                };
                put(
                    &mut attributes,
                    AZURE_DATA,
                    serde_json::to_string(&data).unwrap_or_default(),
                );
                put(&mut attributes, AZURE_MATDESC, matdesc);
            }
        }
        Ok((material, attributes))
    }

    /// The key material an object's metadata describes (its key still wrapped).
    pub fn describe(&self, attributes: &Attributes, path: &str) -> Result<Described, ErrorInfo> {
        match self.location {
            Location::S3 => {
                let matdesc: MaterialDescription =
                    json(required(attributes, S3_MATDESC, path)?, S3_MATDESC, path)?;
                let scheme = match metadata(attributes, S3_ALG) {
                    None | Some(CBC_ALG) => Scheme::Aes128Cbc,
                    Some(GCM_ALG) => Scheme::Aes256Gcm,
                    Some(other) => {
                        return Err(data_error(format!(
                            "{path} is encrypted with {other:?}, which this library cannot decrypt"
                        )))
                    }
                };
                let plain_len = metadata(attributes, S3_PLAIN_LEN).and_then(|v| v.parse().ok());
                Ok(Described {
                    scheme,
                    query_id: matdesc.query_id,
                    wrapped_key: Secret::from_base64(required(attributes, S3_KEY, path)?, S3_KEY)?,
                    iv: Secret::from_base64(required(attributes, S3_IV, path)?, S3_IV)?
                        .bytes()
                        .to_vec(),
                    plain_len,
                })
            }
            Location::Azure => {
                let matdesc: MaterialDescription = json(
                    required(attributes, AZURE_MATDESC, path)?,
                    AZURE_MATDESC,
                    path,
                )?;
                let data: EncryptionData =
                    json(required(attributes, AZURE_DATA, path)?, AZURE_DATA, path)?;
                let scheme = match data.encryption_agent.encryption_algorithm.as_str() {
                    "AES_CBC_128" | "AES_CBC_256" => Scheme::Aes128Cbc,
                    "AES_GCM_256" => Scheme::Aes256Gcm,
                    other => {
                        return Err(data_error(format!(
                            "{path} is encrypted with {other:?}, which this library cannot decrypt"
                        )))
                    }
                };
                Ok(Described {
                    scheme,
                    query_id: matdesc.query_id,
                    wrapped_key: Secret::from_base64(
                        &data.wrapped_content_key.encrypted_key,
                        "EncryptedKey",
                    )?,
                    iv: Secret::from_base64(&data.content_encryption_iv, "ContentEncryptionIV")?
                        .bytes()
                        .to_vec(),
                    plain_len: None,
                })
            }
        }
    }

    /// The content key of the object at `path` (relative to the stage), from its description:
    /// its master key from the keyring, or asked of Snowflake by the file's path.
    pub async fn for_read(&self, described: &Described, path: &str) -> Result<Material, ErrorInfo> {
        let master = match self.keyring.get(&described.query_id) {
            Some(key) => key,
            None => {
                let material = self.gateway.master_key_of(path).await?;
                let key = Self::master(&material)?;
                self.keyring.insert(&described.query_id, Arc::clone(&key));
                key
            }
        };
        Ok(Material {
            scheme: described.scheme,
            key: crypto::unwrap_key(&master, described.wrapped_key.bytes())?,
            iv: described.iv.clone(),
        })
    }
}
