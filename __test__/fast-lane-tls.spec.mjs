// The fast lane over TLS: every test of fast-lane.spec.mjs against a redis-server that speaks mutual
// TLS only (order, large values through partial writes, a killed lane, a hung server, a restart,
// maxInFlight). The lane encrypts and decrypts itself: CLIENT LIST shows it as its own connection.
process.env.RESILIS_LANE_TLS = '1';
await import('./fast-lane.spec.mjs');
