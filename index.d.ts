// Public types of resilis (the facade in lib/). The native binding's own
// declarations are generated into binding.d.ts by `napi build`.
import { EventEmitter } from 'node:events';
import { Readable } from 'node:stream';

export type RedisValue = string | number | Buffer;
export type RedisKey = string | Buffer;

export interface Endpoint {
  host: string;
  port: number;
}

export interface RedisServiceOptions {
  /** `redis://[user:password@]host[:port][/db]` or `rediss://` for TLS. Env: REDIS_URL. */
  url?: string;
  /** Env: REDIS_HOST (default localhost). */
  host?: string;
  /** Env: REDIS_PORT (default 6379). */
  port?: number;
  /** Env: REDIS_USERNAME (ACL user). */
  username?: string;
  /** Env: REDIS_PASSWORD. Never shown in errors, logs or stats. */
  password?: string;
  /** Database index 0-15. Env: REDIS_DB. */
  db?: number;
  /** `true`, or TLS details. Env: REDIS_TLS, REDIS_TLS_SERVERNAME, REDIS_TLS_REJECT_UNAUTHORIZED. */
  tls?: boolean | { servername?: string; rejectUnauthorized?: boolean; ca?: string | Buffer; cert?: string | Buffer; key?: string | Buffer };
  /** Connections in the pool, used round robin (default 5). Env: REDIS_POOL_SIZE. */
  poolSize?: number;
  /** Milliseconds (default 10000). Env: REDIS_CONNECT_TIMEOUT. */
  connectTimeout?: number;
  /** Milliseconds (default 5000). Env: REDIS_COMMAND_TIMEOUT. */
  commandTimeout?: number;
  /** Retries per command after a connection failure (default 3). Env: REDIS_MAX_RETRIES. */
  maxRetries?: number;
  maxRetriesPerRequest?: number;
  /** Env: REDIS_ENABLE_AUTO_PIPELINING (always on; accepted for compatibility). */
  enableAutoPipelining?: boolean;
  /** CLIENT SETNAME on every connection. Env: REDIS_CONNECTION_NAME. */
  connectionName?: string;
  /** Connect on first command (default true). Env: REDIS_LAZY_CONNECT. */
  lazyConnect?: boolean;
  /** TCP keep-alive in ms, or false. Env: REDIS_KEEP_ALIVE. */
  keepAlive?: number | boolean;
  /** Env: REDIS_NO_DELAY (default true). */
  noDelay?: boolean;
  /** `false` serves everything from memory. Env: REDIS_ENABLED. */
  enabled?: boolean;
  /** Env: REDIS_CLUSTER / REDIS_CLUSTER_MODE. */
  cluster?: boolean;
  /** Env: REDIS_CLUSTER_NODES or REDIS_NODE{N}_HOST/PORT. */
  clusterNodes?: string | Array<string | Endpoint>;
  scaleReads?: 'master' | 'slave' | 'all';
  maxRedirections?: number;
  retryDelayOnFailover?: number;
  /** Env: REDIS_SENTINEL with REDIS_SENTINEL{N}_HOST/PORT. */
  sentinel?: boolean;
  sentinels?: Array<string | Endpoint>;
  /** Env: REDIS_MASTER_NAME (default mymaster). */
  masterName?: string;
  sentinelPassword?: string;
  /** Env: REDIS_READ_REPLICAS with REDIS_READ_REPLICA_URLS. */
  readReplicas?: boolean;
  readReplicaUrls?: string | Array<string | Endpoint>;
  /** Env: REDIS_PROVIDER. */
  provider?: 'local' | 'upstash';
  upstashUrl?: string;
  upstashToken?: string;
  /** The in-memory fallback: size in bytes, longest stay (ms), what happens to outage writes, mirroring while healthy. */
  fallback?: {
    /**
     * `false`: a first connect that finds no Redis listening rejects (ERR_RESILIS_CONNECTION) instead of coming up
     * degraded on the fallback. Env: REDIS_FALLBACK_ENABLED (default true).
     */
    enabled?: boolean;
    maxSize?: number;
    ttl?: number;
    writes?: 'replay' | 'local';
    mirror?: boolean;
    /**
     * The durable outage journal: outage writes are appended to `path` (mode 0600, locked to one process:
     * another opener throws ERR_RESILIS_JOURNAL_LOCKED) before they resolve, and a new process on the path
     * replays what a previous one left. `fsync`: 'everysec' (default; a power loss may lose the last second)
     * or 'always' (on disk before resolving). `maxBytes`: the journal's bound (default half of `maxSize`).
     * Env: REDIS_FALLBACK_JOURNAL_PATH, REDIS_FALLBACK_JOURNAL_FSYNC, REDIS_FALLBACK_JOURNAL_MAX_BYTES.
     */
    journal?: { path: string; fsync?: 'always' | 'everysec'; maxBytes?: number };
  };
  /** Per-operation breakers (opossum conventions); durations in ms. */
  circuitBreaker?: {
    enabled?: boolean;
    errorThreshold?: number;
    resetTimeout?: number;
    volumeThreshold?: number;
    rollingWindow?: number;
  };
  /**
   * Bytes: a value, or a command's arguments in all, over this rejects at once with ERR_RESILIS_ARGUMENT
   * (nothing sent). Default `DEFAULT_MAX_VALUE_BYTES` (512 MiB, Redis' default proto-max-bulk-len); set it to
   * the server's proto-max-bulk-len if that differs. Env: REDIS_MAX_VALUE_BYTES.
   */
  maxValueBytes?: number;
  /** Commands waiting for replies beyond which calls reject with ERR_RESILIS_BACKPRESSURE. */
  maxInFlight?: number;
  /** Reconnect backoff bounds (ms). */
  reconnect?: { minDelay?: number; maxDelay?: number };
  /**
   * Value compression, off by default (README: Compression): string values, hash values and list items of
   * `minBytes` bytes or more (default 1024) are stored compressed behind a self-describing header; any service
   * with this option reads both algorithms, one without it rejects such a value with ERR_RESILIS_DECODE.
   * Env: REDIS_COMPRESSION=lz4|zstd|off, REDIS_COMPRESSION_MIN_BYTES.
   */
  compression?: false | 'lz4' | 'zstd' | { algorithm: 'lz4' | 'zstd'; minBytes?: number };
  /** Tracking-invalidated in-process reads (standalone): size in bytes, entry lifetime in ms. */
  nearCache?: boolean | { maxSize?: number; ttl?: number };
  /** Where resilis' messages go (pino, console, winston through a (fields, message) adapter); called
   * pino-style `logger.warn(fields, message)`. Default: console, one `[resilis] ...` line. */
  logger?: Logger;
  /** Minimum level logged; env REDIS_LOG_LEVEL. Default 'info'. */
  logLevel?: 'debug' | 'info' | 'warn' | 'error' | 'silent';
  /** Tracing channels resilis:command / resilis:batch: argument values only with includeArgs
   * (AUTH and HELLO arguments are always '?'). */
  trace?: { includeArgs?: boolean };
  /** Called on a later turn with one entry per write (reads too with `reads: true`); at most
   * `maxQueue` entries (default 10,000) wait between two turns, the rest counted in `auditDropped`. */
  audit?: AuditHook | { handler: (entry: AuditEntry) => void; reads?: boolean; maxQueue?: number };
}

