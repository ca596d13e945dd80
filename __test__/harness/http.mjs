// Real HTTP for the library specs: an app on a free loopback port and a fetch that keeps cookies.
import { freePort } from './ports.mjs';

const servers = new Set();

/** app.listen() on a free port of 127.0.0.1 -> the base URL; closeAll() in `after`. */
export async function serve(app) {
  const port = await freePort();
  await new Promise((resolve) => servers.add(app.listen(port, '127.0.0.1', resolve)));
  return `http://127.0.0.1:${port}`;
}

export async function closeAll() {
  const all = [...servers];
  servers.clear();
  await Promise.all(all.map((s) => new Promise((resolve) => {
    s.closeAllConnections?.();
    s.close(() => resolve());
  })));
}

/** A browser-like client of one site: sends back the cookies it was given. */
export function cookieClient(base) {
  const jar = new Map();
  return {
    jar,
    async fetch(path, init = {}) {
      const cookie = [...jar].map(([k, v]) => `${k}=${v}`).join('; ');
      const res = await fetch(base + path, { ...init, headers: { ...init.headers, ...(cookie ? { cookie } : {}) } });
      for (const line of res.headers.getSetCookie()) {
        const [pair] = line.split(';');
        const i = pair.indexOf('=');
        jar.set(pair.slice(0, i), pair.slice(i + 1));
      }
      return res;
    },
  };
}
