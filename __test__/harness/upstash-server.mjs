// An HTTP server speaking the Upstash Redis REST protocol in front of a real redis-server, written
// from Upstash's public REST API documentation (https://upstash.com/docs/redis/features/restapi):
//   POST /            body ["CMD", "arg", ...]            -> 200 { result } | 400 { error }
//   POST /pipeline    body [["CMD", ...], ...]            -> 200 [{ result } | { error }, ...]
//   POST /multi-exec  body [["CMD", ...], ...]            -> 200 [{ result } | { error }, ...]
//                                                           | 400 { error } (discarded as a whole)
//   GET|POST /cmd/arg1/.../argN (path segments, percent-decoded as bytes); a POST's raw body is
//   appended as the last argument ("JSON or Binary Value"), query parameters after it.
//   Authorization: Bearer <token> (or ?_token=): anything else is 401.
//   Upstash-Encoding: base64: every string of the result is base64, except the "OK" status reply.
// Every command is forwarded over RESP to the redis-server (harness/resp.mjs, Buffers out), so
// replies are Redis' own; nothing is simulated. Keep-alive is node:http's default. stop() closes
// the listener and every open connection (the endpoint goes away); start() listens again on the
// same port; hang() holds requests unanswered (a stalled endpoint).
import http from 'node:http';
import https from 'node:https';
import { freePort } from './ports.mjs';
import { connectResp } from './resp.mjs';

const MAX_BODY = 64 * 1024 * 1024;

// Percent-decoding to bytes (decodeURIComponent would refuse bytes that are not UTF-8).
function percentBytes(segment) {
  const out = [];
  for (let i = 0; i < segment.length; i++) {
    const c = segment.charCodeAt(i);
    if (c === 0x25 && i + 2 < segment.length && /^[0-9a-fA-F]{2}$/.test(segment.slice(i + 1, i + 3))) {
      out.push(parseInt(segment.slice(i + 1, i + 3), 16));
      i += 2;
    } else {
      out.push(...Buffer.from(segment[i], 'utf8'));
    }
  }
  return Buffer.from(out);
}

function isRespError(v) {
  return v instanceof Error;
}

// A RESP value as the REST API returns it: bulk strings are Buffers (UTF-8 text, or base64 when
// asked), status strings are strings, errors nested in arrays become their message.
function toJson(v, base64, top) {
  if (v === null || typeof v === 'number') return v;
  if (Array.isArray(v)) return v.map((x) => toJson(x, base64, false));
  if (isRespError(v)) return v.message;
  if (typeof v === 'string') {
    if (!base64 || (top && v === 'OK')) return v;
    return Buffer.from(v).toString('base64');
  }
  return base64 ? v.toString('base64') : v.toString('utf8');
}

function argOf(x) {
  if (typeof x === 'string') return Buffer.from(x, 'utf8');
  if (typeof x === 'number' || typeof x === 'boolean') return Buffer.from(String(x));
  throw new Error(`ERR arguments must be strings or numbers (got ${JSON.stringify(x)})`);
}

function commandOf(row) {
  if (!Array.isArray(row) || row.length === 0) throw new Error('ERR a command is a non-empty JSON array');
  return row.map(argOf);
}

/**
 * startUpstashServer({ redisPort, token, tls?: { key, cert } }) ->
 *   { url, port, token, requests, stop(), start(), close() }
 * `requests` records each authorised request as { path, commands } (for "one POST per batch").
 */
