//! What a service reports about itself as JSON for `getStats()`,
//! `getFallbackCacheStats()` and the breaker metrics.

use crate::core::service::Service;

impl Service {
  /// Counters, percentiles, the journal and every breaker, for getStats().
  pub fn stats_json(&self) -> serde_json::Value {
    let s = self.resilience.stats.snapshot();
    let j = self.resilience.fallback().journal_stats();
    let breakers: serde_json::Map<String, serde_json::Value> =
      self.resilience.all_metrics().into_iter().map(|(name, m)| (name, metrics_json(&m))).collect();
    serde_json::json!({
      "commands": s.commands,
      "errors": s.errors,
      "timeouts": s.timeouts,
      "fallbacks": s.fallbacks,
      "latencyP50": s.p50_ms,
      "latencyP99": s.p99_ms,
      "degraded": self.resilience.is_degraded(),
      "journal": {
        "pending": j.pending,
        "journaled": j.journaled,
        "replayed": j.replayed,
        "rejected": j.rejected,
        "dropped": j.dropped,
        "expired": j.expired,
        "inDoubt": j.in_doubt,
        "restored": j.restored,
        "cutBytes": j.cut_bytes,
        "durable": self.resilience.fallback().durable_id().is_some(),
      },
      "circuitBreakers": breakers,
      "copies": crate::core::copies::COPIES.to_json(),
      // Pipelined connections carrying commands now (standalone: 0 or 1;
      // cluster: one per master), and whether they speak TLS.
      "lanes": { "open": self.open_lanes(), "tls": self.config.tls.enabled },
      "compression": self.values.stats_json(),
      "nearCache": self.near.as_ref().map(|n| {
        let s = n.stats();
        serde_json::json!({
          "hits": s.hits, "misses": s.misses, "invalidations": s.invalidations, "flushes": s.flushes,
          "entries": s.entries, "bytes": s.bytes, "tracking": n.live(),
        })
      }),
    })
  }

  /// The fallback store's figures, named like lru-cache's.
  pub fn fallback_stats_json(&self) -> serde_json::Value {
    let m = self.memory.stats();
    serde_json::json!({
      "size": m.item_count,
      "calculatedSize": m.size_bytes,
      "itemCount": m.item_count,
      "maxSize": m.max_bytes,
      "hits": m.hits,
      "misses": m.misses,
      "evictions": m.evictions,
    })
  }

  /// One breaker's metrics (`redis-get`, ...); `null` before its first use.
  pub fn breaker_json(&self, name: &str) -> serde_json::Value {
    self.resilience.metrics(name).map_or(serde_json::Value::Null, |m| metrics_json(&m))
  }
}

fn metrics_json(m: &crate::core::breaker::Metrics) -> serde_json::Value {
  serde_json::json!({
    "state": m.state.as_str(),
    "requests": m.requests,
    "failures": m.failures,
    "successes": m.successes,
    "rejects": m.rejects,
    "timeouts": m.timeouts,
    "fallbacks": m.fallbacks,
  })
}
