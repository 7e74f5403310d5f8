//! Azure Blob stores (`az://`, `azure://`, `abfs://`, Azure's https URLs).

use std::sync::Arc;

use object_store::azure::{AzureConfigKey, MicrosoftAzureBuilder};

use super::{cloud_store, named, parse_option, FromUrl, Keeps, Store, AZURE_DELETE_BATCH};
use crate::azure_commit::CommitChecked;
use crate::credentials::BearerPushed;
use crate::errors::ErrorInfo;

const STORE: &str = "Azure";

/// Whether the builder takes every option in `names`, parsed as `build` parses them.
pub(super) fn check_names(names: &[String]) -> Result<(), ErrorInfo> {
    names
        .iter()
        .try_for_each(|name| parse_option::<AzureConfigKey>(name, STORE).map(drop))
}

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
