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
use std::sync::atomic::{AtomicU64, Ordering};
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
    next_handle: AtomicU64,
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
            next_handle: AtomicU64::new(1),
        }
    }

    pub fn new_handle(&self) -> u64 {
        self.next_handle.fetch_add(1, Ordering::Relaxed)
    }
}
