// The package as npm users get it: `npm run pack:local`'s two tarballs (the main package and
// this platform's binary package) installed into fresh projects outside the checkout, with no
// cargo or rustc on PATH, then used from CommonJS, ESM and strict TypeScript against a real
// redis-server; and a project without the platform package, whose require error names it.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { mkdtemp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { startRedis } from './harness/redis.mjs';
import { repoRoot } from './harness/package.mjs';
import { cleanEnv, lastJson } from './harness/child.mjs';
import { uniqueKey } from './harness/util.mjs';

const require = createRequire(import.meta.url);
const { platformName } = require(path.join(repoRoot, 'lib', 'platform.js'));
const pkg = JSON.parse(await readFile(path.join(repoRoot, 'package.json'), 'utf8'));
const PLATFORM_PACKAGE = `resilis-${platformName()}`;
const TSC = path.join(repoRoot, 'node_modules', 'typescript', 'bin', 'tsc');
const TYPE_ROOTS = path.join(repoRoot, 'node_modules', '@types');

let redis;
let work; // everything this file makes, under the system's temp folder
let packed; // { main, platform, ... } from scripts/pack-local.mjs --json

// PATH without any folder that holds cargo or rustc: a consumer's machine has no Rust.
const PATH_WITHOUT_RUST = (process.env.PATH || '')
  .split(path.delimiter)
  .filter((dir) => dir && !['cargo', 'rustc'].some((tool) => existsSync(path.join(dir, tool))))
  .join(path.delimiter);

function run(file, args, { cwd, env = {}, timeout = 120000 } = {}) {
  return new Promise((resolve) => {
    execFile(file, args, { cwd, env: cleanEnv({ PATH: PATH_WITHOUT_RUST, ...env }), timeout, maxBuffer: 16 << 20 },
      (err, stdout, stderr) => resolve({ code: err ? (err.code ?? err.signal ?? 1) : 0, stdout, stderr }));
  });
}

function ok(res, what) {
  assert.equal(res.code, 0, `${what} failed\nstdout: ${res.stdout}\nstderr: ${res.stderr}`);
  return res;
}

/** A fresh project folder with the given tarballs installed from disk (no registry needed). */
async function freshProject(name, tarballs, extra = {}) {
  const dir = path.join(work, name);
  await mkdir(dir, { recursive: true });
  await writeFile(path.join(dir, 'package.json'), JSON.stringify({ name: `consumer-${name}`, private: true, ...extra }));
  // --offline: the other platforms' optional packages are not fetched (and skipped, as npm does
  // for an optional dependency it cannot get); this platform's comes from its tarball.
  ok(await run('npm', ['install', '--offline', '--no-audit', '--no-fund', ...tarballs], { cwd: dir }), `npm install in ${name}`);
  return dir;
}

before(async () => {
  redis = await startRedis();
  work = await mkdtemp(path.join(os.tmpdir(), 'resilis-package-'));
  assert.ok(!work.startsWith(repoRoot), 'the projects live outside the checkout');
  const res = ok(await run(process.execPath, [path.join(repoRoot, 'scripts', 'pack-local.mjs'), '--out', path.join(work, 'dist'), '--json'], { cwd: repoRoot }), 'pack-local');
  packed = lastJson(res.stdout);
});

after(async () => {
  if (work) await rm(work, { recursive: true, force: true });
  await redis?.stop();
});

test('pack:local makes the main tarball without a binary and the platform tarball with it', async () => {
  assert.equal(path.basename(packed.main), `resilis-${pkg.version}.tgz`);
  assert.equal(path.basename(packed.platform), `${PLATFORM_PACKAGE}-${pkg.version}.tgz`);
  const list = async (tgz) => ok(await run('tar', ['-tzf', tgz]), 'tar').stdout.trim().split('\n');
  const main = await list(packed.main);
  assert.deepEqual(main.filter((f) => f.endsWith('.node')), [], 'the main tarball carries no .node file');
  for (const f of ['package/binding.js', 'package/index.d.ts', 'package/express.d.ts', 'package/lib/index.js', 'package/lib/index.mjs']) {
    assert.ok(main.includes(f), `main tarball has ${f}`);
  }
  assert.ok(!main.some((f) => f.startsWith('package/src/') || f.startsWith('package/__test__/')), 'no sources or tests');
  const platform = await list(packed.platform);
  assert.ok(platform.includes(`package/resilis.${platformName()}.node`), `platform tarball: ${platform}`);
  assert.equal(pkg.optionalDependencies[PLATFORM_PACKAGE], pkg.version);
});

test('CommonJS project: require("resilis") and require("resilis/express") from the installed tarballs', async () => {
  const dir = await freshProject('cjs', [packed.main, packed.platform]);
  assert.deepEqual(readdirSync(path.join(dir, 'node_modules', 'resilis')).filter((f) => f.endsWith('.node')), []);
  const key = uniqueKey('pkg-cjs');
  await writeFile(path.join(dir, 'main.js'), `
    const resilis = require('resilis');
    const express = require('resilis/express');
    (async () => {
      const svc = resilis.createRedisService({ url: process.env.REDIS_URL });
      const reply = await svc.set(process.argv[2], 'from-cjs', 60);
      const value = await svc.get(process.argv[2]);
      await svc.disconnect();
      console.log(JSON.stringify({
        reply, value,
        middleware: ['cacheMiddleware', 'healthRouter', 'rateLimitMiddleware'].map((n) => typeof express[n]),
        addon: require.resolve('${PLATFORM_PACKAGE}'),
      }));
    })().catch((e) => { console.log(JSON.stringify({ error: e.code || e.message })); process.exitCode = 1; });
  `);
  const res = ok(await run(process.execPath, ['main.js', key], { cwd: dir, env: { REDIS_URL: redis.url } }), 'cjs consumer');
  const out = lastJson(res.stdout);
  assert.equal(out.reply, 'OK');
  assert.equal(out.value, 'from-cjs');
  assert.deepEqual(out.middleware, ['function', 'function', 'function']);
  assert.ok(out.addon.startsWith(path.join(dir, 'node_modules', PLATFORM_PACKAGE)), out.addon);
  assert.equal(await redis.cli('get', key), 'from-cjs');
});