export interface AuditEntry {
  time: number;
  command: string;
  keys: string[];
  /** Who answered it; null when nothing did (refused before it was routed). */
  source: 'redis' | 'fallback' | 'near-cache' | null;
  ok: boolean;
  error?: { code?: string; message: string };
  durationMs: number;
}
export interface AuditHook {
  (entry: AuditEntry): void;
  reads?: boolean;
  maxQueue?: number;
}

export interface Logger {
  debug?(fields: Record<string, unknown>, message: string): void;
  info?(fields: Record<string, unknown>, message: string): void;
  warn?(fields: Record<string, unknown>, message: string): void;
  error?(fields: Record<string, unknown>, message: string): void;
}

export interface SetOptions {
  EX?: number; PX?: number; EXAT?: number; PXAT?: number;
  ex?: number; px?: number;
  NX?: boolean; XX?: boolean; KEEPTTL?: boolean; GET?: boolean;
  /** node-redis v5's shape (wins over EX/PX/... when given). */
  expiration?: { type: 'EX' | 'PX' | 'EXAT' | 'PXAT'; value: number } | { type: 'KEEPTTL' } | 'KEEPTTL';
  /** node-redis v5's shape (wins over NX/XX when given). */
  condition?: 'NX' | 'XX';
}

export interface PipelineCommand {
  command: string;
  args?: Array<RedisValue | RedisValue[]>;
}

export interface HealthCheckResult {
  healthy: boolean;
  status: 'connected' | 'degraded' | 'disconnected';
  /** Milliseconds. */
  latency: number;
  /** `local` (a Redis server over TCP) or `upstash` (REST); `host` is then the REST URL's host. */
  provider: 'local' | 'upstash';
  host: string;
  port: number;
  mode: string;
  circuit?: string;
  /** The deployment as the servers report it, each node PINGed with a short limit. */
  topology: TopologyReport;
  error?: string;
}

/** One node of the deployment in a `TopologyReport`. */
export interface TopologyNode {
  /** `host:port`. */
  address: string | null;
  role: 'master' | 'replica';
  healthy: boolean;
  /** PING round trip in milliseconds; `null` when not pinged (cluster replicas) or no answer. */
  latency: number | null;
  /** Cluster: the node id, the hash slots it serves, whether the cluster flags it failed. */
  id?: string;
  slots?: number;
  failed?: boolean;
  /** Cluster replicas: their master's `host:port`. */
  master?: string;
  /** Read replicas: whether reads are routed to it now (not benched after a failure). */
  inUse?: boolean;
  error?: string;
}

export interface TopologyReport {
  /** 'standalone' | 'replicas' | 'cluster' | 'sentinel' | 'memory'. */
  mode: string;
  nodeCount: number;
  nodes: TopologyNode[];
  /** Configured seed nodes (cluster) or sentinels. */
  seeds?: number;
  /** The servers fred has connections to. */
  connectedServers?: string[];
  /** Cluster: `CLUSTER INFO` cluster_state ('ok' | 'fail') and cluster_size (masters serving slots). */
  clusterState?: string;
  clusterSize?: number | null;
  /** Cluster: every primary's `host:port`. */
  masters?: string[];
  scaleReads?: boolean;
  /** Standalone, read replicas, sentinel: the current master's `host:port`. */
  master?: string | null;
  /** Sentinel: the `+switch-master` events followed. */
  masterSwitches?: number;
  replicas?: Array<{ host: string; port: number; connected: boolean; healthy: boolean }>;
  /** Why the report is partial (not connected, closed, CLUSTER INFO failed). */
  error?: string;
}

/** One node of the deployment, from `scanNodes()` or `nodes()`: every command goes to that node only. */
export interface NodeScanner {
  readonly address: string;
  readonly options: { host: string; port: number };
  readonly status: string;
  call(command: string, ...args: unknown[]): Promise<unknown>;
  callBuffer(command: string, ...args: unknown[]): Promise<unknown>;
  send_command(command: string, ...args: unknown[]): Promise<unknown>;
  sendCommand(args: Array<string | number | Buffer>): Promise<unknown>;
  client(subcommand: string, ...args: unknown[]): Promise<unknown>;
  scan(cursor: string | number, options?: { match?: string; count?: number; type?: string }): Promise<[string, string[]]>;
  scanBuffer(cursor: string | number, options?: { match?: string; count?: number; type?: string }): Promise<[Buffer, Buffer[]]>;
}

export interface CircuitBreakerMetrics {
  state: 'closed' | 'open' | 'half-open';
  requests: number;
  failures: number;
  successes: number;
  rejects: number;
  timeouts: number;
  fallbacks: number;
}

