// TLS: a throwaway CA (plus a second, "wrong" CA), a server certificate for 127.0.0.1/localhost and a
// client certificate, made with openssl; and redis-server listening on a TLS port only.
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { startRedis } from './redis.mjs';

const run = promisify(execFile);
const OPENSSL = process.env.RESILIS_TEST_OPENSSL || 'openssl';
const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

async function makeCa(dir, name) {
  const key = path.join(dir, `${name}.key`);
  const crt = path.join(dir, `${name}.crt`);
  await run(OPENSSL, ['req', '-x509', ...EC, '-keyout', key, '-out', crt, '-days', '2', '-subj', `/CN=resilis test ${name}`,
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  return { key, crt };
}

async function makeLeaf(dir, name, ca, usage) {
  const key = path.join(dir, `${name}.key`);
  const csr = path.join(dir, `${name}.csr`);
  const crt = path.join(dir, `${name}.crt`);
  const ext = path.join(dir, `${name}.ext`);
  await writeFile(ext, [
    'basicConstraints=CA:FALSE',
    'keyUsage=critical,digitalSignature,keyEncipherment',
    `extendedKeyUsage=${usage}`,
    'subjectAltName=DNS:localhost,IP:127.0.0.1',
    '',
  ].join('\n'));
  await run(OPENSSL, ['req', '-new', ...EC, '-keyout', key, '-out', csr, '-subj', `/CN=${name}`]);
  await run(OPENSSL, ['x509', '-req', '-in', csr, '-CA', ca.crt, '-CAkey', ca.key, '-CAcreateserial', '-out', crt,
    '-days', '2', '-extfile', ext]);
  return { key, crt };
}

/**
 * makeCertificates() -> { dir, files: { ca, wrongCa, serverCert, serverKey, clientCert, clientKey },
 *   pem: { same names, PEM text }, cleanup() }
 * The server certificate names DNS:localhost and IP:127.0.0.1; `wrongCa` signed nothing here.
 */
export async function makeCertificates() {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'resilis-tls-'));
  const [ca, wrongCa] = await Promise.all([makeCa(dir, 'ca'), makeCa(dir, 'wrong-ca')]);
  const server = await makeLeaf(dir, 'server', ca, 'serverAuth');
  const client = await makeLeaf(dir, 'client', ca, 'clientAuth');
  const files = {
    ca: ca.crt, wrongCa: wrongCa.crt, serverCert: server.crt, serverKey: server.key, clientCert: client.crt, clientKey: client.key,
  };
  const pem = {};
  for (const [name, file] of Object.entries(files)) pem[name] = await readFile(file, 'utf8');
  return { dir, files, pem, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** redis-cli's flags to speak TLS with the client certificate. */
export function tlsCliArgs(certs) {
  const { files } = certs;
  return ['--tls', '--cacert', files.ca, '--cert', files.clientCert, '--key', files.clientKey];
}

/** node:tls connect options with the client certificate. */
export function tlsSocketOptions(certs) {
  return { ca: certs.pem.ca, cert: certs.pem.clientCert, key: certs.pem.clientKey };
}

/**
 * startTlsRedis({ certs, authClients = 'yes', args, password }) -> a startRedis() server whose `port` is
 * a TLS port (no plaintext port), `url` is rediss://127.0.0.1:port, and cli() speaks TLS with the client cert.
 * authClients: 'yes' requires a client certificate, 'no' does not ask for one, 'optional' checks it if sent.
 */
export async function startTlsRedis({ certs, authClients = 'yes', args = [], password } = {}) {
  const { files } = certs;
  return startRedis({
    password,
    portFlag: '--tls-port',
    args: [
      '--tls-cert-file', files.serverCert,
      '--tls-key-file', files.serverKey,
      '--tls-ca-cert-file', files.ca,
      '--tls-auth-clients', authClients,
      ...args,
    ],
    cliArgs: tlsCliArgs(certs),
  });
}

/**
 * maybeTls(enabled) -> { enabled, init(), startRedis(opts), options(o), env(e), socket(), cleanup() }
 * For a spec that runs as is and again over mutual TLS (its `*-tls.spec.mjs` wrapper sets an environment
 * flag): with `enabled`, init() makes the certificates, startRedis() a TLS-only server, options()/env() add the
 * client's TLS settings to service options or REDIS_* variables, socket() gives connectResp's TLS options;
 * without it, each is the plain harness' own.
 */
export function maybeTls(enabled) {
  let certs = null;
  return {
    enabled,
    async init() {
      if (enabled) certs = await makeCertificates();
    },
    startRedis: (opts = {}) => (enabled ? startTlsRedis({ certs, ...opts }) : startRedis(opts)),
    options: (o = {}) => (enabled ? { tls: tlsSocketOptions(certs), ...o } : o),
    env: (e = {}) => (enabled
      ? { REDIS_TLS_CA: certs.pem.ca, REDIS_TLS_CERT: certs.pem.clientCert, REDIS_TLS_KEY: certs.pem.clientKey, ...e }
      : e),
    socket: () => (enabled ? tlsSocketOptions(certs) : null),
    cleanup: async () => certs?.cleanup(),
  };
}
