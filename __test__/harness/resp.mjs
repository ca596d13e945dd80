// A minimal, independent RESP2 client over a raw socket, used to verify what resilis wrote
// (binary-safe, Buffers out) and to act as a pub/sub subscriber. Not a mock: it talks to the
// same real redis-server.
import net from 'node:net';
import tls from 'node:tls';

class RespError extends Error {}

function encode(args) {
  const parts = [Buffer.from(`*${args.length}\r\n`)];
  for (const a of args) {
    const b = Buffer.isBuffer(a) ? a : Buffer.from(String(a));
    parts.push(Buffer.from(`$${b.length}\r\n`), b, Buffer.from('\r\n'));
  }
  return Buffer.concat(parts);
}

// Parse one reply at offset; returns [value, nextOffset] or null when incomplete.
function parse(buf, off) {
  if (off >= buf.length) return null;
  const nl = buf.indexOf('\r\n', off);
  if (nl < 0) return null;
  const type = String.fromCharCode(buf[off]);
  const line = buf.toString('utf8', off + 1, nl);
  const next = nl + 2;
  switch (type) {
    case '+': return [line, next];
    case '-': return [new RespError(line), next];
    case ':': return [Number(line), next];
    case '$': {
      const len = Number(line);
      if (len < 0) return [null, next];
      if (buf.length < next + len + 2) return null;
      return [buf.subarray(next, next + len), next + len + 2];
    }
    case '*': {
      const n = Number(line);
      if (n < 0) return [null, next];
      const out = [];
      let p = next;
      for (let i = 0; i < n; i++) {
        const r = parse(buf, p);
        if (!r) return null;
        out.push(r[0]);
        p = r[1];
      }
      return [out, p];
    }
    default: throw new Error(`bad RESP type ${type}`);
  }
}

/**
 * connectResp(port, host?, tlsOptions?) -> { command(...args) -> Promise<Buffer|string|number|null|Array>, onPush(fn), close() }
 * tlsOptions (node:tls connect options: ca, cert, key): a TLS connection instead of plain TCP.
 */
export function connectResp(port, host = '127.0.0.1', tlsOptions = null) {
  return new Promise((resolve, reject) => {
    const sock = tlsOptions ? tls.connect({ port, host, ...tlsOptions }) : net.connect({ port, host });
    let buf = Buffer.alloc(0);
    const waiting = [];
    const pushListeners = [];
    let subscribed = false;
    sock.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      for (;;) {
        const r = parse(buf, 0);
        if (!r) break;
        buf = buf.subarray(r[1]);
        const v = r[0];
        const kind = Array.isArray(v) && Buffer.isBuffer(v[0]) ? v[0].toString() : null;
        if (subscribed && (kind === 'message' || kind === 'pmessage')) {
          for (const fn of pushListeners) fn(v.map((x) => (Buffer.isBuffer(x) ? x.toString() : x)));
          continue;
        }
        if (kind === 'subscribe' || kind === 'psubscribe') subscribed = true;
        const w = waiting.shift();
        if (!w) continue;
        if (v instanceof RespError) w.reject(v);
        else w.resolve(v);
      }
    });
    sock.on('error', (e) => {
      while (waiting.length) waiting.shift().reject(e);
      reject(e);
    });
    sock.once('connect', () => {
      resolve({
        command(...args) {
          return new Promise((res, rej) => {
            waiting.push({ resolve: res, reject: rej });
            sock.write(encode(args));
          });
        },
        async str(...args) {
          const v = await this.command(...args);
          return Buffer.isBuffer(v) ? v.toString() : v;
        },
        onPush(fn) { pushListeners.push(fn); },
        close() {
          sock.destroy();
        },
      });
    });
  });
}