export interface FallbackCacheStats {
  size: number;
  calculatedSize: number;
  itemCount: number;
  maxSize: number;
  hits: number;
  misses: number;
  evictions: number;
}

export interface ServiceStats {
  connected: boolean;
  connectionAttempts: number;
  memoryUsage: string | null;
  connectedClients: number | null;
  uptime: number | null;
  mode: string;
  provider: 'local' | 'upstash';
  /** The configured host (for Upstash the REST URL's host; never the token). */
  host: string;
  /** Serving from the fallback because Redis is unreachable or a breaker opened. */
  degraded: boolean;
  commands: number;
  errors: number;
  timeouts: number;
  fallbacks: number;
  /** Milliseconds. */
  latency: { p50: number; p99: number };
  /**
   * The outage journal: `rejected` writes were refused with ERR_RESILIS_FALLBACK_FULL (nothing stored);
   * `dropped` acknowledged writes lost (always 0: kept for the shape).
   */
  replay: {
    pending: number; journaled: number; replayed: number; rejected: number; dropped: number; expired: number; inDoubt: number;
    /** Durable journal: writes a previous process left, read back at start; bytes of a torn or corrupt tail cut off then. */
    restored: number; cutBytes: number; durable: boolean;
  };
  circuitBreakers: Record<string, CircuitBreakerMetrics>;
  /**
   * Bytes the call path copied, process-wide, beside the kernel's copies: argument bytes taken out of JS
   * (`fromJs`), copied into write buffers (`intoWire`) or written from where they were (`wireByReference`,
   * arguments of 4 KiB and more), reply bytes copied into JS values (`toJs`) or read by JS in place
   * (`toJsByReference`, external strings of 4 KiB and more).
   */
  copies: { fromJs: number; intoWire: number; wireByReference: number; toJs: number; toJsByReference: number };
  /**
   * The pipelined connections carrying ordinary commands now (standalone: 0 or 1, cluster: one per master;
   * 0 for sentinel, read replicas and Upstash, which go through their own clients), and whether they use TLS.
   */
  lanes: { open: number; tls: boolean };
  /**
   * Value compression (README: Compression), `null` without the option: values `compressed` on the way out
   * (`bytesIn` before, `bytesOut` after, header included), values `decompressed` on the way in, replies
   * `refused` with ERR_RESILIS_DECODE.
   */
  compression: {
    algorithm: 'lz4' | 'zstd';
    minBytes: number;
    compressed: number;
    bytesIn: number;
    bytesOut: number;
    decompressed: number;
    refused: number;
  } | null;
  fallbackCache: FallbackCacheStats;
  /** Audit entries dropped because the audit queue (`audit.maxQueue`) was full; 0 without an audit hook. */
  auditDropped: number;
  /** `null` when the near cache is off. */
  nearCache: {
    hits: number;
    misses: number;
    invalidations: number;
    flushes: number;
    entries: number;
    bytes: number;
    tracking: boolean;
  } | null;
  topology: TopologyReport;
  error?: string;
}

/** The default of `maxValueBytes`: 512 MiB, Redis' default proto-max-bulk-len. */
export declare const DEFAULT_MAX_VALUE_BYTES: number;

/** `circuitBreaker.getMetrics('redis-get')`: one operation's breaker, summed over the process's services. */
export declare const circuitBreaker: { getMetrics(name: string): CircuitBreakerMetrics };

export type ExecResult = Array<[Error | null, unknown]>;

export interface ChainableBatch {
  addCommand(name: string, args?: RedisValue[]): this;
  readonly length: number;
  exec(): Promise<ExecResult>;
  execAsPipeline(): Promise<unknown[]>;
  [command: string]: any;
}

/** Every stable `code` a resilis error carries (README: Errors). */
export type ResilisErrorCode =
  | 'ERR_RESILIS_CONFIG'
  | 'ERR_RESILIS_CONNECTION'
  | 'ERR_RESILIS_TIMEOUT'
  | 'ERR_RESILIS_REPLY'
  | 'ERR_RESILIS_CLOSED'
  | 'ERR_RESILIS_ARGUMENT'
  | 'ERR_RESILIS_BUSY'
  | 'ERR_RESILIS_DECODE'
  | 'ERR_RESILIS_INTERNAL'
  | 'ERR_RESILIS_BACKPRESSURE'
  | 'ERR_RESILIS_CIRCUIT_OPEN'
  | 'ERR_RESILIS_FALLBACK_FULL'
  | 'ERR_RESILIS_JOURNAL_LOCKED'
  | 'ERR_RESILIS_UNSUPPORTED'
  | 'ERR_RESILIS_LOCKED'
  | 'ERR_RESILIS_LOCK_LOST'
  | 'ERR_RESILIS_NATIVE_BINDING';

export class ResilisError extends Error {
  code: ResilisErrorCode;
  /** Whether the command reached Redis: 'no', 'yes' or 'unknown'. */
  sent?: 'no' | 'yes' | 'unknown';
}

export class ResilisTypeError extends TypeError {
  code: 'ERR_RESILIS_ARGUMENT';
}

export type MessageListener = (message: string, channel: string) => void;
export type PatternMessageListener = (message: string, channel: string, pattern: string) => void;
export type BufferListener = (message: Buffer, channel: Buffer) => void;
export type PatternBufferListener = (message: Buffer, channel: Buffer, pattern: Buffer) => void;

