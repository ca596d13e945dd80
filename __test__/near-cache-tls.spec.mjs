// The near cache over TLS: every test of near-cache.spec.mjs against a redis-server that speaks mutual TLS
// only. The lane (reads, tracked with CLIENT TRACKING ... REDIRECT) and the invalidation connection (RESP3
// push frames) are both TLS connections of resilis' own.
process.env.RESILIS_NEAR_TLS = '1';
await import('./near-cache.spec.mjs');
