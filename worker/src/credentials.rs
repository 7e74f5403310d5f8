//! Credentials pushed by Python (a configuration's `credential_provider`, protocol.md's
//! `credentials` message): one slot per provider, shared by every store built with it; each HTTP
//! request is signed with the newest value the slot holds, so a refresh never stops a request
//! in flight.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, RwLock};

use async_trait::async_trait;
use object_store::aws::AwsCredential;
use object_store::azure::AzureCredential;
use object_store::gcp::GcpCredential;
use object_store::{CredentialProvider, StaticCredentialProvider};

use crate::codec::{CredentialsPush, PushedAws, Secret};
use crate::sync;

#[derive(Clone)]
enum Value {
    Aws(Arc<AwsCredential>),
    Bearer(String),
}

/// What one provider handed out last.
#[derive(Default)]
pub struct Slot {
    value: RwLock<Option<Value>>,
}

impl fmt::Debug for Slot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Slot(***)") // never the credentials themselves
    }
}

impl Slot {
    fn read(&self) -> Option<Value> {
        sync::read(&self.value).clone()
    }

    fn missing(&self, wanted: &str) -> object_store::Error {
        object_store::Error::Unauthenticated {
            path: String::new(),
            source: format!("the credential provider has handed this worker no {wanted}").into(),
        }
    }
}

/// Every provider's slot, by the number Python gave it.
#[derive(Default)]
pub struct Slots {
    slots: Mutex<HashMap<u32, Arc<Slot>>>,
}

impl Slots {
    pub fn slot(&self, provider: u32) -> Arc<Slot> {
        let mut slots = sync::lock(&self.slots);
        Arc::clone(slots.entry(provider).or_default())
    }

    pub fn push(&self, push: CredentialsPush) {
        let value = match (push.aws, push.bearer) {
            (
                Some(PushedAws {
                    key_id,
                    secret_key,
                    token,
                }),
                _,
            ) => Value::Aws(Arc::new(AwsCredential {
                key_id,
                secret_key,
                token,
            })),
            (None, Some(Secret(bearer))) => Value::Bearer(bearer),
            (None, None) => return,
        };
        let slot = self.slot(push.provider);
        *sync::write(&slot.value) = Some(value);
    }
}

/// S3's signer reads this.
#[derive(Debug)]
pub struct AwsPushed(pub Arc<Slot>);

#[async_trait]
impl CredentialProvider for AwsPushed {
    type Credential = AwsCredential;

    async fn get_credential(&self) -> object_store::Result<Arc<AwsCredential>> {
        match self.0.read() {
            Some(Value::Aws(keys)) => Ok(keys),
            _ => Err(self.0.missing("AWS keys")),
        }
    }
}

/// Azure's and GCS's: a bearer token.
#[derive(Debug)]
pub struct BearerPushed(pub Arc<Slot>);

#[async_trait]
impl CredentialProvider for BearerPushed {
    type Credential = AzureCredential;

    async fn get_credential(&self) -> object_store::Result<Arc<AzureCredential>> {
        match self.0.read() {
            Some(Value::Bearer(token)) => Ok(Arc::new(AzureCredential::BearerToken(token))),
            _ => Err(self.0.missing("bearer token")),
        }
    }
}

#[derive(Debug)]
pub struct GcpPushed(pub Arc<Slot>);

#[async_trait]
impl CredentialProvider for GcpPushed {
    type Credential = GcpCredential;

    async fn get_credential(&self) -> object_store::Result<Arc<GcpCredential>> {
        match self.0.read() {
            Some(Value::Bearer(bearer)) => Ok(Arc::new(GcpCredential { bearer })),
            _ => Err(self.0.missing("bearer token")),
        }
    }
}

/// The credential a store is built with when its requests go out unsigned (`skip_signature`),
/// for a backend that would still ask for one.
pub trait Unsigned: CredentialProvider + Sized {
    fn unsigned() -> Option<Arc<dyn CredentialProvider<Credential = Self::Credential>>> {
        None
    }
}

impl Unsigned for AwsPushed {}

impl Unsigned for BearerPushed {}

impl Unsigned for GcpPushed {
    /// object_store's GCS client asks for a token before every upload even when it signs nothing
    /// (its `Request::send`): without this, an anonymous write asks the metadata server first.
    /// The empty token's header is dropped by the HTTP client (`metrics::Counting`).
    fn unsigned() -> Option<Arc<dyn CredentialProvider<Credential = GcpCredential>>> {
        Some(Arc::new(StaticCredentialProvider::new(GcpCredential {
            bearer: String::new(),
        })))
    }
}