export class RedisService extends EventEmitter {
  constructor(options?: RedisServiceOptions);
  connect(): Promise<void>;
  disconnect(): Promise<void>;
  quit(): Promise<'OK'>;
  readonly isConnected: boolean;
  /** ioredis' status: 'wait' (lazy, not used yet), 'connecting', 'ready', 'reconnecting', 'end' (after quit/disconnect). */
  readonly status: 'wait' | 'connecting' | 'ready' | 'reconnecting' | 'end';
  /** The options this service was created with (ioredis' `options`). */
  readonly options: RedisServiceOptions;
  /** A new service with the same options (`overrides` on top) and connections of its own (ioredis' duplicate()). */
  duplicate(overrides?: RedisServiceOptions): RedisService;
  /**
   * ioredis' defineCommand: adds `service[name](...keys, ...args)` and `service[name + 'Buffer']`,
   * run by EVALSHA (EVAL once on NOSCRIPT). Without `numberOfKeys` the first argument is the number
   * of keys. TypeScript callers reach the new methods through a cast or a declaration merge.
   */
  defineCommand(name: string, definition: { numberOfKeys?: number; lua: string }): void;
  /** ioredis' scanStream: a Readable (object mode) of key arrays, one per SCAN reply, every master of a cluster. */
  scanStream(options?: { match?: string; count?: number; type?: string }): Readable;
  ping(): Promise<boolean>;
  ping(message: RedisValue): Promise<string | false>;
  getClient(): NodeRedisClient;
  healthCheck(): Promise<HealthCheckResult>;
  getStats(): Promise<ServiceStats>;
  /** Prometheus text exposition format (0.0.4): counters by operation, breaker states, degraded,
   * fallback, near cache, journal and replay, connections. No Redis round trip. */
  metrics(): Promise<string>;
  /** The logger resilis prints through (options.logger, filtered by level). */
  readonly logger: Required<Logger>;
  /** What a keyspace-wide SCAN must visit: one scanner per cluster primary, or `[this]` (one keyspace). */
  scanNodes(): Promise<Array<NodeScanner | RedisService>>;
  /** ioredis' `Cluster#nodes()`, on a cluster service only (undefined elsewhere, as on ioredis'
   * Redis): one handle per master known now ([] before the first connect); `'slave'` throws
   * ERR_RESILIS_UNSUPPORTED. */
  nodes?: (role?: 'all' | 'master' | 'slave') => NodeScanner[];
  getFallbackCacheStats(): FallbackCacheStats;
  getCircuitBreakerMetrics(name: string): CircuitBreakerMetrics;
  readonly circuitBreaker: { getMetrics(name: string): CircuitBreakerMetrics };

  get(key: RedisKey): Promise<string | null>;
  getBuffer(key: RedisKey): Promise<Buffer | null>;
  set(key: RedisKey, value: RedisValue, ttlSecondsOrOptions?: number | SetOptions): Promise<string | null>;
  set(key: RedisKey, value: RedisValue, ...tokens: RedisValue[]): Promise<string | null>;
  getdel(key: RedisKey): Promise<string | null>;
  mget(keys: RedisKey[]): Promise<Array<string | null>>;
  mget(...keys: RedisKey[]): Promise<Array<string | null>>;
  mset(record: Record<string, RedisValue>, ttlSeconds?: number): Promise<'OK'>;
  mset(...keysAndValues: RedisValue[]): Promise<'OK'>;
  del(...keys: Array<RedisKey | RedisKey[]>): Promise<number>;
  /** Blocking commands run on a connection of their own; the last argument is the timeout in seconds (0: for ever). */
  blpop(...keysAndTimeout: Array<RedisKey | RedisKey[] | number>): Promise<[string, string] | null>;
  brpop(...keysAndTimeout: Array<RedisKey | RedisKey[] | number>): Promise<[string, string] | null>;
  brpoplpush(source: RedisKey, destination: RedisKey, timeout: number): Promise<string | null>;
  blmove(source: RedisKey, destination: RedisKey, from: 'LEFT' | 'RIGHT', to: 'LEFT' | 'RIGHT', timeout: number): Promise<string | null>;
  bzpopmin(...keysAndTimeout: Array<RedisKey | RedisKey[] | number>): Promise<[string, string, string] | null>;
  bzpopmax(...keysAndTimeout: Array<RedisKey | RedisKey[] | number>): Promise<[string, string, string] | null>;
  /** `xread('COUNT', 10, 'BLOCK', 5000, 'STREAMS', 'stream', '$')`: with BLOCK, on a connection of its own. */
  xread(...args: RedisValue[]): Promise<unknown[] | null>;
  unlink(...keys: Array<RedisKey | RedisKey[]>): Promise<number>;
  exists(...keys: Array<RedisKey | RedisKey[]>): Promise<number>;
  expire(key: RedisKey, seconds: number): Promise<number>;
  pexpire(key: RedisKey, ms: number): Promise<number>;
  ttl(key: RedisKey): Promise<number>;
  pttl(key: RedisKey): Promise<number>;
  persist(key: RedisKey): Promise<number>;
  type(key: RedisKey): Promise<string>;
  incr(key: RedisKey): Promise<number>;
  incrby(key: RedisKey, by: number): Promise<number>;
  incrBy(key: RedisKey, by: number): Promise<number>;
  decr(key: RedisKey): Promise<number>;
  decrby(key: RedisKey, by: number): Promise<number>;
  decrBy(key: RedisKey, by: number): Promise<number>;
  append(key: RedisKey, value: RedisValue): Promise<number>;
  strlen(key: RedisKey): Promise<number>;
  scan(cursor: number | string, options?: { match?: string; count?: number; type?: string }): Promise<[string, string[]]>;
  scan(cursor: number | string, ...tokens: RedisValue[]): Promise<[string, string[]]>;
  keys(pattern: string): Promise<string[]>;

