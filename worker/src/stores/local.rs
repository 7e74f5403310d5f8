//! Stores on this machine: `memory://` and `file://`.

use std::sync::Arc;

use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::RetryConfig;

use super::{config_error, FromUrl, Keeps, Store};
use crate::errors::{self, ErrorInfo, Kind};

pub(super) fn memory(from: FromUrl<'_>) -> Result<Store, ErrorInfo> {
    from.no_options("memory://")?;
    let keeps = Keeps {
        store: "memory://",
        standard: true,
        metadata: true,
        tags: false,
    };
    Ok(Store {
        keeps_payload: true,
        versioned: false,
        ..from.store(Arc::new(InMemory::new()), keeps)
    })
}

pub(super) fn file(from: FromUrl<'_>) -> Result<Store, ErrorInfo> {
    from.no_options("file://")?;
    let dir = from.url.to_file_path().map_err(|()| {
        ErrorInfo::new(
            Kind::ParseUrl,
            format!("{:?} is not a local directory URL", from.config.url),
        )
    })?;
    if !dir.is_dir() {
        return Err(config_error(format!(
            "local store root {} is not an existing directory",
            dir.display()
        )));
    }
    let fs = LocalFileSystem::new_with_prefix(&dir)
        .map_err(|e| config_error(errors::from_object_store(&e).message))?;
    let keeps = Keeps {
        store: "file://",
        standard: false,
        metadata: false,
        tags: false,
    };
    // The prefix is already the root; nothing to wrap.
    Ok(Store {
        local_root: Some(dir),
        ..Store::new(Arc::new(fs), keeps, RetryConfig::default(), from.secrets)
    })
}
