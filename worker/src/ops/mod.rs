//! One module per operation. Each takes its decoded request and returns the response's fields.

pub mod assembly;
pub mod attributes;
pub mod conditions;
pub mod files;
pub mod get;
pub mod list;
pub mod meta;
pub mod multipart;
pub mod put;
pub mod sign;
pub mod stream;
pub mod upload_writer;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;

use crate::arena::Arena;
use crate::latency::Latencies;
use crate::stores::Stores;

/// What every operation can reach: the arena, the stores, and the handles that outlive one request.
pub struct Ctx {
    pub arena: Arc<Arena>,
    pub stores: Stores,
    /// How long each operation took, by op (the `metrics` request reads it).
    pub latency: Latencies,
    pub uploads: Mutex<HashMap<u64, multipart::Upload>>,
    pub listings: Mutex<HashMap<u64, list::Listing>>,
    pub streams: Mutex<HashMap<u64, mpsc::UnboundedSender<stream::Command>>>,
    /// The writer's queue, for streams that answer from their own task.
    pub out: mpsc::UnboundedSender<Vec<u8>>,
    /// Work that stdin's EOF waits for (within a grace): what ends an upload on the server.
    pub cleanups: Cleanups,
    next_handle: AtomicU64,
}

/// A count of running work that leaves nothing behind on a server once it ends (an upload's
/// abort, a stream's task): at EOF the worker waits for it, for a while, before it exits.
#[derive(Default)]
pub struct Cleanups {
    running: AtomicUsize,
}

/// One piece of that work, counted while it lives.
pub struct Cleanup<'a>(&'a Cleanups);

impl Cleanups {
    pub fn start(&self) -> Cleanup<'_> {
        self.running.fetch_add(1, Ordering::SeqCst);
        Cleanup(self)
    }

    /// Returns once none is running.
    pub async fn settled(&self) {
        while self.running.load(Ordering::SeqCst) > 0 {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    }
}

impl Drop for Cleanup<'_> {
    fn drop(&mut self) {
        self.0.running.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Ctx {
    pub fn new(arena: Arena, stores: Stores, out: mpsc::UnboundedSender<Vec<u8>>) -> Self {
        Ctx {
            arena: Arc::new(arena),
            stores,
            latency: Latencies::default(),
            uploads: Mutex::new(HashMap::new()),
            listings: Mutex::new(HashMap::new()),
            streams: Mutex::new(HashMap::new()),
            out,
            cleanups: Cleanups::default(),
            next_handle: AtomicU64::new(1),
        }
    }

    pub fn new_handle(&self) -> u64 {
        self.next_handle.fetch_add(1, Ordering::Relaxed)
    }
}