  hset(key: RedisKey, field: RedisValue, value: RedisValue, ...more: RedisValue[]): Promise<number>;
  hset(key: RedisKey, record: Record<string, RedisValue> | Map<string, RedisValue>): Promise<number>;
  hSet(key: RedisKey, field: RedisValue, value: RedisValue, ...more: RedisValue[]): Promise<number>;
  hSet(key: RedisKey, record: Record<string, RedisValue> | Map<string, RedisValue>): Promise<number>;
  hmset(key: RedisKey, record: Record<string, RedisValue>): Promise<'OK'>;
  hget(key: RedisKey, field: RedisValue): Promise<string | null>;
  hGet(key: RedisKey, field: RedisValue): Promise<string | null>;
  hmget(key: RedisKey, ...fields: Array<RedisValue | RedisValue[]>): Promise<Array<string | null>>;
  hgetall(key: RedisKey): Promise<Record<string, string>>;
  hgetallBuffer(key: RedisKey): Promise<Record<string, Buffer>>;
  hGetAll(key: RedisKey): Promise<Record<string, string>>;
  hdel(key: RedisKey, ...fields: Array<RedisValue | RedisValue[]>): Promise<number>;
  hDel(key: RedisKey, ...fields: Array<RedisValue | RedisValue[]>): Promise<number>;
  hexists(key: RedisKey, field: RedisValue): Promise<number>;
  hincrby(key: RedisKey, field: RedisValue, by: number): Promise<number>;
  hkeys(key: RedisKey): Promise<string[]>;
  hvals(key: RedisKey): Promise<string[]>;
  hlen(key: RedisKey): Promise<number>;

  lpush(key: RedisKey, ...values: Array<RedisValue | RedisValue[]>): Promise<number>;
  lPush(key: RedisKey, ...values: Array<RedisValue | RedisValue[]>): Promise<number>;
  rpush(key: RedisKey, ...values: Array<RedisValue | RedisValue[]>): Promise<number>;
  rPush(key: RedisKey, ...values: Array<RedisValue | RedisValue[]>): Promise<number>;
  lpop(key: RedisKey): Promise<string | null>;
  lPop(key: RedisKey): Promise<string | null>;
  lpop(key: RedisKey, count: number): Promise<string[] | null>;
  rpop(key: RedisKey): Promise<string | null>;
  rPop(key: RedisKey): Promise<string | null>;
  lrange(key: RedisKey, start: number, stop: number): Promise<string[]>;
  lRange(key: RedisKey, start: number, stop: number): Promise<string[]>;
  ltrim(key: RedisKey, start: number, stop: number): Promise<'OK'>;
  lTrim(key: RedisKey, start: number, stop: number): Promise<'OK'>;
  llen(key: RedisKey): Promise<number>;
  lLen(key: RedisKey): Promise<number>;
  lindex(key: RedisKey, index: number): Promise<string | null>;
  lrem(key: RedisKey, count: number, value: RedisValue): Promise<number>;

  sadd(key: RedisKey, ...members: Array<RedisValue | RedisValue[]>): Promise<number>;
  sAdd(key: RedisKey, ...members: Array<RedisValue | RedisValue[]>): Promise<number>;
  srem(key: RedisKey, ...members: Array<RedisValue | RedisValue[]>): Promise<number>;
  sRem(key: RedisKey, ...members: Array<RedisValue | RedisValue[]>): Promise<number>;
  smembers(key: RedisKey): Promise<string[]>;
  sMembers(key: RedisKey): Promise<string[]>;
  sismember(key: RedisKey, member: RedisValue): Promise<number>;
  sIsMember(key: RedisKey, member: RedisValue): Promise<number>;
  scard(key: RedisKey): Promise<number>;

  zadd(key: RedisKey, ...scoresAndMembers: RedisValue[]): Promise<number>;
  zadd(key: RedisKey, members: Array<{ score: number; value: RedisValue }>): Promise<number>;
  zAdd(key: RedisKey, members: Array<{ score: number; value: RedisValue }> | { score: number; value: RedisValue }): Promise<number>;
  zAdd(key: RedisKey, ...scoresAndMembers: RedisValue[]): Promise<number>;
  zrange(key: RedisKey, start: number | string, stop: number | string, ...tokens: RedisValue[]): Promise<string[]>;
  zRange(key: RedisKey, start: number | string, stop: number | string, ...tokens: RedisValue[]): Promise<string[]>;
  zrevrange(key: RedisKey, start: number, stop: number, withScores?: 'WITHSCORES'): Promise<string[]>;
  zRevRange(key: RedisKey, start: number, stop: number, withScores?: 'WITHSCORES'): Promise<string[]>;
  zscore(key: RedisKey, member: RedisValue): Promise<string | null>;
  zScore(key: RedisKey, member: RedisValue): Promise<string | null>;
  zrem(key: RedisKey, ...members: Array<RedisValue | RedisValue[]>): Promise<number>;
  zRem(key: RedisKey, ...members: Array<RedisValue | RedisValue[]>): Promise<number>;
  zcard(key: RedisKey): Promise<number>;
  zincrby(key: RedisKey, by: number, member: RedisValue): Promise<string>;

