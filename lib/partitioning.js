'use strict';
// RedisPartitioningService (issue 20): keys spread over independent Redis
// servers, one RedisService per node. Placement (rendezvous hashing, ranges,
// hash tags) is the core's (`PartitionMap`); this module owns the
// connections, multi-key splitting, distribution, health and migration.
//
// Migration (addNode/removeNode) moves exactly the keys whose owner changes:
// SCAN each source, DUMP + PTTL, RESTORE (no REPLACE) on the new owner with
// the remaining TTL, then DEL on the source. RESTORE answering BUSYKEY means
// the new owner already holds a newer write: the source copy is just deleted.
// Every step is idempotent, so a migration cut short (crash, kill) is
// completed by calling addNode/removeNode again with the same node: a log
// hash on the node that joins (addNode) or leaves (removeNode) keeps each
// source's SCAN cursor, saved only after that batch is fully moved.

const { EventEmitter } = require('node:events');
const { RedisService } = require('./service');
const { ResilisError, argumentError } = require('./errors');
const { PartitionMap } = require('../binding.js');

const LOG_KEY = 'resilis:partitioning:migration';
const LOG_PREFIX = 'resilis:partitioning:';
const UNDO_RESTORE = "if redis.call('dump', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0";
// Variables that name one deployment: a node's own options say where it is.
const PLACE_VARS = /^(REDIS_(URL|HOST|PORT|CLUSTER|NODE\d|SENTINEL|MASTER_NAME|READ_REPLICA|PROVIDER|PARTITION)|UPSTASH_)/;

function nodeEnv() {
  const out = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v !== undefined && (k.startsWith('REDIS_') || k.startsWith('UPSTASH_')) && !PLACE_VARS.test(k)) out[k] = v;
  }
  return out;
}

/** A node as given -> { name, options }; `name` is what getNodeForKey returns. */
function nodeSpec(node) {
  if (typeof node === 'string' && node.length > 0) return { name: node, options: { url: node } };
  if (node && typeof node === 'object') {
    const name = node.name ?? node.url ?? `${node.tls ? 'rediss' : 'redis'}://${node.host ?? '127.0.0.1'}:${node.port ?? 6379}`;
    const { name: _n, ...options } = node;
    return { name, options };
  }
  throw argumentError('partitioning: each node is a URL string or a service options object');
}

function keyString(key, what) {
  if (typeof key === 'string') return key;
  if (typeof key === 'number') return String(key);
  if (Buffer.isBuffer(key)) return key.toString('latin1');
  throw argumentError(`${what}: a key must be a string`);
}

function isBusyKey(err) {
  return /BUSYKEY/.test(String(err && err.message));
}

class RedisPartitioningService extends EventEmitter {
  constructor(options = {}) {
    super();
    let nodes = options.nodes;
    if (nodes === undefined && process.env.REDIS_PARTITION_NODES) {
      nodes = process.env.REDIS_PARTITION_NODES.split(',').map((s) => s.trim()).filter(Boolean);
    }
    if (!Array.isArray(nodes) || nodes.length === 0) {
      throw argumentError('partitioning: `nodes` (or REDIS_PARTITION_NODES) must list at least one node');
    }
    this.strategy = options.strategy ?? 'consistent';
    if (this.strategy !== 'consistent' && this.strategy !== 'range') {
      throw argumentError(`partitioning: strategy must be 'consistent' or 'range', not ${String(this.strategy)}`);
    }
    this._batch = options.migrationBatch ?? 500;
    this._env = nodeEnv();
    this._services = new Map();
    this._names = [];
    for (const n of nodes) this._open(nodeSpec(n));
    this._ranges = this.strategy === 'range' ? this._rangeSpecs(options.ranges) : undefined;
    this._map = new PartitionMap(this._names, this._ranges);
    this._migration = null; // { op, node, fromMap, fromNames } until a migration completes
    this._running = false;
  }

  _open(spec) {
    if (this._services.has(spec.name)) throw argumentError(`partitioning: node ${spec.name} is listed twice`);
    this._services.set(spec.name, new RedisService(spec.options, this._env));
    this._names.push(spec.name);
  }

