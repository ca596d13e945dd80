// Run redis-cli against a loopback port. Output is redis-cli's raw (non-tty) form with the
// final newline removed: nil -> '', integers -> '5', arrays -> one element per line.
import { execFile } from 'node:child_process';

export const REDIS_CLI = process.env.RESILIS_TEST_REDIS_CLI || '/usr/bin/redis-cli';

export function runCli(port, args, { input, buffer = false, timeout = 10000 } = {}) {
  return new Promise((resolve, reject) => {
    const child = execFile(
      REDIS_CLI,
      ['-h', '127.0.0.1', '-p', String(port), ...args.map(String)],
      { encoding: buffer ? 'buffer' : 'utf8', timeout, maxBuffer: 64 * 1024 * 1024 },
      (err, stdout, stderr) => {
        if (err) {
          err.message += `\nredis-cli ${args.join(' ')}\nstdout: ${stdout}\nstderr: ${stderr}`;
          return reject(err);
        }
        if (buffer) {
          // redis-cli appends exactly one newline after a raw bulk reply
          return resolve(stdout.length && stdout[stdout.length - 1] === 0x0a ? stdout.subarray(0, -1) : stdout);
        }
        resolve(stdout.endsWith('\n') ? stdout.slice(0, -1) : stdout);
      },
    );
    if (input !== undefined) child.stdin.end(input);
    else child.stdin.end();
  });
}

// `INFO` text -> { field: value } (section headers and blank lines skipped).
export function parseInfo(text) {
  const out = {};
  for (const line of String(text).split('\n')) {
    const i = line.indexOf(':');
    if (i > 0 && !line.startsWith('#')) out[line.slice(0, i)] = line.slice(i + 1).trim();
  }
  return out;
}

// A flat reply of alternating names and values (SENTINEL MASTER, CONFIG GET) -> { name: value }.
export function parsePairs(text) {
  const lines = String(text).split('\n');
  const out = {};
  for (let i = 0; i + 1 < lines.length; i += 2) out[lines[i]] = lines[i + 1];
  return out;
}

// `INFO section` of a harness server, parsed.
export async function infoOf(server, section) {
  return parseInfo(await server.cli('info', section));
}
