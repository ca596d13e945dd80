// Workload definitions and their key/value fixtures.
// Every workload has: name, concurrency (calls in flight), opsPerCall (what one call counts for in ops/s),
// and op(client, i) issuing call number i. Fixtures are precomputed so the loops only pick from arrays.

const KEYSPACE = 1000; // distinct keys per workload family
const BATCH = 100; // keys per MGET, commands per pipeline

function value(bytes, seed) {
  const alphabet = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
  let s = '';
  let x = seed * 2654435761 + 1;
  for (let i = 0; i < bytes; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    s += alphabet[x % alphabet.length];
  }
  return s;
}

function keys(prefix, n = KEYSPACE) {
  return Array.from({ length: n }, (_, i) => `bench:${prefix}:${i}`);
}

function chunks(arr, size) {
  const out = [];
  for (let i = 0; i < arr.length; i += size) out.push(arr.slice(i, i + size));
  return out;
}

const V100 = value(100, 1);
const V16K = value(16 * 1024, 2);

const setKeys100 = keys('set100');
const getKeys100 = keys('get100');
const setKeys16k = keys('set16k');
const getKeys16k = keys('get16k');
const mgetBatches = chunks(getKeys100, BATCH);
const pipelineBatches = chunks(keys('pipe'), BATCH).map((ks) => ks.map((k) => [k, V100]));

const rateLimitKeys = keys('ratelimit');
const getOrSetKeys = keys('getorset');
/** A ~100-byte JSON value: what getOrSet hits decode. */
const JSON100 = JSON.stringify({ id: 1, name: 'bench', tags: ['a', 'b', 'c'], payload: value(40, 3) });

/** Keys the GET, MGET and getOrSet workloads read; written once per client before measuring. */
export const PRELOAD = [
  ...getKeys100.map((k) => [k, V100]),
  ...getKeys16k.map((k) => [k, V16K]),
  ...getOrSetKeys.map((k) => [k, JSON100]),
];

const setWl = (name, concurrency, ks, v) => ({
  name,
  concurrency,
  opsPerCall: 1,
  op: (c, i) => c.set(ks[i % ks.length], v),
});
const getWl = (name, concurrency, ks) => ({
  name,
  concurrency,
  opsPerCall: 1,
  op: (c, i) => c.get(ks[i % ks.length]),
});

export const WORKLOADS = [
  setWl('set 100B c1', 1, setKeys100, V100),
  setWl('set 100B c16', 16, setKeys100, V100),
  setWl('set 100B c256', 256, setKeys100, V100),
  getWl('get 100B c1', 1, getKeys100),
  getWl('get 100B c16', 16, getKeys100),
  getWl('get 100B c256', 256, getKeys100),
  {
    name: `mget ${BATCH} keys c16`,
    concurrency: 16,
    opsPerCall: BATCH,
    unit: 'keys/s',
    op: (c, i) => c.mget(mgetBatches[i % mgetBatches.length]),
  },
  {
    name: `pipeline ${BATCH} set c16`,
    concurrency: 16,
    opsPerCall: BATCH,
    unit: 'cmds/s',
    op: (c, i) => c.pipelineSet(pipelineBatches[i % pipelineBatches.length]),
  },
  setWl('set 16KiB c16', 16, setKeys16k, V16K),
  getWl('get 16KiB c16', 16, getKeys16k),
  // Patterns: only clients whose adapter has the method (`needs`) run these; the others show n/a.
  {
    name: 'checkRateLimit c16',
    concurrency: 16,
    opsPerCall: 1,
    needs: 'checkRateLimit',
    op: (c, i) => c.checkRateLimit(rateLimitKeys[i % rateLimitKeys.length]),
  },
  {
    name: 'getOrSet hit c16',
    concurrency: 16,
    opsPerCall: 1,
    needs: 'getOrSet',
    op: (c, i) => c.getOrSet(getOrSetKeys[i % getOrSetKeys.length]),
  },
];

/** The pattern workloads' parameters, shared by the adapters. */
export const PATTERN_PARAMS = { rateLimit: { limit: 1000, windowMs: 1000 }, getOrSetTtl: 300, factoryValue: JSON100 };
