// TLS (issue 5): a throwaway CA, a server certificate for 127.0.0.1/localhost and a client certificate;
// one server that requires client certificates (mutual TLS) and one that does not. Chosen through the
// environment: rediss:// URLs (000), REDIS_TLS / REDIS_TLS_SERVERNAME / REDIS_TLS_REJECT_UNAUTHORIZED (001),
// and the PEM variables config.rs reads (REDIS_TLS_CA, REDIS_TLS_CERT, REDIS_TLS_KEY).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { makeCertificates, startTlsRedis } from './harness/tls.mjs';
import { runService } from './harness/child.mjs';
import { expectConnectError } from './harness/connect-error.mjs';
import { uniqueKey } from './harness/util.mjs';

let certs;
let mtls; // --tls-auth-clients yes
let serverOnly; // --tls-auth-clients no
const CONNECT_TIMEOUT = 2000;

before(async () => {
  certs = await makeCertificates();
  [mtls, serverOnly] = await Promise.all([
    startTlsRedis({ certs, authClients: 'yes' }),
    startTlsRedis({ certs, authClients: 'no' }),
  ]);
});

after(async () => {
  await Promise.allSettled([mtls?.stop(), serverOnly?.stop()]);
  await certs?.cleanup();
});

const clientPem = () => ({ REDIS_TLS_CERT: certs.pem.clientCert, REDIS_TLS_KEY: certs.pem.clientKey });

// A set + get + healthCheck over TLS in a child configured by `env`; the key must land on `server`.
// Successful connections use the same short connect timeout, so a failure costs seconds, not ten.
async function expectWriteRead(env, server, label) {
  const key = uniqueKey(label);
  const res = await runService({ REDIS_CONNECT_TIMEOUT: String(CONNECT_TIMEOUT), ...env }, `
    await svc.set(${JSON.stringify(key)}, 'over-tls');
    const health = await svc.healthCheck();
    return { read: await svc.get(${JSON.stringify(key)}), healthy: health.healthy };
  `);
  assert.equal(res.error, undefined, `child failed: ${JSON.stringify(res.error)}`);
  assert.deepEqual(res.value, { read: 'over-tls', healthy: true });
  assert.equal(await server.cli('get', key), 'over-tls');
}

// The client key must never appear in an error.
const keySecrets = () => [certs.pem.clientKey.split('\n')[1], 'PRIVATE KEY'];
const connectError = (env) => expectConnectError(env, { timeoutMs: CONNECT_TIMEOUT, secrets: keySecrets() });

test('mutual TLS: rediss:// URL + REDIS_TLS_CA + REDIS_TLS_CERT/KEY', async () => {
  await expectWriteRead({ REDIS_URL: mtls.url, REDIS_TLS_CA: certs.pem.ca, ...clientPem() }, mtls, 'mtls');
});

test('seed 001: REDIS_TLS=true + REDIS_HOST/PORT + REDIS_TLS_SERVERNAME + REDIS_TLS_REJECT_UNAUTHORIZED=true', async () => {
  await expectWriteRead({
    REDIS_HOST: '127.0.0.1',
    REDIS_PORT: String(mtls.port),
    REDIS_TLS: 'true',
    REDIS_TLS_SERVERNAME: 'localhost',
    REDIS_TLS_REJECT_UNAUTHORIZED: 'true',
    REDIS_TLS_CA: certs.pem.ca,
    ...clientPem(),
  }, mtls, 'tls-seed001');
});

test('REDIS_TLS_REJECT_UNAUTHORIZED=false connects without the CA', async () => {
  await expectWriteRead({ REDIS_URL: serverOnly.url, REDIS_TLS_REJECT_UNAUTHORIZED: 'false' }, serverOnly, 'tls-noverify');
});

test('a wrong CA is a clear configuration error within the connect timeout', async () => {
  const err = await connectError({ REDIS_URL: mtls.url, REDIS_TLS_CA: certs.pem.wrongCa, ...clientPem() });
  assert.equal(err.code, 'ERR_RESILIS_CONFIG', `${err.code}: ${err.message}`);
  assert.match(err.message, /certificate|issuer|\bCA\b/i);
});

test('a server name the certificate does not carry is a clear configuration error (verification on by default)', async () => {
  const err = await connectError({
    REDIS_URL: mtls.url, REDIS_TLS_SERVERNAME: 'redis.example.com', REDIS_TLS_CA: certs.pem.ca, ...clientPem(),
  });
  assert.equal(err.code, 'ERR_RESILIS_CONFIG', `${err.code}: ${err.message}`);
  assert.match(err.message, /certificate|name|redis\.example\.com/i);
});

test('no client certificate for a server that requires one is a clear configuration error', async () => {
  const err = await connectError({ REDIS_URL: mtls.url, REDIS_TLS_CA: certs.pem.ca });
  assert.equal(err.code, 'ERR_RESILIS_CONFIG', `${err.code}: ${err.message}`);
  assert.match(err.message, /client certificate|certificate required|certificate/i);
});

test('plaintext redis:// to a TLS port is a clear error within the connect timeout', async () => {
  const err = await connectError({ REDIS_URL: `redis://127.0.0.1:${mtls.port}` });
  assert.ok(['ERR_RESILIS_CONNECTION', 'ERR_RESILIS_CONFIG'].includes(err.code), `${err.code}: ${err.message}`);
  assert.match(err.message, /TLS|SSL|rediss/i);
});
