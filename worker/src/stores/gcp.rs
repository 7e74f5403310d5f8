//! Google Cloud Storage stores (`gs://`, GCS's https URLs).

use object_store::gcp::{GoogleCloudStorageBuilder, GoogleConfigKey};

use super::{cloud_store, named, parse_option, FromUrl, Keeps, Store};
use crate::credentials::GcpPushed;
use crate::errors::ErrorInfo;

const STORE: &str = "GCS";

/// Whether the builder takes every option in `names`, parsed as `build` parses them.
pub(super) fn check_names(names: &[String]) -> Result<(), ErrorInfo> {
    names
        .iter()
        .try_for_each(|name| parse_option::<GoogleConfigKey>(name, STORE).map(drop))
}

pub(super) fn build(from: FromUrl<'_>) -> Result<Store, ErrorInfo> {
    let (gcs, bucket) = cloud_store!(
        from,
        GoogleCloudStorageBuilder,
        GoogleConfigKey,
        STORE,
        GoogleConfigKey::Bucket,
        GcpPushed
    );
    // object_store sends GCS no tags.
    let keeps = Keeps {
        store: STORE,
        standard: true,
        metadata: true,
        tags: false,
    };
    Ok(Store {
        signer: from.signing(gcs.clone(), false),
        bucket: named("bucket", bucket),
        ..from.store(gcs, keeps)
    })
}
