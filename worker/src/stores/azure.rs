//! Azure Blob stores (`az://`, `azure://`, `abfs://`, Azure's https URLs).

use std::sync::Arc;

use object_store::azure::{AzureConfigKey, MicrosoftAzureBuilder};

use super::{cloud_store, named, FromUrl, Keeps, Store, AZURE_DELETE_BATCH};
use crate::azure_commit::CommitChecked;
use crate::credentials::BearerPushed;
use crate::errors::ErrorInfo;

pub(super) const STORE: &str = "Azure";

pub(super) fn build(from: FromUrl<'_>) -> Result<Store, ErrorInfo> {
    let (azure, container) = cloud_store!(
        from,
        MicrosoftAzureBuilder,
        AzureConfigKey,
        STORE,
        AzureConfigKey::ContainerName,
        BearerPushed
    );
    let keeps = Keeps {
        store: STORE,
        standard: true,
        metadata: true,
        tags: from.tagging(),
    };
    Ok(Store {
        signer: from.signing(azure.clone(), true),
        bucket: named("container", container),
        delete_batch: AZURE_DELETE_BATCH,
        ..from.store(Arc::new(CommitChecked::new(azure)), keeps)
    })
}