  _rangeSpecs(ranges) {
    if (!Array.isArray(ranges) || ranges.length === 0) throw argumentError("partitioning: strategy 'range' needs `ranges: [{ from, to, node }]`");
    return ranges.map((r, i) => {
      const node = typeof r.node === 'number' ? r.node : this._names.indexOf(r.node);
      if (node < 0 || node >= this._names.length) throw argumentError(`partitioning: range ${i} names a node not in \`nodes\``);
      return { from: r.from ?? undefined, to: r.to ?? undefined, node };
    });
  }

  /** The node names, as given. */
  get nodes() {
    return [...this._names];
  }

  getNodeForKey(key) {
    const i = this._map.owner(keyString(key, 'getNodeForKey'));
    if (i < 0) throw new ResilisError('ERR_RESILIS_ARGUMENT', `partitioning: no range covers key ${keyString(key, 'getNodeForKey')}`);
    return this._names[i];
  }

  /** The RedisService of the node that owns `key` (shared; during a migration, the new owner). */
  getConnectionForKey(key) {
    return this._services.get(this.getNodeForKey(key));
  }

  /** The previous owner of `key` while a migration runs and it differs from the new one, else null. */
  _oldOwner(key) {
    const m = this._migration;
    if (!m) return null;
    const old = m.fromNames[m.fromMap.owner(key)];
    return old !== undefined && old !== this.getNodeForKey(key) && this._services.has(old) ? old : null;
  }

  /** Keys grouped by owner: Map(name -> indexes). */
  _group(keys, what) {
    const strs = keys.map((k) => keyString(k, what));
    const owners = this._map.owners(strs);
    const groups = new Map();
    owners.forEach((o, i) => {
      if (o < 0) throw new ResilisError('ERR_RESILIS_ARGUMENT', `partitioning: no range covers key ${strs[i]}`);
      const name = this._names[o];
      if (!groups.has(name)) groups.set(name, []);
      groups.get(name).push(i);
    });
    return { strs, groups };
  }

  async get(key) {
    const k = keyString(key, 'get');
    const v = await this.getConnectionForKey(k).get(k);
    const old = v === null ? this._oldOwner(k) : null;
    return old ? this._services.get(old).get(k) : v;
  }

  set(key, value, ...rest) {
    const k = keyString(key, 'set');
    return this.getConnectionForKey(k).set(k, value, ...rest);
  }

  /** mget(keys) or mget(...keys): split by node, replies merged in the keys' order. */
  async mget(...args) {
    const keys = Array.isArray(args[0]) ? args[0] : args;
    const { strs, groups } = this._group(keys, 'mget');
    const out = new Array(strs.length).fill(null);
    await Promise.all([...groups].map(async ([name, idx]) => {
      const vals = await this._services.get(name).mget(idx.map((i) => strs[i]));
      idx.forEach((i, j) => { out[i] = vals[j]; });
    }));
    if (this._migration) {
      await Promise.all(out.map(async (v, i) => {
        if (v !== null) return;
        const old = this._oldOwner(strs[i]);
        if (old) out[i] = await this._services.get(old).get(strs[i]);
      }));
    }
    return out;
  }

  /** mset(record, ttl?): one MSET per node; resolves 'OK' when every node took its part. */
  async mset(record, ...rest) {
    if (!record || typeof record !== 'object') throw argumentError('mset: expected a record of key -> value');
    const entries = record instanceof Map ? [...record] : Object.entries(record);
    const { groups } = this._group(entries.map((e) => e[0]), 'mset');
    await Promise.all([...groups].map(([name, idx]) => {
      const part = {};
      for (const i of idx) part[entries[i][0]] = entries[i][1];
      return this._services.get(name).mset(part, ...rest);
    }));
    return 'OK';
  }

