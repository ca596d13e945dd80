//! Counters and a latency histogram for `getStats()`: lock-free, so the
//! hot path pays a few relaxed atomic adds per batch.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

/// Buckets grow by a quarter: 1 us .. about 1 hour in 100 buckets.
const BUCKETS: usize = 100;

#[derive(Default)]
pub struct Stats {
  pub commands: AtomicU64,
  pub errors: AtomicU64,
  pub timeouts: AtomicU64,
  pub fallbacks: AtomicU64,
  latency: Histogram,
  /// Sum of the recorded latencies (µs, once per command), for a Prometheus histogram's `_sum`.
  latency_sum_micros: AtomicU64,
}

pub struct Histogram {
  counts: [AtomicU64; BUCKETS],
}

impl Default for Histogram {
  fn default() -> Self {
    Histogram { counts: std::array::from_fn(|_| AtomicU64::new(0)) }
  }
}

fn bucket_of(micros: u64) -> usize {
  // log base 1.25 of the microseconds.
  let m = micros.max(1) as f64;
  ((m.ln() / 1.25f64.ln()) as usize).min(BUCKETS - 1)
}

fn bucket_upper_micros(b: usize) -> f64 {
  1.25f64.powi(b as i32 + 1)
}

impl Histogram {
  pub fn record(&self, elapsed: Duration, n: u64) {
    self.counts[bucket_of(elapsed.as_micros() as u64)].fetch_add(n, Relaxed);
  }

  /// Cumulative counts at each of `bounds` (seconds, ascending), then the total: a
  /// bucket counts toward the first bound at or above its upper edge (edges are 25% apart).
  pub fn cumulative(&self, bounds: &[f64]) -> (Vec<u64>, u64) {
    let mut at = vec![0u64; bounds.len()];
    let mut total = 0;
    for (b, c) in self.counts.iter().enumerate() {
      let c = c.load(Relaxed);
      total += c;
      let upper_s = bucket_upper_micros(b) / 1e6;
      if let Some(i) = bounds.iter().position(|&le| upper_s <= le) {
        at[i] += c;
      }
    }
    for i in 1..at.len() {
      at[i] += at[i - 1];
    }
    (at, total)
  }

  /// The latency below which `q` (0..1) of the samples fall, in ms.
  pub fn quantile_ms(&self, q: f64) -> f64 {
    let counts: Vec<u64> = self.counts.iter().map(|c| c.load(Relaxed)).collect();
    let total: u64 = counts.iter().sum();
    if total == 0 {
      return 0.0;
    }
    let want = (q * total as f64).ceil().max(1.0) as u64;
    let mut seen = 0;
    for (b, c) in counts.iter().enumerate() {
      seen += c;
      if seen >= want {
        return (bucket_upper_micros(b) / 1000.0 * 1000.0).round() / 1000.0;
      }
    }
    bucket_upper_micros(BUCKETS - 1) / 1000.0
  }
}

/// A snapshot for JS.
#[derive(Debug, Clone, Copy, Default)]
pub struct StatsSnapshot {
  pub commands: u64,
  pub errors: u64,
  pub timeouts: u64,
  pub fallbacks: u64,
  pub p50_ms: f64,
  pub p99_ms: f64,
}

impl Stats {
  /// One batch of `n` commands answered by Redis after `elapsed`.
  pub fn record_batch(&self, n: u64, elapsed: Duration) {
    self.commands.fetch_add(n, Relaxed);
    self.latency.record(elapsed, n);
    self.latency_sum_micros.fetch_add(elapsed.as_micros() as u64 * n, Relaxed);
  }

  /// The latency histogram in Prometheus' shape (seconds): `buckets` [[le, cumulative count]], `count`, `sum`.
  pub fn latency_histogram_json(&self) -> serde_json::Value {
    const BOUNDS: [f64; 16] =
      [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];
    let (at, total) = self.latency.cumulative(&BOUNDS);
    serde_json::json!({
      "buckets": BOUNDS.iter().zip(at).map(|(le, c)| serde_json::json!([le, c])).collect::<Vec<_>>(),
      "count": total,
      "sum": self.latency_sum_micros.load(Relaxed) as f64 / 1e6,
    })
  }

  pub fn snapshot(&self) -> StatsSnapshot {
    StatsSnapshot {
      commands: self.commands.load(Relaxed),
      errors: self.errors.load(Relaxed),
      timeouts: self.timeouts.load(Relaxed),
      fallbacks: self.fallbacks.load(Relaxed),
      p50_ms: self.latency.quantile_ms(0.5),
      p99_ms: self.latency.quantile_ms(0.99),
    }
  }
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn quantiles_follow_the_samples() {
    let s = Stats::default();
    s.record_batch(98, Duration::from_micros(100));
    s.record_batch(2, Duration::from_millis(50));
    let snap = s.snapshot();
    assert_eq!(snap.commands, 100);
    assert!(snap.p50_ms > 0.08 && snap.p50_ms < 0.13, "p50 {}", snap.p50_ms);
    assert!(snap.p99_ms > 40.0 && snap.p99_ms < 63.0, "p99 {}", snap.p99_ms);
    assert_eq!(Stats::default().snapshot().p50_ms, 0.0);
  }

  #[test]
  fn the_prometheus_histogram_is_cumulative() {
    let s = Stats::default();
    s.record_batch(3, Duration::from_micros(100));
    s.record_batch(1, Duration::from_millis(50));
    let h = s.latency_histogram_json();
    assert_eq!(h["count"], 4);
    let buckets = h["buckets"].as_array().unwrap();
    let at = |le: f64| buckets.iter().find(|b| b[0].as_f64() == Some(le)).unwrap()[1].as_u64().unwrap();
    assert_eq!(at(0.0001), 0, "100 µs falls in a bucket whose upper edge is above 100 µs");
    assert_eq!(at(0.00025), 3);
    assert_eq!(at(0.05), 3);
    assert_eq!(at(0.1), 4);
    assert_eq!(at(10.0), 4);
    assert!((h["sum"].as_f64().unwrap() - 0.0503).abs() < 1e-9);
  }
}
