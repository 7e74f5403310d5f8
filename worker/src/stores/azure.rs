//! Azure Blob stores (`az://`, `azure://`, `abfs://`, Azure's https URLs).

use std::sync::Arc;

use object_store::azure::{AzureConfigKey, MicrosoftAzureBuilder};

use super::{
    client_options, cloud_store, named, option_is_true, parse_option, FromUrl, Keeps, Store,
    AZURE_DELETE_BATCH,
};
use crate::azure_commit::CommitChecked;
use crate::azure_tags::{BlobTags, Place};
use crate::credentials::BearerPushed;
use crate::errors::ErrorInfo;
use crate::metrics::CountingConnector;

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
    // Tags are read and written with the store's credential: an unsigned store carries none.
    let tags = if option_is_true(from.config, "skip_signature") {
        None
    } else {
        let options: Vec<(AzureConfigKey, String)> = from
            .config
            .options
            .iter()
            .filter_map(|(k, v)| Some((parse_option(k, STORE).ok()?, v.clone())))
            .collect();
        let connector = CountingConnector(Arc::clone(from.http));
        let credentials = azure.credentials().clone();
        let client = client_options(from.config)?;
        BlobTags::new(
            Place::of(&from.url, &options),
            credentials,
            &connector,
            client,
        )
    };
    Ok(Store {
        signer: from.signing(azure.clone(), true),
        bucket: named("container", container),
        delete_batch: AZURE_DELETE_BATCH,
        ..from.store(Arc::new(CommitChecked::new(azure, tags)), keeps)
    })
}
