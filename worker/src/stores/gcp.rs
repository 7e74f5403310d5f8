//! Google Cloud Storage stores (`gs://`, GCS's https URLs).

use object_store::gcp::{GoogleCloudStorageBuilder, GoogleConfigKey};

use super::{cloud_store, named, FromUrl, Keeps, Store};
use crate::credentials::GcpPushed;
use crate::errors::ErrorInfo;

pub(super) const STORE: &str = "GCS";

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
