//! A read's conditions (protocol.md's `if_match`, `if_none_match`, `if_modified_since`,
//! `if_unmodified_since`, `version`) as object_store's `GetOptions`.

use chrono::DateTime;
use object_store::{GetOptions, ObjectMeta};

use crate::codec::Conditions;
use crate::errors::{ErrorInfo, Kind};
use crate::stores::Store;

/// The read's options under `when`. A version asked of a store that keeps none (`memory://`,
/// `file://`, where object_store would ignore it and read the current object) is `not_supported`.
pub fn options(when: Conditions, store: &Store, path: &str) -> Result<GetOptions, ErrorInfo> {
    if when.version.is_some() && !store.versioned {
        return Err(ErrorInfo::new(
            Kind::NotSupported,
            format!("{path}: this store keeps no versions, so it cannot read one"),
        ));
    }
    Ok(GetOptions {
        if_match: when.if_match,
        if_none_match: when.if_none_match,
        if_modified_since: when.if_modified_since.map(DateTime::from_timestamp_nanos),
        if_unmodified_since: when.if_unmodified_since.map(DateTime::from_timestamp_nanos),
        version: when.version,
        ..GetOptions::default()
    })
}

/// A versioned read's answer must be of that version: a server without versions may ignore the
/// asked-for one and answer with the current object (Azurite does), which would be read as the
/// old one.
pub fn check_version(
    asked: &Option<String>,
    meta: &ObjectMeta,
    path: &str,
) -> Result<(), ErrorInfo> {
    match asked {
        Some(asked) if meta.version.as_ref() != Some(asked) => Err(ErrorInfo::new(
            Kind::NotSupported,
            format!(
                "{path}: version {asked:?} was asked for, but the store answered with {}: it \
                 keeps no versions there",
                meta.version.as_deref().map_or_else(
                    || "an unversioned object".to_string(),
                    |v| format!("version {v:?}")
                )
            ),
        )),
        _ => Ok(()),
    }
}