  /** A Buffer message is sent byte for byte. */
  publish(channel: string, message: RedisValue): Promise<number>;
  /** Sharded publish (Redis 7): on a cluster, the channel's slot picks the node. */
  spublish(channel: string, message: RedisValue): Promise<number>;
  sPublish(channel: string, message: RedisValue): Promise<number>;
  /**
   * Pub/sub receiving on the service's own subscriber connection (subscribed again after every
   * reconnect or failover). Resolves the number of channels + patterns held (ioredis style);
   * `listener` runs on the JS thread. Messages are also emitted as 'message' (channel, message),
   * 'pmessage' (pattern, channel, message) and 'smessage' (channel, message), and byte-exact as
   * 'messageBuffer', 'pmessageBuffer' and 'smessageBuffer' (Buffers; the pattern stays a string).
   * `bufferMode` (node-redis): the listener gets Buffers.
   */
  subscribe(channel: string | string[], listener?: MessageListener, bufferMode?: false): Promise<number>;
  subscribe(channel: string | string[], listener: BufferListener, bufferMode: true): Promise<number>;
  subscribe(...channels: string[]): Promise<number>;
  psubscribe(pattern: string | string[], listener?: PatternMessageListener, bufferMode?: false): Promise<number>;
  psubscribe(pattern: string | string[], listener: PatternBufferListener, bufferMode: true): Promise<number>;
  psubscribe(...patterns: string[]): Promise<number>;
  /** Sharded pub/sub (Redis 7; on a cluster the subscription lives on the shard's node). */
  ssubscribe(channel: string | string[], listener?: MessageListener, bufferMode?: false): Promise<number>;
  ssubscribe(channel: string | string[], listener: BufferListener, bufferMode: true): Promise<number>;
  /** No channel: all of them; a listener: only that listener (with the `bufferMode` it was subscribed with;
   * the channel goes with its last one). */
  unsubscribe(channel?: string | string[], listener?: MessageListener | BufferListener, bufferMode?: boolean): Promise<number>;
  punsubscribe(pattern?: string | string[], listener?: PatternMessageListener | PatternBufferListener, bufferMode?: boolean): Promise<number>;
  sunsubscribe(channel?: string | string[], listener?: MessageListener | BufferListener, bufferMode?: boolean): Promise<number>;
  pSubscribe(pattern: string | string[], listener?: PatternMessageListener, bufferMode?: false): Promise<number>;
  pSubscribe(pattern: string | string[], listener: PatternBufferListener, bufferMode: true): Promise<number>;
  sSubscribe(channel: string | string[], listener?: MessageListener, bufferMode?: false): Promise<number>;
  sSubscribe(channel: string | string[], listener: BufferListener, bufferMode: true): Promise<number>;
  pUnsubscribe(pattern?: string | string[], listener?: PatternMessageListener | PatternBufferListener, bufferMode?: boolean): Promise<number>;
  sUnsubscribe(channel?: string | string[], listener?: MessageListener | BufferListener, bufferMode?: boolean): Promise<number>;
  on(event: 'message' | 'smessage', listener: (channel: string, message: string) => void): this;
  on(event: 'pmessage', listener: (pattern: string, channel: string, message: string) => void): this;
  on(event: 'messageBuffer' | 'smessageBuffer', listener: (channel: Buffer, message: Buffer) => void): this;
  on(event: 'pmessageBuffer', listener: (pattern: string, channel: Buffer, message: Buffer) => void): this;
  on(event: string | symbol, listener: (...args: any[]) => void): this;
  eval(script: string, numKeys: number, ...keysAndArgs: RedisValue[]): Promise<unknown>;
  eval(script: string, options: { keys?: RedisValue[]; arguments?: RedisValue[] }): Promise<unknown>;
  evalsha(sha: string, numKeys: number, ...keysAndArgs: RedisValue[]): Promise<unknown>;
  evalsha(sha: string, options: { keys?: RedisValue[]; arguments?: RedisValue[] }): Promise<unknown>;
  evalBuffer(script: string, numKeys: number, ...keysAndArgs: RedisValue[]): Promise<unknown>;
  evalshaBuffer(sha: string, numKeys: number, ...keysAndArgs: RedisValue[]): Promise<unknown>;
  /** Replies in order; an error reply stands in its place as an Error. */
  pipeline(commands: PipelineCommand[]): Promise<unknown[]>;
  pipeline(): ChainableBatch;
  multi(): ChainableBatch;
  call(command: string, ...args: Array<RedisValue | RedisValue[]>): Promise<unknown>;
  callBuffer(command: string, ...args: Array<RedisValue | RedisValue[]>): Promise<unknown>;
  /** node-redis' shape of call(): sendCommand(['CMD', ...args]). */
  sendCommand(args: RedisValue[]): Promise<unknown>;
}

/** getClient()'s multi(): node-redis' batch. exec() resolves the replies themselves and rejects when one
 * is an error (the error carries `replies` and `errorIndexes`); exec(true) runs it as a pipeline. */
export interface NodeRedisMulti {
  addCommand(name: string, args?: RedisValue[]): this;
  readonly length: number;
  exec(execAsPipeline?: boolean): Promise<unknown[]>;
  execAsPipeline(): Promise<unknown[]>;
  [command: string]: any;
}


type NodeRedisOwn = 'multi' | 'scan' | 'ping' | 'connect' | 'quit' | 'duplicate' | 'on';

/** node-redis (v5) view returned by getClient(): the service's commands plus node-redis' own shapes. */
export interface NodeRedisClient extends Omit<RedisService, NodeRedisOwn> {
  /** False after quit(), close() or destroy() (and before the first use of a lazy service). */
  readonly isOpen: boolean;
  readonly isReady: boolean;
  connect(): Promise<NodeRedisClient>;
  quit(): Promise<'OK'>;
  close(): Promise<void>;
  destroy(): void;
  /** A client over a new service with the same options: its own connections. */
  duplicate(overrides?: RedisServiceOptions): NodeRedisClient;
  ping(message?: RedisValue): Promise<string>;
  hExists(key: RedisKey, field: RedisValue): Promise<number>;
  pTTL(key: RedisKey): Promise<number>;
  mGet(keys: RedisKey[]): Promise<Array<string | null>>;
  evalSha(sha: string, options: { keys?: RedisValue[]; arguments?: RedisValue[] }): Promise<unknown>;
  multi(): NodeRedisMulti;
  scan(cursor: number | string, options?: { MATCH?: string; COUNT?: number; TYPE?: string }): Promise<{ cursor: string; keys: string[] }>;
  /** One array of keys per SCAN reply, over every master of a cluster. */
  scanIterator(options?: { MATCH?: string; COUNT?: number; TYPE?: string }): AsyncIterableIterator<string[]>;
  on(event: string | symbol, listener: (...args: any[]) => void): this;
}

export function createRedisService(options?: RedisServiceOptions): RedisService;
export function getRedisService(options?: RedisServiceOptions): RedisService;
export const redisService: RedisService;
export const RedisServiceFactory: {
  create(options?: RedisServiceOptions): RedisService;
  getInstance(options?: RedisServiceOptions): RedisService;
  healthCheck(): Promise<boolean>;
};

// ---- RedisPartitioningService: keys over independent Redis servers ----

export interface PartitionRange {
  /** Inclusive lower bound: a number compares the key's numeric id (its last run of digits), a string the key itself. Absent: open. */
  from?: number | string;
  /** Exclusive upper bound, as `from`. Absent: open. */
  to?: number | string;
  /** The owning node: its name/URL as in `nodes`, or its index there. */
  node: string | number;
}

