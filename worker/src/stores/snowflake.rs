//! Snowflake stages (`snowflake://`): the stage store itself is `crate::snowflake`'s.

use object_store::RetryConfig;
use std::sync::Arc;

use super::{client_options, Keeps, Store, AZURE_DELETE_BATCH};
use crate::codec::StoreConfig;
use crate::errors::ErrorInfo;
use crate::metrics::HttpCounters;

pub(super) fn build(
    config: &StoreConfig,
    retry: RetryConfig,
    secrets: &[String],
    http: &Arc<HttpCounters>,
) -> Result<Store, ErrorInfo> {
    let inner = crate::snowflake::build(config, client_options(config)?, retry.clone(), http)?;
    let keeps = Keeps {
        store: "Snowflake stage",
        standard: true,
        metadata: true,
        tags: false,
    };
    Ok(Store {
        // A stage lives on S3 or Azure; Azure's batch is the smaller of the two.
        delete_batch: AZURE_DELETE_BATCH,
        ..Store::new(inner, keeps, retry, secrets)
    })
}
