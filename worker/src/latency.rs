//! Latency histograms: how long each protocol operation took in this worker (from its frame to its
//! answer), and each HTTP attempt at the stores' client, by method. Buckets are log-scaled so that
//! Python can merge the workers' histograms exactly (protocol.md's `metrics`): bucket 0 holds
//! everything under 1 µs, bucket `i >= 1` the durations from `1 µs * 2^((i-1)/8)` to
//! `1 µs * 2^(i/8)` (a ninth apart), the last one everything past about an hour.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use crate::sync::lock;

pub const BUCKETS: usize = 256;

#[derive(Clone, Debug, PartialEq)]
pub struct Histogram {
    pub counts: Box<[u64; BUCKETS]>,
    pub count: u64,
    pub min_ns: u64,
    pub max_ns: u64,
    pub sum_ns: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            counts: Box::new([0; BUCKETS]),
            count: 0,
            min_ns: u64::MAX,
            max_ns: 0,
            sum_ns: 0,
        }
    }
}

pub fn bucket(ns: u64) -> usize {
    if ns < 1000 {
        return 0;
    }
    let eighths = 8.0 * (ns as f64 / 1000.0).log2();
    (eighths as usize + 1).min(BUCKETS - 1)
}

impl Histogram {
    pub fn record(&mut self, took: Duration) {
        let ns = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX);
        self.counts[bucket(ns)] += 1;
        self.count += 1;
        self.min_ns = self.min_ns.min(ns);
        self.max_ns = self.max_ns.max(ns);
        self.sum_ns = self.sum_ns.saturating_add(ns);
    }

    /// The buckets that hold anything, as (index, count).
    pub fn filled(&self) -> Vec<(u64, u64)> {
        (0..BUCKETS)
            .filter(|&i| self.counts[i] > 0)
            .map(|i| (i as u64, self.counts[i]))
            .collect()
    }
}

/// Histograms by name (an operation, an HTTP method).
#[derive(Default)]
pub struct Latencies(Mutex<BTreeMap<&'static str, Histogram>>);

impl Latencies {
    pub fn record(&self, name: &'static str, took: Duration) {
        let mut map = lock(&self.0);
        map.entry(name).or_default().record(took);
    }

    pub fn snapshot(&self) -> Vec<(&'static str, Histogram)> {
        let map = lock(&self.0);
        map.iter().map(|(k, v)| (*k, v.clone())).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_an_eighth_of_a_doubling_wide_from_one_microsecond() {
        assert_eq!(bucket(0), 0);
        assert_eq!(bucket(999), 0);
        assert_eq!(bucket(1000), 1);
        assert_eq!(bucket(1999), 8);
        assert_eq!(bucket(2000), 9);
        assert_eq!(bucket(1_000_000), 80); // 1 ms = 2^9.97 µs: 8 * 9.97 = 79.7
        assert_eq!(bucket(u64::MAX), BUCKETS - 1);
        let mut h = Histogram::default();
        h.record(Duration::from_micros(3));
        h.record(Duration::from_micros(3));
        h.record(Duration::from_millis(1));
        assert_eq!(h.filled(), vec![(bucket(3000) as u64, 2), (80, 1)]);
        assert_eq!(
            (h.count, h.min_ns, h.max_ns, h.sum_ns),
            (3, 3000, 1_000_000, 1_006_000)
        );
    }
}
