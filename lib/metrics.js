'use strict';
// service.metrics(): the Prometheus text exposition format (version 0.0.4),
// derived from the figures getStats() reads (core stats, breakers, fallback
// store, near cache, journal) and the facade's own counters. No Redis round trip.

const CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';
const BREAKER_STATES = ['closed', 'open', 'half-open'];

function escapeLabel(v) {
  return String(v).replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

function num(v) {
  if (v === true) return '1';
  if (v === false || v === null || v === undefined) return '0';
  const n = Number(v);
  if (Number.isNaN(n)) return 'NaN';
  if (n === Infinity) return '+Inf';
  if (n === -Infinity) return '-Inf';
  return String(n);
}

class Exposition {
  constructor() {
    this.lines = [];
  }

  /** One metric family: `samples` is [[labels|null, value], ...]. */
  family(name, type, help, samples, histogram) {
    this.lines.push(`# HELP ${name} ${help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')}`, `# TYPE ${name} ${type}`);
    // A histogram's samples are its buckets (`_bucket`), then `_sum` and `_count`.
    const sampleName = histogram ? `${name}_bucket` : name;
    for (const [labels, value] of samples) {
      const l = labels
        ? `{${Object.entries(labels).map(([k, v]) => `${k}="${escapeLabel(v)}"`).join(',')}}`
        : '';
      this.lines.push(`${sampleName}${l} ${num(value)}`);
    }
    if (histogram) this.lines.push(`${name}_sum ${num(histogram.sum)}`, `${name}_count ${num(histogram.count)}`);
  }

  text() {
    return this.lines.join('\n') + '\n';
  }
}

/** The exposition text of one service. */
function metricsText(service) {
  const core = JSON.parse(service._native.stats());
  const info = JSON.parse(service._native.describe());
  const fb = service.getFallbackCacheStats();
  const e = new Exposition();
  const breakers = Object.entries(core.circuitBreakers || {});
  const per = (field) => breakers.map(([op, m]) => [{ operation: op }, m[field]]);

  e.family('resilis_commands_total', 'counter', 'Commands answered by Redis.', [[null, core.commands]]);
  e.family('resilis_errors_total', 'counter', 'Commands that failed.', [[null, core.errors]]);
  e.family('resilis_timeouts_total', 'counter', 'Commands that timed out.', [[null, core.timeouts]]);
  e.family('resilis_fallbacks_total', 'counter', 'Commands served by the in-memory fallback.', [[null, core.fallbacks]]);
  e.family('resilis_operation_requests_total', 'counter', 'Commands by operation (breaker name, e.g. redis-get).', per('requests'));
  e.family('resilis_operation_failures_total', 'counter', 'Failed commands by operation.', per('failures'));
  e.family('resilis_operation_timeouts_total', 'counter', 'Timed out commands by operation.', per('timeouts'));
  e.family('resilis_operation_rejects_total', 'counter', 'Commands an open breaker rejected, by operation.', per('rejects'));
  e.family('resilis_operation_fallbacks_total', 'counter', 'Commands served by the fallback, by operation.', per('fallbacks'));
  e.family('resilis_circuit_breaker_state', 'gauge', 'Breaker state by operation: 1 for the current state.',
    breakers.flatMap(([op, m]) => BREAKER_STATES.map((s) => [{ operation: op, state: s }, m.state === s])));
  // The core's histogram has buckets 25% apart; each counts toward the first bound at or above its upper edge.
  const h = JSON.parse(service._native.latencyHistogram());
  e.family('resilis_command_duration_seconds', 'histogram', 'Latency of commands answered by Redis (the batch each rode in).', [
    ...h.buckets.map(([le, count]) => [{ le: String(le) }, count]),
    [{ le: '+Inf' }, h.count],
  ], { sum: h.sum, count: h.count });
  e.family('resilis_command_latency_seconds', 'gauge', 'Latency percentiles of Redis round trips (batch latency).', [
    [{ quantile: '0.5' }, core.latencyP50 / 1000],
    [{ quantile: '0.99' }, core.latencyP99 / 1000],
  ]);
  e.family('resilis_degraded', 'gauge', '1 while Redis is unreachable and the fallback serves.', [[null, core.degraded]]);
  e.family('resilis_connected', 'gauge', '1 while connected to Redis.', [[null, service.isConnected]]);
  e.family('resilis_connection_attempts_total', 'counter', 'Connection attempts.', [[null, info.connectionAttempts]]);
  e.family('resilis_fallback_cache_hits_total', 'counter', 'Fallback store hits.', [[null, fb.hits]]);
  e.family('resilis_fallback_cache_misses_total', 'counter', 'Fallback store misses.', [[null, fb.misses]]);
  e.family('resilis_fallback_cache_evictions_total', 'counter', 'Fallback store evictions.', [[null, fb.evictions]]);
  e.family('resilis_fallback_cache_entries', 'gauge', 'Keys in the fallback store.', [[null, fb.itemCount]]);
  e.family('resilis_fallback_cache_bytes', 'gauge', 'Bytes in the fallback store.', [[null, fb.calculatedSize]]);
  const nc = core.nearCache;
  if (nc) {
    const copyHits = service._nearCacheCopyHits ? service._nearCacheCopyHits() : 0;
    e.family('resilis_near_cache_hits_total', 'counter', 'Near cache hits.', [[null, nc.hits + copyHits]]);
    e.family('resilis_near_cache_misses_total', 'counter', 'Near cache misses.', [[null, nc.misses]]);
    e.family('resilis_near_cache_invalidations_total', 'counter', 'Near cache invalidations.', [[null, nc.invalidations]]);
    e.family('resilis_near_cache_entries', 'gauge', 'Near cache entries.', [[null, nc.entries]]);
  }
  const j = core.journal || {};
  e.family('resilis_journal_pending', 'gauge', 'Outage writes waiting for replay.', [[null, j.pending]]);
  e.family('resilis_journal_journaled_total', 'counter', 'Outage writes journaled.', [[null, j.journaled]]);
  e.family('resilis_journal_rejected_total', 'counter', 'Writes refused because the journal was full.', [[null, j.rejected]]);
  e.family('resilis_replay_replayed_total', 'counter', 'Journaled writes replayed to Redis.', [[null, j.replayed]]);
  e.family('resilis_replay_expired_total', 'counter', 'Journaled writes expired before replay.', [[null, j.expired]]);
  e.family('resilis_replay_in_doubt_total', 'counter', 'Replayed writes whose outcome is unknown.', [[null, j.inDoubt]]);
  const obs = service._observer;
  if (obs && obs.audit !== null) {
    e.family('resilis_audit_dropped_total', 'counter', 'Audit entries dropped because the audit queue was full.', [[null, obs.auditDropped]]);
  }
  return e.text();
}

module.exports = { metricsText, CONTENT_TYPE };
