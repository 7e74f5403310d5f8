//! S3 stores (`s3://`, `s3a://`, S3's https URLs).

use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};

use super::{cloud_store, named, FromUrl, Keeps, Store};
use crate::credentials::AwsPushed;
use crate::errors::ErrorInfo;

pub(super) const STORE: &str = "S3";

pub(super) fn build(from: FromUrl<'_>) -> Result<Store, ErrorInfo> {
    let (s3, bucket) = cloud_store!(
        from,
        AmazonS3Builder,
        AmazonS3ConfigKey,
        STORE,
        AmazonS3ConfigKey::Bucket,
        AwsPushed
    );
    let keeps = Keeps {
        store: STORE,
        standard: true,
        metadata: true,
        tags: from.tagging(),
    };
    Ok(Store {
        signer: from.signing(s3.clone(), false),
        bucket: named("bucket", bucket),
        ..from.store(s3, keeps)
    })
}
