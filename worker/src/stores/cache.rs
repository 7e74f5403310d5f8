//! Built stores, cached by configuration with a capacity, a time to live and a time to idle.
//! `memory://` stores hold the data, so they are never evicted.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::{build, Store};
use crate::codec::StoreConfig;
use crate::credentials::{Slot, Slots};
use crate::errors::{ErrorInfo, Kind};
use crate::metrics::HttpCounters;
use crate::sync::lock;

pub struct CacheSettings {
    pub capacity: usize,
    /// How long a built store is kept, and how long it may go unused; zero: no limit (as in
    /// RustyObjectStore.jl, whose users set 0 to keep clients for the life of the process).
    pub ttl: Duration,
    pub tti: Duration,
}

impl CacheSettings {
    fn fresh(&self, entry: &Cached, now: Instant) -> bool {
        let within =
            |since: Instant, limit: Duration| limit.is_zero() || now.duration_since(since) < limit;
        within(entry.created, self.ttl) && within(entry.last_used, self.tti)
    }
}

struct Cached {
    store: Arc<Store>,
    created: Instant,
    last_used: Instant,
}

pub struct Stores {
    settings: CacheSettings,
    /// The HTTP traffic of every store built here (the `metrics` request reads it).
    pub http: Arc<HttpCounters>,
    /// What credential providers pushed (protocol.md's `credentials`).
    pub credentials: Slots,
    registered: Mutex<HashMap<u32, Arc<StoreConfig>>>,
    cache: Mutex<HashMap<Arc<StoreConfig>, Cached>>,
    memory: Mutex<HashMap<Arc<StoreConfig>, Arc<Store>>>,
}

impl Stores {
    pub fn new(settings: CacheSettings) -> Self {
        Stores {
            settings,
            http: Arc::new(HttpCounters::default()),
            credentials: Slots::default(),
            registered: Mutex::new(HashMap::new()),
            cache: Mutex::new(HashMap::new()),
            memory: Mutex::new(HashMap::new()),
        }
    }

    pub fn register(&self, id: u32, config: StoreConfig) {
        lock(&self.registered).insert(id, Arc::new(config));
    }

    /// Forgets the built store of the registered `id` (every built store when None), so that
    /// the next call builds it anew. Memory stores are kept: their objects live in them.
    pub fn invalidate(&self, id: Option<u32>) {
        match id {
            None => lock(&self.cache).clear(),
            Some(id) => {
                let config = lock(&self.registered).get(&id).cloned();
                if let Some(config) = config {
                    lock(&self.cache).remove(&config);
                }
            }
        }
    }

    /// The store registered as `id`, built on first use and rebuilt after it expires.
    pub fn get(&self, id: u32) -> Result<Arc<Store>, ErrorInfo> {
        let config = lock(&self.registered).get(&id).cloned().ok_or_else(|| {
            ErrorInfo::new(Kind::Protocol, format!("store {id} was never registered"))
        })?;
        if is_memory(&config.url) {
            return self.memory_store(config);
        }
        let now = Instant::now();
        if let Some(entry) = lock(&self.cache).get_mut(&config) {
            if self.settings.fresh(entry, now) {
                entry.last_used = now;
                return Ok(Arc::clone(&entry.store));
            }
        }
        // Built outside the lock: building an HTTP client takes a while.
        let store = Arc::new(build(&config, &self.http, self.slot(&config))?);
        let mut cache = lock(&self.cache);
        cache.insert(
            config,
            Cached {
                store: Arc::clone(&store),
                created: now,
                last_used: now,
            },
        );
        self.evict(&mut cache, now);
        Ok(store)
    }

    fn evict(&self, cache: &mut HashMap<Arc<StoreConfig>, Cached>, now: Instant) {
        cache.retain(|_, e| self.settings.fresh(e, now));
        while cache.len() > self.settings.capacity.max(1) {
            let oldest = cache
                .iter()
                .min_by_key(|(_, e)| e.last_used)
                .map(|(k, _)| Arc::clone(k));
            match oldest {
                Some(key) => cache.remove(&key),
                None => break,
            };
        }
    }

    fn slot(&self, config: &StoreConfig) -> Option<Arc<Slot>> {
        config
            .credentials
            .map(|provider| self.credentials.slot(provider))
    }

    fn memory_store(&self, config: Arc<StoreConfig>) -> Result<Arc<Store>, ErrorInfo> {
        let mut memory = lock(&self.memory);
        if let Some(store) = memory.get(&config) {
            return Ok(Arc::clone(store));
        }
        let store = Arc::new(build(&config, &self.http, self.slot(&config))?);
        memory.insert(config, Arc::clone(&store));
        Ok(store)
    }
}

fn is_memory(url: &str) -> bool {
    url.starts_with("memory:")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::{ClientSettings, RetrySettings};
    use std::collections::BTreeMap;

    fn cached_twice(ttl: Duration, tti: Duration) -> bool {
        let stores = Stores::new(CacheSettings {
            capacity: 4,
            ttl,
            tti,
        });
        let dir = std::env::temp_dir();
        let url = format!("file://{}", dir.display());
        stores.register(
            1,
            StoreConfig {
                url,
                options: BTreeMap::new(),
                client: ClientSettings::default(),
                retry: RetrySettings::default(),
                credentials: None,
            },
        );
        let first = stores.get(1).expect("a file store builds");
        std::thread::sleep(Duration::from_millis(5));
        let second = stores.get(1).expect("a file store builds");
        Arc::ptr_eq(&first, &second)
    }

    #[test]
    fn a_zero_ttl_or_tti_keeps_stores_without_limit() {
        let long = Duration::from_secs(3600);
        assert!(cached_twice(long, long));
        assert!(cached_twice(Duration::ZERO, Duration::ZERO));
        assert!(cached_twice(Duration::ZERO, long));
        assert!(cached_twice(long, Duration::ZERO));
        // A limit shorter than the pause between the two uses: built anew.
        assert!(!cached_twice(Duration::from_millis(1), Duration::ZERO));
        assert!(!cached_twice(Duration::ZERO, Duration::from_millis(1)));
    }
}