test('ESM project: import { getRedisService } from "resilis"', async () => {
  const dir = await freshProject('esm', [packed.main, packed.platform], { type: 'module' });
  const key = uniqueKey('pkg-esm');
  await writeFile(path.join(dir, 'main.js'), `
    import { getRedisService, ResilisError } from 'resilis';
    import { healthRouter } from 'resilis/express';
    const svc = getRedisService();
    const reply = await svc.set(process.argv[2], 'from-esm', { EX: 60 });
    const health = await svc.healthCheck();
    await svc.disconnect();
    console.log(JSON.stringify({ reply, status: health.status, error: typeof ResilisError, router: typeof healthRouter }));
  `);
  const res = ok(await run(process.execPath, ['main.js', key], { cwd: dir, env: { REDIS_URL: redis.url } }), 'esm consumer');
  assert.deepEqual(lastJson(res.stdout), { reply: 'OK', status: 'connected', error: 'function', router: 'function' });
  assert.equal(await redis.cli('get', key), 'from-esm');
});

test('TypeScript project: tsc --strict (module nodenext) checks the documented API, then the JS runs', async () => {
  const dir = await freshProject('ts', [packed.main, packed.platform], { type: 'module' });
  await writeFile(path.join(dir, 'tsconfig.json'), JSON.stringify({
    compilerOptions: {
      strict: true, module: 'nodenext', moduleResolution: 'nodenext', target: 'es2022',
      outDir: 'out', typeRoots: [TYPE_ROOTS], types: ['node'], skipLibCheck: false,
    },
    files: ['main.ts'],
  }));
  await writeFile(path.join(dir, 'main.ts'), `
    import { createRedisCacheService, getRedisService, type HealthCheckResult } from 'resilis';
    import { cacheMiddleware } from 'resilis/express';

    interface User { id: number; name: string }

    const key = process.argv[2];
    const redis = getRedisService();
    const viaTtl: string | null = await redis.set(key + ':ttl', 'v', 60);
    const viaOptions: string | null = await redis.set(key + ':nx', 'v', { EX: 60, NX: true });

    const cache = createRedisCacheService({ service: redis });
    await cache.set(key, { id: 7, name: 'Ada' } satisfies User, 60);
    const user = await cache.get<User>(key);
    const name: string | undefined = user?.name;

    const health: HealthCheckResult = await redis.healthCheck();
    const status: 'connected' | 'degraded' | 'disconnected' = health.status;
    const latencyMs: number = health.latency;
    const middleware = cacheMiddleware({ ttlSeconds: 30 });

    // Checked, never called: each line must be a type error, or tsc fails on the unused directive.
    export function misuses(u: User | null): unknown[] {
      return [
        // @ts-expect-error: the TTL is seconds or an options object, not a string
        redis.set(key, 'v', { EX: '60' }),
        // @ts-expect-error: get<User> may be null
        u.name,
        // @ts-expect-error: healthCheck() resolves an object, not a boolean
        redis.healthCheck().then((h) => h === true),
      ];
    }

    await redis.disconnect();
    console.log(JSON.stringify({ viaTtl, viaOptions, name, status, latency: typeof latencyMs, middleware: typeof middleware }));
  `);
  ok(await run(process.execPath, [TSC, '-p', '.', '--noEmit'], { cwd: dir }), 'tsc --strict --noEmit');
  ok(await run(process.execPath, [TSC, '-p', '.'], { cwd: dir }), 'tsc emit');
  const key = uniqueKey('pkg-ts');
  const res = ok(await run(process.execPath, ['out/main.js', key], { cwd: dir, env: { REDIS_URL: redis.url } }), 'compiled TS');
  assert.deepEqual(lastJson(res.stdout), {
    viaTtl: 'OK', viaOptions: 'OK', name: 'Ada', status: 'connected', latency: 'number', middleware: 'function',
  });
  assert.equal(JSON.parse(await redis.cli('get', key)).name, 'Ada');
});

test('without the platform package, require("resilis") names the package to install', async () => {
  const dir = await freshProject('missing', [packed.main]);
  assert.equal(existsSync(path.join(dir, 'node_modules', PLATFORM_PACKAGE)), false);
  await writeFile(path.join(dir, 'main.js'), `
    try { require('resilis'); console.log(JSON.stringify({ loaded: true })); }
    catch (e) { console.log(JSON.stringify({ code: e.code, packageName: e.packageName, message: e.message })); }
  `);
  const out = lastJson(ok(await run(process.execPath, ['main.js'], { cwd: dir }), 'missing consumer').stdout);
  assert.equal(out.code, 'ERR_RESILIS_NATIVE_BINDING');
  assert.equal(out.packageName, PLATFORM_PACKAGE);
  assert.match(out.message, new RegExp(`npm install ${PLATFORM_PACKAGE}@${pkg.version.replace(/\./g, '\\.')}`));
  assert.match(out.message, /build it from source with Rust/i);
});
