//! A multipart upload to a store that keeps what it is given (`memory://`), of a size told at its
//! start: each part is copied into one buffer of that size as it comes, and the whole is one put
//! at the end. object_store's own in-memory upload keeps every part and joins them when it
//! completes: a second copy of the whole object, into fresh pages, on the runtime's thread.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use bytes::Bytes;
use object_store::path::Path;
use object_store::{
    MultipartUpload, ObjectStore, PutMultipartOptions, PutOptions, PutPayload, PutResult,
    UploadPart,
};

use crate::errors::{ErrorInfo, Kind};
use crate::memory;
use crate::sync::lock;

pub struct Assembly {
    store: Arc<dyn ObjectStore>,
    path: Path,
    options: PutMultipartOptions,
    size: usize,
    /// Written at offsets below `size` by the parts' copies; its length stays 0 until every byte
    /// is there.
    buffer: Arc<Mutex<Vec<u8>>>,
    /// Where the next part goes: parts follow one another in the order they are given.
    next: usize,
    /// The bytes copied in so far.
    filled: Arc<AtomicUsize>,
}

impl Assembly {
    /// A `StorageFull` error, before anything is stored, for an object the machine has no
    /// memory for: larger than all of it, or than the system will lend now.
    pub fn new(
        store: Arc<dyn ObjectStore>,
        path: Path,
        options: PutMultipartOptions,
        size: usize,
    ) -> Result<Self, ErrorInfo> {
        let no_room = |why: &str| {
            ErrorInfo::new(
                Kind::StorageFull,
                format!("memory:// has no room for an object of {size} bytes: {why}"),
            )
        };
        if memory::physical_bytes().is_some_and(|all| size as u64 > all) {
            return Err(no_room("it is larger than this machine's memory"));
        }
        let mut buffer = Vec::new();
        buffer
            .try_reserve_exact(size)
            .map_err(|_| no_room("the system would not lend that much memory"))?;
        Ok(Assembly {
            store,
            path,
            options,
            size,
            buffer: Arc::new(Mutex::new(buffer)),
            next: 0,
            filled: Arc::new(AtomicUsize::new(0)),
        })
    }
}

impl std::fmt::Debug for Assembly {
    // Not the buffer: it may hold gigabytes.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Assembly")
            .field("path", &self.path)
            .field("size", &self.size)
            .field("next", &self.next)
            .finish_non_exhaustive()
    }
}

fn refused(message: String) -> object_store::Error {
    object_store::Error::Generic {
        store: "memory://",
        source: message.into(),
    }
}

#[async_trait]
impl MultipartUpload for Assembly {
    fn put_part(&mut self, data: PutPayload) -> UploadPart {
        let at = self.next;
        let len = data.content_length();
        if len > self.size - at {
            let message = format!(
                "the upload was started for {} bytes; a part of {len} at {at} goes past them",
                self.size
            );
            return Box::pin(async move { Err(refused(message)) });
        }
        self.next += len;
        let buffer = Arc::clone(&self.buffer);
        let filled = Arc::clone(&self.filled);
        Box::pin(async move {
            tokio::task::spawn_blocking(move || {
                let mut buffer = lock(&buffer);
                // None once the upload has been completed or aborted: the part has nowhere to go.
                let Some(mut into) = buffer.spare_capacity_mut().get_mut(at..at + len) else {
                    return Err(refused("the upload has ended".into()));
                };
                for chunk in &data {
                    let (head, rest) = into.split_at_mut(chunk.len());
                    memory::copy_into(head, chunk);
                    into = rest;
                }
                filled.fetch_add(len, Ordering::AcqRel);
                Ok(())
            })
            .await
            .map_err(|e| refused(format!("a part's copy failed: {e}")))?
        })
    }

    async fn complete(&mut self) -> object_store::Result<PutResult> {
        let filled = self.filled.load(Ordering::Acquire);
        if filled != self.size {
            return Err(refused(format!(
                "the upload was started for {} bytes; its parts brought {filled}",
                self.size
            )));
        }
        let mut buffer = std::mem::take(&mut *lock(&self.buffer));
        // SAFETY: the parts lie end to end from offset 0 (each starts where the one before
        // ended) within the capacity, and all of them have been copied in: their bytes add up
        // to `size`, so every byte below it is written.
        unsafe { buffer.set_len(self.size) };
        let options = PutOptions {
            attributes: std::mem::take(&mut self.options.attributes),
            tags: std::mem::take(&mut self.options.tags),
            ..PutOptions::default()
        };
        let payload = PutPayload::from(Bytes::from(buffer));
        self.store.put_opts(&self.path, payload, options).await
    }

    async fn abort(&mut self) -> object_store::Result<()> {
        drop(std::mem::take(&mut *lock(&self.buffer)));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use object_store::memory::InMemory;
    use object_store::ObjectStoreExt;

    use super::*;

    fn assembly(store: &Arc<InMemory>, size: usize) -> Assembly {
        let store: Arc<dyn ObjectStore> = store.clone();
        Assembly::new(store, Path::from("k"), PutMultipartOptions::default(), size).unwrap()
    }

    #[test]
    fn an_object_larger_than_the_machine_is_refused_before_anything_is_kept() {
        let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
        let all = memory::physical_bytes().unwrap();
        let size = usize::try_from(all + 1).unwrap();
        let options = PutMultipartOptions::default();
        let refused = Assembly::new(store, Path::from("k"), options, size).unwrap_err();
        assert_eq!(refused.kind, Kind::StorageFull);
        assert!(
            refused
                .message
                .contains("larger than this machine's memory"),
            "{}",
            refused.message
        );
    }

    #[tokio::test]
    async fn parts_land_in_order_whatever_order_their_copies_run() {
        let store = Arc::new(InMemory::new());
        let mut upload = assembly(&store, 10);
        let first = upload.put_part(PutPayload::from(Bytes::from_static(b"0123")));
        let second = upload.put_part(PutPayload::from_iter([
            Bytes::from_static(b"45"),
            Bytes::from_static(b"6789"),
        ]));
        second.await.unwrap();
        first.await.unwrap();
        upload.complete().await.unwrap();
        let got = store
            .get(&Path::from("k"))
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        assert_eq!(&got[..], b"0123456789");
    }

    #[tokio::test]
    async fn too_many_or_too_few_bytes_store_nothing() {
        let store = Arc::new(InMemory::new());
        let mut upload = assembly(&store, 4);
        let past = upload.put_part(PutPayload::from(Bytes::from_static(b"01234")));
        assert!(past.await.unwrap_err().to_string().contains("goes past"));
        upload
            .put_part(PutPayload::from(Bytes::from_static(b"012")))
            .await
            .unwrap();
        let short = upload.complete().await.unwrap_err();
        assert!(short.to_string().contains("brought 3"), "{short}");
        assert!(store.head(&Path::from("k")).await.is_err());
    }

    #[tokio::test]
    async fn a_part_after_the_end_finds_nowhere_to_go() {
        let store = Arc::new(InMemory::new());
        let mut upload = assembly(&store, 4);
        let late = upload.put_part(PutPayload::from(Bytes::from_static(b"0123")));
        upload.abort().await.unwrap();
        assert!(late.await.unwrap_err().to_string().contains("has ended"));
    }
}
