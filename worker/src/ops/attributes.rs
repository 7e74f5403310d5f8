//! A write's attributes and tags (protocol.md's `attributes`, `tags`) as object_store's
//! `Attributes` and `TagSet`, and a read's attributes as they travel back. object_store drops what
//! a backend cannot keep without a word (tags everywhere but S3 and Azure, metadata over HTTP,
//! everything on `file://`), so the worker refuses those itself.

use object_store::{Attribute, AttributeValue, Attributes, GetResult, TagSet};

use crate::codec::{Attached, Meta};
use crate::errors::{ErrorInfo, Kind};
use crate::stores::Store;

/// The standard attributes by their header names.
const STANDARD: [(&str, Attribute); 5] = [
    ("Cache-Control", Attribute::CacheControl),
    ("Content-Disposition", Attribute::ContentDisposition),
    ("Content-Encoding", Attribute::ContentEncoding),
    ("Content-Language", Attribute::ContentLanguage),
    ("Content-Type", Attribute::ContentType),
];

/// `attached` as object_store's options for a write to `store` (Python's error names the key).
pub fn write_options(store: &Store, attached: Attached) -> Result<(Attributes, TagSet), ErrorInfo> {
    let keeps = store.keeps;
    let refuse = |what: String| {
        Err(ErrorInfo::new(
            Kind::NotSupported,
            format!("{} stores cannot keep {what}", keeps.store),
        ))
    };
    let mut attributes = Attributes::with_capacity(attached.attributes.len());
    for (name, value) in attached.attributes {
        let standard = STANDARD
            .iter()
            .find(|(header, _)| header.eq_ignore_ascii_case(&name));
        let attribute = match standard {
            Some((_, attribute)) if keeps.standard => attribute.clone(),
            Some((header, _)) => return refuse(format!("the attribute {header}")),
            None if keeps.metadata => Attribute::Metadata(name.into()),
            None => return refuse(format!("user metadata (the attribute {name:?})")),
        };
        attributes.insert(attribute, value.into());
    }
    let mut tags = TagSet::default();
    if let Some(name) = attached.tags.keys().next() {
        if !keeps.tags {
            return refuse(format!("tags (the tag {name:?})"));
        }
    }
    for (name, value) in &attached.tags {
        tags.push(name, value);
    }
    Ok((attributes, tags))
}

/// The meta of a read's answer, with its attributes.
pub fn read_meta(result: &GetResult) -> Meta {
    Meta {
        attributes: Some(read_back(&result.attributes)),
        ..Meta::from(&result.meta)
    }
}

/// A read's attributes as name and value pairs, in name order: standard ones under their header
/// names, user metadata under its own.
fn read_back(attributes: &Attributes) -> Vec<(String, String)> {
    let mut pairs: Vec<(String, String)> = attributes
        .iter()
        .filter_map(|(attribute, value): (&Attribute, &AttributeValue)| {
            let name = match attribute {
                Attribute::Metadata(name) => name.to_string(),
                // No read answers a storage class (object_store parses none) and no write sets one.
                other => STANDARD
                    .iter()
                    .find(|(_, standard)| standard == other)?
                    .0
                    .to_string(),
            };
            Some((name, value.as_ref().to_string()))
        })
        .collect();
    pairs.sort();
    pairs
}
