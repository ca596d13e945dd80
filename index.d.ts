// Public types of resilis (the facade in lib/). The native binding's own
// declarations are generated into binding.d.ts by `napi build`.
import { EventEmitter } from 'node:events';

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
  fallback?: { maxSize?: number; ttl?: number; writes?: 'replay' | 'local' };
  circuitBreaker?: { errorThreshold?: number; resetTimeout?: number; volumeThreshold?: number; rollingWindow?: number };
}

export interface SetOptions {
  EX?: number; PX?: number; EXAT?: number; PXAT?: number;
  ex?: number; px?: number;
  NX?: boolean; XX?: boolean; KEEPTTL?: boolean; GET?: boolean;
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
  host: string;
  port: number;
  mode: string;
  circuit?: string;
  error?: string;
}

export interface ServiceStats {
  connected: boolean;
  connectionAttempts: number;
  memoryUsage: string | null;
  connectedClients: number | null;
  uptime: number | null;
  mode: string;
  error?: string;
}

export type ExecResult = Array<[Error | null, unknown]>;

export interface ChainableBatch {
  addCommand(name: string, args?: RedisValue[]): this;
  readonly length: number;
  exec(): Promise<ExecResult>;
  execAsPipeline(): Promise<unknown[]>;
  [command: string]: any;
}

export class ResilisError extends Error {
  /** Stable: ERR_RESILIS_CONNECTION, _TIMEOUT, _REPLY, _CONFIG, _CLOSED, _INTERNAL. */
  code: string;
  /** Whether the command reached Redis: 'no', 'yes' or 'unknown'. */
  sent?: 'no' | 'yes' | 'unknown';
}

export class ResilisTypeError extends TypeError {
  code: 'ERR_RESILIS_ARGUMENT';
}

export class RedisService extends EventEmitter {
  constructor(options?: RedisServiceOptions);
  connect(): Promise<void>;
  disconnect(): Promise<void>;
  quit(): Promise<'OK'>;
  readonly isConnected: boolean;
  readonly status: string;
  ping(): Promise<boolean>;
  ping(message: RedisValue): Promise<string | false>;
  getClient(): NodeRedisClient;
  healthCheck(): Promise<HealthCheckResult>;
  getStats(): Promise<ServiceStats>;

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

  publish(channel: string, message: RedisValue): Promise<number>;
  eval(script: string, numKeys: number, ...keysAndArgs: RedisValue[]): Promise<unknown>;
  eval(script: string, options: { keys?: RedisValue[]; arguments?: RedisValue[] }): Promise<unknown>;
  evalsha(sha: string, numKeys: number, ...keysAndArgs: RedisValue[]): Promise<unknown>;
  evalsha(sha: string, options: { keys?: RedisValue[]; arguments?: RedisValue[] }): Promise<unknown>;
  /** Replies in order; an error reply stands in its place as an Error. */
  pipeline(commands: PipelineCommand[]): Promise<unknown[]>;
  pipeline(): ChainableBatch;
  multi(): ChainableBatch;
  call(command: string, ...args: Array<RedisValue | RedisValue[]>): Promise<unknown>;
  callBuffer(command: string, ...args: Array<RedisValue | RedisValue[]>): Promise<unknown>;
}

/** node-redis (v4) flavoured view returned by getClient(). */
export interface NodeRedisClient extends Omit<RedisService, 'sIsMember' | 'expire' | 'hExists'> {
  readonly isOpen: boolean;
  readonly isReady: boolean;
  sIsMember(key: RedisKey, member: RedisValue): Promise<boolean>;
  hExists(key: RedisKey, field: RedisValue): Promise<boolean>;
  expire(key: RedisKey, seconds: number): Promise<boolean>;
  sendCommand(args: RedisValue[]): Promise<unknown>;
}

export function createRedisService(options?: RedisServiceOptions): RedisService;
export function getRedisService(options?: RedisServiceOptions): RedisService;
export const redisService: RedisService;
export const RedisServiceFactory: {
  create(options?: RedisServiceOptions): RedisService;
  getInstance(options?: RedisServiceOptions): RedisService;
  healthCheck(): Promise<boolean>;
};