  /** del(...keys) or del(keys): the number deleted. During a migration the old owner's copy goes too. */
  async del(...args) {
    const keys = Array.isArray(args[0]) ? args[0] : args;
    const { strs, groups } = this._group(keys, 'del');
    if (this._migration) {
      for (const k of strs) {
        const old = this._oldOwner(k);
        if (old) {
          if (!groups.has(old)) groups.set(old, []);
          groups.get(old).push(strs.indexOf(k));
        }
      }
    }
    const counts = await Promise.all([...groups].map(([name, idx]) => this._services.get(name).del(...idx.map((i) => strs[i]))));
    return counts.reduce((a, b) => a + Number(b), 0);
  }

  async _nodeFigures(name) {
    const svc = this._services.get(name);
    const [keys, info] = await Promise.all([svc.call('dbsize'), svc.call('info', 'memory')]);
    const m = /used_memory:(\d+)/.exec(String(info));
    return { node: name, keys: Number(keys), memory: m ? Number(m[1]) : null };
  }

  /** { nodes: [{ node, keys, memory }], imbalance }: DBSIZE and INFO memory per node; imbalance = max keys / mean. */
  async analyzeDistribution() {
    const nodes = await Promise.all(this._names.map((n) => this._nodeFigures(n)));
    const total = nodes.reduce((a, n) => a + n.keys, 0);
    const mean = total / nodes.length;
    const imbalance = mean > 0 ? Math.max(...nodes.map((n) => n.keys)) / mean : 1;
    return { nodes, imbalance, totalKeys: total };
  }

  /** { healthy, nodes: [{ node, healthy, latency, keys, status, error? }] }. */
  async healthCheck() {
    const nodes = await Promise.all(this._names.map(async (name) => {
      const h = await this._services.get(name).healthCheck();
      let keys = null;
      if (h.healthy) {
        try { keys = Number(await this._services.get(name).call('dbsize')); } catch { /* reported by healthy */ }
      }
      const out = { node: name, healthy: h.healthy, latency: h.latency, keys, status: h.status };
      if (h.error) out.error = h.error;
      return out;
    }));
    return { healthy: nodes.every((n) => n.healthy), nodes };
  }

  /** Adds `node` (URL or options) and moves to it the keys it now owns. Called again after a crash
   * (or after a call that failed or left `failed` keys), it completes the migration. */
  async addNode(node, { batch } = {}) {
    if (this.strategy !== 'consistent') throw argumentError("partitioning: addNode needs strategy 'consistent'");
    const spec = nodeSpec(node);
    if (!this._resuming('add', spec.name)) {
      if (this._services.has(spec.name)) throw argumentError(`partitioning: node ${spec.name} is already a member`);
      const fromNames = [...this._names];
      const fromMap = this._map;
      this._open(spec);
      this._migration = { op: 'add', node: spec.name, fromMap, fromNames };
      this._map = new PartitionMap(this._names);
    }
    return this._run(spec.name, this._migration.fromNames, batch);
  }

  /** Moves every key off `node` to the nodes that now own them, then closes its service. */
  async removeNode(node, { batch } = {}) {
    if (this.strategy !== 'consistent') throw argumentError("partitioning: removeNode needs strategy 'consistent'");
    const name = typeof node === 'string' ? node : nodeSpec(node).name;
    if (!this._resuming('remove', name)) {
      if (!this._names.includes(name)) throw argumentError(`partitioning: node ${name} is not a member`);
      if (this._names.length === 1) throw argumentError('partitioning: cannot remove the last node');
      this._migration = { op: 'remove', node: name, fromMap: this._map, fromNames: [...this._names] };
      this._names = this._names.filter((n) => n !== name);
      this._map = new PartitionMap(this._names);
    }
    const result = await this._run(name, [name], batch);
    if (result.failed === 0) {
      const svc = this._services.get(name);
      this._services.delete(name);
      await svc.quit().catch(() => {});
    }
    return result;
  }

  /** True when this call continues this process's unfinished migration of the same node. */
  _resuming(op, node) {
    if (this._running) throw new ResilisError('ERR_RESILIS_BUSY', 'partitioning: a migration is already running');
    const m = this._migration;
    if (!m) return false;
    if (m.op === op && m.node === node) return true;
    throw new ResilisError('ERR_RESILIS_BUSY', `partitioning: the migration of ${m.node} is unfinished: call ${m.op === 'add' ? 'addNode' : 'removeNode'} for it again first`);
  }

