//! S3 stores (`s3://`, `s3a://`, S3's https URLs).

use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};

use super::{cloud_store, named, parse_option, FromUrl, Keeps, Store};
use crate::credentials::AwsPushed;
use crate::errors::ErrorInfo;

const STORE: &str = "S3";

/// Whether the builder takes every option in `names`, parsed as `build` parses them.
pub(super) fn check_names(names: &[String]) -> Result<(), ErrorInfo> {
    names
        .iter()
        .try_for_each(|name| parse_option::<AmazonS3ConfigKey>(name, STORE).map(drop))
}

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