export interface PartitioningOptions {
  /** URLs, or full service option sets (`name` optional; otherwise `url` or `redis://host:port` names it). Default: REDIS_PARTITION_NODES (comma-separated URLs). */
  nodes?: Array<string | (RedisServiceOptions & { name?: string })>;
  /** 'consistent' (rendezvous hashing, default) or 'range'. */
  strategy?: 'consistent' | 'range';
  ranges?: PartitionRange[];
  /** SCAN COUNT of one migration batch (default 500). */
  migrationBatch?: number;
}

export interface MigrationProgress {
  op: 'add' | 'remove';
  node: string;
  source: string;
  moved: number;
  failed: number;
  scanned: number;
  done: boolean;
}

export class RedisPartitioningService extends EventEmitter {
  constructor(options?: PartitioningOptions);
  readonly strategy: 'consistent' | 'range';
  /** The member nodes' names, as given. */
  readonly nodes: string[];
  getNodeForKey(key: string): string;
  getConnectionForKey(key: string): RedisService;
  get(key: string): Promise<string | null>;
  set(key: string, value: string | number | Buffer, ttlOrOptions?: number | Record<string, unknown>): Promise<'OK' | null>;
  mget(keys: string[]): Promise<Array<string | null>>;
  mget(...keys: string[]): Promise<Array<string | null>>;
  mset(record: Record<string, string | number | Buffer> | Map<string, string | number | Buffer>, ttlSeconds?: number): Promise<'OK'>;
  del(...keys: string[]): Promise<number>;
  del(keys: string[]): Promise<number>;
  analyzeDistribution(): Promise<{ nodes: Array<{ node: string; keys: number; memory: number | null }>; imbalance: number; totalKeys: number }>;
  healthCheck(): Promise<{ healthy: boolean; nodes: Array<{ node: string; healthy: boolean; latency: number; keys: number | null; status: string; error?: string }> }>;
  /** `batch`: this migration's SCAN COUNT (default `migrationBatch`). */
  addNode(node: string | (RedisServiceOptions & { name?: string }), options?: { batch?: number }): Promise<{ moved: number; failed: number }>;
  removeNode(node: string, options?: { batch?: number }): Promise<{ moved: number; failed: number }>;
  quit(): Promise<void>;
  disconnect(): Promise<void>;
  on(event: 'migrationProgress', listener: (p: MigrationProgress) => void): this;
  on(event: string | symbol, listener: (...args: any[]) => void): this;
}

export function createPartitioningService(options?: PartitioningOptions): RedisPartitioningService;

// ---- RedisCacheService and the patterns ----

export interface RedisCacheServiceOptions {
  /** The RedisService whose connections are shared (default: the getRedisService() singleton). */
  service?: RedisService;
  /** Session key prefix (default `session:`). */
  sessionPrefix?: string;
  /** Session TTL when setSession/touchSession get none (default 86400 s). */
  sessionTtlSeconds?: number;
  /** Lock key prefix (default `lock:`): the lock for `k` is `lock:{k}`, its fencing counter `lock:{k}:fence`. */
  lockPrefix?: string;
  /** Queue key prefix (default `queue:`): keys are `queue:{name}:waiting` and so on. */
  queuePrefix?: string;
  /** Default visibility timeout of dequeued jobs, ms (default 30000). */
  visibilityTimeoutMs?: number;
  /** Prefix of getOrSet's cross-process locks (default `getOrSet:lock:`). */
  getOrSetLockPrefix?: string;
  rateLimit?: {
    /** Deny every request while Redis is unavailable instead of limiting in process (default false). */
    failClosed?: boolean;
    /** Rate-limit key prefix (default `ratelimit:`). */
    prefix?: string;
  };
}

export interface GetOrSetOptions {
  /** Cross-process stampede protection: one process loads, the others wait for its value. */
  lock?: boolean | { ttlMs?: number; waitMs?: number };
}

export interface RateLimitOptions {
  limit: number;
  windowMs: number;
  /** 'sliding' (default: a sliding-window log) or 'token-bucket'. */
  algorithm?: 'sliding' | 'token-bucket';
}

export interface RateLimitResult {
  allowed: boolean;
  remaining: number;
  /** Epoch ms: when a slot frees (sliding) or the bucket is full again (token bucket). */
  resetAt: number;
  limit: number;
  /** 0 when allowed, else how long until a request would be allowed. */
  retryAfterMs: number;
  /** true when decided without Redis (in-process limiter, or failClosed). */
  degraded?: boolean;
}

export interface WithLockOptions {
  /** Seconds (default 30); the lock is extended every ttl/2 while fn runs. */
  ttl?: number;
  /** Further attempts when the lock is held (default 0). */
  retries?: number;
  /** Milliseconds between attempts (default 100). */
  retryDelay?: number;
}

export interface LockContext {
  /** The token of this acquisition, "<fence>:<random>". */
  token: string;
  /** The fencing number: strictly larger for every acquisition of this lock. */
  fence: number;
  /** Aborted (reason code ERR_RESILIS_LOCK_LOST) if an extension finds the lock lost. */
  signal: AbortSignal;
}

export interface Job<T = unknown> {
  id: string;
  data: T;
  /** Epoch ms (server clock). */
  enqueuedAt: number;
  /** Deliveries so far, this one included. */
  attempts: number;
  /** Epoch ms after which requeueStale re-delivers the job unless it is acked. */
  deadline: number;
}

export interface QueueStats {
  waiting: number;
  processing: number;
  delayed: number;
}

export class RedisCacheService {
  constructor(options?: RedisCacheServiceOptions);
  readonly service: RedisService;
  get<T = unknown>(key: string): Promise<T | null>;
  set(key: string, value: unknown, ttlSeconds?: number): Promise<true>;
  delete(key: string): Promise<boolean>;
  exists(key: string): Promise<boolean>;
  getOrSet<T>(key: string, factory: () => T | Promise<T>, ttlSeconds?: number, options?: GetOrSetOptions): Promise<T>;
  /** SCAN + UNLINK; resolves how many keys were deleted. */
  invalidatePattern(pattern: string): Promise<number>;