  /** The migration in `_migration`; it stays set (reads still fall back to the old owner) until it completes. */
  async _run(node, sources, batch) {
    this._running = true;
    try {
      const result = await this._migrate(this._migration.op, node, node, sources, batch);
      if (result.failed === 0) this._migration = null;
      return result;
    } finally {
      this._running = false;
    }
  }

  /** Runs (or resumes, from the log on `logNode`) a migration over `sources`. */
  async _migrate(op, node, logNode, sources, count = this._batch) {
    const log = this._services.get(logNode);
    const saved = await log.hgetall(LOG_KEY);
    const resume = saved && saved.op === op && saved.node === node;
    const cursors = resume ? JSON.parse(saved.cursors || '{}') : {};
    let moved = resume ? Number(saved.moved || 0) : 0;
    let failed = 0;
    await log.hset(LOG_KEY, { op, node, nodes: JSON.stringify(this._names), cursors: JSON.stringify(cursors), moved: String(moved) });
    for (const source of sources) {
      let cursor = cursors[source] ?? '0';
      if (cursor === 'done') continue;
      const src = this._services.get(source);
      do {
        const [next, batch] = await src.call('scan', cursor, 'COUNT', String(count));
        const keys = batch.map(String).filter((k) => !k.startsWith(LOG_PREFIX));
        const owners = keys.length ? this._map.owners(keys) : [];
        const moving = [];
        owners.forEach((o, i) => {
          if (this._names[o] !== source) moving.push([keys[i], this._names[o]]);
        });
        const r = await this._moveBatch(src, moving);
        moved += r.moved;
        failed += r.failed;
        cursor = String(next);
        cursors[source] = cursor === '0' ? 'done' : cursor;
        await log.hset(LOG_KEY, { cursors: JSON.stringify(cursors), moved: String(moved) });
        this.emit('migrationProgress', { op, node, source, moved, failed, scanned: keys.length, done: cursor === '0' && source === sources[sources.length - 1] });
      } while (cursor !== '0');
    }
    if (failed === 0) await log.del(LOG_KEY);
    return { moved, failed };
  }

  /** DUMP + PTTL on the source, RESTORE on the owner, DEL on the source. */
  async _moveBatch(src, moving) {
    if (moving.length === 0) return { moved: 0, failed: 0 };
    const dumped = await Promise.all(moving.map(([k]) => Promise.all([src.callBuffer('dump', k), src.call('pttl', k)])));
    const done = [];
    let failed = 0;
    await Promise.all(moving.map(async ([k, owner], i) => {
      const [dump, pttl] = dumped[i];
      if (dump === null || Number(pttl) === -2) return; // expired or deleted meanwhile
      try {
        await this._services.get(owner).call('restore', k, String(Math.max(Number(pttl), 0)), dump);
        done.push([k, owner, dump]);
      } catch (err) {
        if (isBusyKey(err)) done.push([k, owner, null]); // the new owner holds a newer write
        else {
          failed++;
          if (this.listenerCount('error')) this.emit('error', Object.assign(new ResilisError(err.code || 'ERR_RESILIS_REPLY', `partitioning: moving ${k} failed: ${err.message}`), { key: k }));
        }
      }
    }));
    // A source copy already gone was deleted by a client (del reaches both owners) after our DUMP:
    // the restored copy is undone, unless the new owner has been written since (its DUMP differs).
    await Promise.all(done.map(async ([k, owner, dump]) => {
      if (Number(await src.del(k)) === 0 && dump) {
        await this._services.get(owner).call('eval', UNDO_RESTORE, '1', k, dump).catch(() => {});
      }
    }));
    return { moved: done.length, failed };
  }

  async quit() {
    await Promise.all([...this._services.values()].map((s) => s.quit().catch(() => {})));
  }

  async disconnect() {
    await Promise.all([...this._services.values()].map((s) => s.disconnect()));
  }
}

function createPartitioningService(options) {
  return new RedisPartitioningService(options);
}

module.exports = { RedisPartitioningService, createPartitioningService };
