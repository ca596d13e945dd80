// express-rate-limit 8 with rate-limit-redis 5 on resilis, over real HTTP against a real server
// and a real cluster, through both documented sendCommand shapes: ioredis' (`service.call`) and
// node-redis' (`getClient().sendCommand`). rate-limit-redis loads its Lua with SCRIPT LOAD (on a
// cluster resilis sends it to every master) and runs EVALSHA on the key's master.
import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { onEachDeployment } from './harness/deployments.mjs';
import { serve, closeAll } from './harness/http.mjs';
import { uniqueKey } from './harness/util.mjs';

const require = createRequire(import.meta.url);
const express = require('express');
const { rateLimit } = require('express-rate-limit');
const { RedisStore } = require('rate-limit-redis');

after(closeAll);

const SHAPES = [
  { name: 'sendCommand through service.call (the ioredis shape)', sendCommand: (svc) => (command, ...args) => svc.call(command, ...args) },
  { name: 'sendCommand through getClient().sendCommand (the node-redis shape)', sendCommand: (svc) => { const client = svc.getClient(); return (...args) => client.sendCommand(args); } },
];

async function limitedApp(sendCommand, limit, windowMs) {
  const prefix = `${uniqueKey('rl')}:`;
  const app = express();
  app.use(rateLimit({
    windowMs,
    limit,
    standardHeaders: 'draft-6',
    legacyHeaders: false,
    store: new RedisStore({ sendCommand, prefix }),
  }));
  app.get('/', (req, res) => res.send('ok'));
  return { base: await serve(app), prefix };
}

onEachDeployment((d) => {
  for (const shape of SHAPES) {
    describe(shape.name, () => {
      test('429 after the limit, with RateLimit-* and Retry-After headers; the counter has the window as TTL', async () => {
        const { base, prefix } = await limitedApp(shape.sendCommand(d.svc), 3, 60_000);
        const remaining = [];
        for (let i = 0; i < 3; i++) {
          const res = await fetch(base);
          assert.equal(res.status, 200);
          assert.equal(res.headers.get('ratelimit-limit'), '3');
          remaining.push(res.headers.get('ratelimit-remaining'));
        }
        assert.deepEqual(remaining, ['2', '1', '0']);
        const limited = await fetch(base);
        assert.equal(limited.status, 429);
        assert.equal(limited.headers.get('ratelimit-remaining'), '0');
        const reset = Number(limited.headers.get('ratelimit-reset'));
        assert.ok(reset > 50 && reset <= 60, `RateLimit-Reset ${reset}`);
        const retryAfter = Number(limited.headers.get('retry-after'));
        assert.ok(retryAfter > 50 && retryAfter <= 60, `Retry-After ${retryAfter}`);
        const keys = [];
        for (const node of d.masters()) keys.push(...(await node.cli('--scan', '--pattern', `${prefix}*`)).split('\n').filter(Boolean));
        assert.equal(keys.length, 1, `one counter under ${prefix}`);
        assert.equal(await d.cli(keys[0], 'get', keys[0]), '4');
        const pttl = Number(await d.cli(keys[0], 'pttl', keys[0]));
        assert.ok(pttl > 50_000 && pttl <= 60_000, `PTTL ${pttl}`);
      });

      test('the window ends: requests pass again', async () => {
        const { base } = await limitedApp(shape.sendCommand(d.svc), 1, 1000);
        assert.equal((await fetch(base)).status, 200);
        assert.equal((await fetch(base)).status, 429);
        await new Promise((r) => setTimeout(r, 1100));
        assert.equal((await fetch(base)).status, 200);
      });

      test('SCRIPT FLUSH on the server: rate-limit-redis reloads its script and counting goes on', async () => {
        const { base } = await limitedApp(shape.sendCommand(d.svc), 2, 60_000);
        assert.equal((await fetch(base)).status, 200);
        for (const node of d.masters()) await node.cli('script', 'flush');
        assert.equal((await fetch(base)).status, 200);
        assert.equal((await fetch(base)).status, 429);
      });
    });
  }
});