export async function startUpstashServer({ redisPort, token = 'test-token-' + Math.random().toString(36).slice(2), tls } = {}) {
  // Ordinary commands share one RESP connection (replies come back in order); each transaction
  // takes its own, so no other request's command can land between its MULTI and EXEC.
  let shared = null;
  const connect = () => connectResp(redisPort);
  const sharedConn = async () => {
    if (!shared) {
      shared = connect().catch((e) => {
        shared = null;
        throw e;
      });
    }
    return shared;
  };
  const run = async (cmd) => {
    const conn = await sharedConn();
    try {
      return await conn.command(...cmd);
    } catch (e) {
      if (!isRespError(e) || e.constructor.name !== 'RespError') shared = null;
      throw e;
    }
  };
  const slot = (p, base64) =>
    p.then((v) => ({ result: toJson(v, base64, true) }), (e) => ({ error: e.message }));

  async function multiExec(cmds, base64) {
    const conn = await connect();
    try {
      const queued = [conn.command('MULTI'), ...cmds.map((c) => conn.command(...c))];
      const exec = conn.command('EXEC');
      const settled = await Promise.allSettled(queued);
      let replies;
      try {
        replies = await exec;
      } catch (e) {
        const first = settled.find((s) => s.status === 'rejected');
        return { status: 400, body: { error: first ? first.reason.message : e.message } };
      }
      return {
        status: 200,
        body: replies.map((v) => (isRespError(v) ? { error: v.message } : { result: toJson(v, base64, true) })),
      };
    } finally {
      conn.close();
    }
  }

  const requests = [];
  const sockets = new Set();
  const counts = { connections: 0, inFlight: 0, peakInFlight: 0 };
  let held = null; // hang(true): requests wait here unanswered until hang(false)
  const onRequest = (req, res) => {
    counts.inFlight++;
    counts.peakInFlight = Math.max(counts.peakInFlight, counts.inFlight);
    res.on('close', () => counts.inFlight--);
    const chunks = [];
    let size = 0;
    req.on('data', (d) => {
      size += d.length;
      if (size > MAX_BODY) req.destroy();
      else chunks.push(d);
    });
    req.on('end', () => {
      if (held) {
        held.push(() => answer(req, res, Buffer.concat(chunks)));
        return;
      }
      answer(req, res, Buffer.concat(chunks));
    });
  };
  // `tls: { key, cert }` (PEM): https://, as Upstash itself is reached.
  const server = tls
    ? https.createServer({ keepAlive: true, key: tls.key, cert: tls.cert }, onRequest)
    : http.createServer({ keepAlive: true }, onRequest);
  function answer(req, res, body) {
    handle(req, body).then(
      (out) => send(res, out.status, out.body),
      (e) => send(res, 400, { error: e.message }),
    );
  }
  server.on(tls ? 'secureConnection' : 'connection', (s) => {
    counts.connections++;
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });

  function send(res, status, body) {
    const text = JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
    res.end(text);
  }

  async function handle(req, body) {
    const url = new URL(req.url, 'http://x');
    const auth = req.headers.authorization;
    const given = auth?.startsWith('Bearer ') ? auth.slice(7) : url.searchParams.get('_token');
    if (given !== token) return { status: 401, body: { error: 'Unauthorized' } };
    if (!['GET', 'HEAD', 'POST', 'PUT'].includes(req.method)) {
      return { status: 405, body: { error: 'Method Not Allowed' } };
    }
    const base64 = String(req.headers['upstash-encoding'] || '').toLowerCase() === 'base64';
    const path = url.pathname.replace(/\/+$/, '');
    if (path === '/pipeline' || path === '/multi-exec') {
      const rows = JSON.parse(body.toString('utf8'));
      if (!Array.isArray(rows) || rows.length === 0) throw new Error('ERR a batch is a non-empty array of commands');
      const cmds = rows.map(commandOf);
      requests.push({ path, commands: cmds.length });
      if (path === '/multi-exec') return multiExec(cmds, base64);
      return { status: 200, body: await Promise.all(cmds.map((c) => slot(run(c), base64))) };
    }
    let cmd;
    if (path === '') {
      cmd = commandOf(JSON.parse(body.toString('utf8')));
    } else {
      cmd = path.slice(1).split('/').map(percentBytes);
      if (req.method !== 'GET' && body.length > 0) cmd.push(body);
      for (const [k, v] of url.searchParams) if (k !== '_token') cmd.push(Buffer.from(k), Buffer.from(v));
    }
    requests.push({ path: path || '/', commands: 1 });
    const out = await slot(run(cmd), base64);
    return { status: out.error === undefined ? 200 : 400, body: out };
  }

  const port = await freePort();
  const listen = () => new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  await listen();
  let listening = true;
  return {
    port,
    token,
    url: `${tls ? 'https' : 'http'}://127.0.0.1:${port}`,
    requests,
    /** TCP connections accepted so far (keep-alive); requests in flight now and at most (the client's pool bound). */
    counts,
    get listening() { return listening; },
    /** hang(true): requests are read and left unanswered (a stalled endpoint); hang(false) answers them. */
    hang(on) {
      if (on) {
        held = held || [];
        return;
      }
      const waiting = held || [];
      held = null;
      for (const go of waiting) go();
    },
    /** The endpoint goes away: nothing listens, open keep-alive connections are cut. */
    async stop() {
      if (!listening) return;
      listening = false;
      const closed = new Promise((resolve) => server.close(() => resolve()));
      for (const s of sockets) s.destroy();
      await closed;
    },
    /** Listens again on the same port. */
    async start() {
      if (listening) return;
      await listen();
      listening = true;
    },
    async close() {
      await this.stop();
      if (shared) (await shared.catch(() => null))?.close();
      shared = null;
    },
  };
}