  setSession(id: string, data: unknown, ttlSeconds?: number): Promise<true>;
  getSession<T = unknown>(id: string): Promise<T | null>;
  deleteSession(id: string): Promise<boolean>;
  touchSession(id: string, ttlSeconds?: number): Promise<boolean>;

  checkRateLimit(key: string, limit: number, windowSeconds: number): Promise<RateLimitResult>;
  checkRateLimit(key: string, options: RateLimitOptions): Promise<RateLimitResult>;

  /** A token "<fence>:<random>", or null when the lock is held. */
  acquireLock(key: string, ttlSeconds?: number): Promise<string | null>;
  releaseLock(key: string, token: string): Promise<boolean>;
  extendLock(key: string, token: string, ttlSeconds: number): Promise<boolean>;
  withLock<T>(key: string, fn: (lock: LockContext) => T | Promise<T>, options?: number | WithLockOptions): Promise<T>;
  parseFence(token: string | null | undefined): number | null;

  enqueue(queue: string, data: unknown, options?: { delay?: number; jobId?: string }): Promise<string>;
  dequeue<T = unknown>(queue: string, options?: { visibilityTimeoutMs?: number }): Promise<Job<T> | null>;
  ack(queue: string, id: string): Promise<boolean>;
  nack(queue: string, id: string, options?: { delay?: number }): Promise<boolean>;
  requeueStale(queue: string, options?: { max?: number }): Promise<number>;
  queueStats(queue: string): Promise<QueueStats>;

  /** Strings and Buffers as they are, anything else JSON-encoded; resolves the receivers count. */
  publish(channel: string, message: unknown): Promise<number>;
  /** callback(message, channel) on the JS thread; JSON messages arrive decoded, others as strings. */
  subscribe<T = unknown>(channel: string, callback: (message: T, channel: string) => void): Promise<number>;
  psubscribe<T = unknown>(pattern: string, callback: (message: T, channel: string, pattern: string) => void): Promise<number>;
  /** One callback, or every listener of the channel (of every channel with no argument). */
  unsubscribe(channel?: string, callback?: (message: any, channel: string) => void): Promise<number>;
  punsubscribe(pattern?: string, callback?: (message: any, channel: string, pattern: string) => void): Promise<number>;
  healthCheck(): Promise<HealthCheckResult>;
}

export function createRedisCacheService(options?: RedisCacheServiceOptions): RedisCacheService;
export function getRedisCacheService(): RedisCacheService;
/** The fencing number of a token from acquireLock, or null. */
export function parseFence(token: string | null | undefined): number | null;

// ---- Express middleware (express itself is not a dependency) ----

export type Middleware = (req: any, res: any, next: (err?: unknown) => void) => Promise<void>;

export interface CacheOptions {
  /** Default 300. */
  ttlSeconds?: number;
  /** Default `cache`; keys are `<keyPrefix>:<path>[|q=...][|u=...][|h:name=...]`. */
  keyPrefix?: string;
  /** Default true. */
  includeQueryParams?: boolean;
  /** true: vary by req.user.id (or userId, sub); or a function of the request. */
  varyByUser?: boolean | ((req: any) => string);
  varyByHeaders?: string[];
  /** A RedisService or RedisCacheService (default: the getRedisService() singleton). */
  service?: RedisService | RedisCacheService;
}

export interface CacheStats {
  hits: number;
  misses: number;
  errors: number;
  hitRate: number;
}

export type WarmEntry = string | { path: string; body: unknown; status?: number; headers?: Record<string, string>; ttlSeconds?: number };
export interface WarmOptions {
  /** Where the app listens; needed for path strings, which are fetched so the middleware caches them. */
  baseUrl?: string;
  headers?: Record<string, string>;
  keyPrefix?: string;
  ttlSeconds?: number;
}

export class CacheMiddleware {
  constructor(service?: RedisService | RedisCacheService);
  cache(options?: CacheOptions): Middleware;
  getStats(): CacheStats;
  resetStats(): void;
  invalidateRoute(path: string, options?: { keyPrefix?: string }): Promise<number>;
  warm(entries: WarmEntry[], options?: WarmOptions): Promise<number>;
}

export interface CachingMiddleware extends Middleware {
  getStats(): CacheStats;
  resetStats(): void;
  invalidateRoute(path: string): Promise<number>;
  warm(entries: WarmEntry[], options?: WarmOptions): Promise<number>;
}

export function cacheMiddleware(options?: CacheOptions): CachingMiddleware;

export interface HealthRouterOptions {
  service?: RedisService | RedisCacheService;
}
export interface HealthResponse {
  status: 'ok' | 'error';
  timestamp: string;
  uptime: number;
  checks: Array<{ name: string; status: 'healthy' | 'degraded' | 'unhealthy'; message: string; details?: Record<string, unknown> }>;
  overall: 'healthy' | 'degraded' | 'unhealthy';
}
export function healthRouter(options?: HealthRouterOptions): Middleware;
export interface MetricsRouterOptions {
  service?: RedisService | RedisCacheService;
  /** Default '/metrics'. */
  path?: string;
}
/** GET /metrics: service.metrics() as text/plain; version=0.0.4. */
export function metricsRouter(options?: MetricsRouterOptions): Middleware;

export interface RateLimitMiddlewareOptions {
  limit: number;
  windowMs: number;
  keyGenerator?: (req: any) => string | Promise<string>;
  algorithm?: 'sliding' | 'token-bucket';
  service?: RedisService | RedisCacheService;
  failClosed?: boolean;
  prefix?: string;
  /** Default 429. */
  statusCode?: number;
}
export function rateLimitMiddleware(options: RateLimitMiddlewareOptions): Middleware;
