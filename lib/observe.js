'use strict';
// Tracing channels and the audit hook: what the dispatcher reports about each
// command when someone watches. The dispatcher asks `watching()` once per batch
// (a tick's commands, a pipeline, a transaction); with nobody subscribed and no
// audit hook it records nothing.
//
// Channels (node:diagnostics_channel TracingChannel, events start, end,
// asyncStart, asyncEnd, error):
//   resilis:command  one per command
//   resilis:batch    one per pipeline (batchMode 'PIPELINE'), transaction ('MULTI')
//                    or tick of coalesced commands ('AUTO', when more than one)
//   resilis:connect  one per connection opened (or failed): node-redis' ConnectTraceContext
//                    { serverAddress, serverPort, clientId } plus connection ('lane' | 'pool'
//                    | 'rest') and durationMs; published when the core reports the attempt
//                    done (its start was durationMs earlier)
// Payloads have node-redis' shapes (@redis/client lib/client/tracing.js:
// CommandTraceContext { command, args, database, serverAddress, serverPort, clientId },
// BatchCommandTraceContext adds batchMode and batchSize; BatchOperationContext
// { batchMode, batchSize, database, serverAddress, serverPort, clientId }), plus
// resilis' own fields: keyCount, topology, and, set with result/error before
// asyncStart, source and breakerState: who served the command and the state of
// the breaker that routed it, as the core saw them (src/core/served.rs; null when
// nobody served it or no breaker was asked). `args` is [COMMAND] unless
// `trace: { includeArgs: true }`; AUTH and HELLO arguments are always '?'.

const dc = require('node:diagnostics_channel');
const { performance } = require('node:perf_hooks');
const { commandTable, ServedSource, ServedBreaker } = require('../binding.js');
const { makeError } = require('./errors');

const commandChannel = dc.tracingChannel('resilis:command');
const batchChannel = dc.tracingChannel('resilis:batch');
const connectChannel = dc.tracingChannel('resilis:connect');

// A served code (src/binding/boundary.rs `served_code`): the source in bits 0-1,
// the breaker state in bits 2-3.
const SOURCES = [];
SOURCES[ServedSource.None] = null;
SOURCES[ServedSource.Redis] = 'redis';
SOURCES[ServedSource.Fallback] = 'fallback';
SOURCES[ServedSource.NearCache] = 'near-cache';
const BREAKER_STATES = [];
BREAKER_STATES[ServedBreaker.None] = null;
BREAKER_STATES[ServedBreaker.Closed] = 'closed';
BREAKER_STATES[ServedBreaker.Open] = 'open';
BREAKER_STATES[ServedBreaker.HalfOpen] = 'half-open';

/** Default bound of the audit queue; entries beyond it are counted in `auditDropped`. */
const AUDIT_MAX_QUEUE = 10000;

// From the command table: writes, and where the keys are.
const ROWS = new Map(commandTable().map((c) => [c.name, c]));

/** The keys of one command as the table's method shape says. */
function keysOf(row, args) {
  if (!row) return [];
  // MSET's keys alternate with values (the table knows only its first key).
  if (row.name === 'mset' || row.name === 'msetnx') return args.filter((_, i) => i % 2 === 0);
  if (row.script) {
    const n = Number(args[1]) || 0;
    return args.slice(2, 2 + n);
  }
  switch (row.method) {
    case 'keyed':
      return args.length > 0 ? [args[0]] : [];
    case 'keys':
      return args.slice();
    case 'blocking':
      return args.slice(0, -1);
    default:
      return [];
  }
}

const REDACTED = new Set(['auth', 'hello']);

function argsFor(name, args, include) {
  const command = name.toUpperCase();
  if (!include) return [command];
  const out = [command];
  const redact = REDACTED.has(name.toLowerCase());
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    out.push(redact ? '?' : Buffer.isBuffer(a) ? a.toString('utf8') : String(a));
  }
  return out;
}

function normalizeAudit(audit) {
  if (audit === undefined || audit === null) return null;
  const handler = typeof audit === 'function' ? audit : audit.handler;
  if (typeof handler !== 'function') return null;
  const maxQueue = Number(audit.maxQueue) > 0 ? Math.floor(audit.maxQueue) : AUDIT_MAX_QUEUE;
  return { handler, reads: audit.reads === true, maxQueue };
}

/** A traced operation's outcome on its TracingChannel: `error` when it failed, then asyncStart and asyncEnd. */
function publishOutcome(channel, ctx, ok, value) {
  if (ok) ctx.result = value;
  else {
    ctx.error = value;
    channel.error.publish(ctx);
  }
  channel.asyncStart.publish(ctx);
  channel.asyncEnd.publish(ctx);
}

class Observer {
  /** `meta()` -> { serverAddress, serverPort, database, topology, clientId } (read when tracing starts). */
  constructor(options, meta, logger) {
    this.includeArgs = !!(options.trace && options.trace.includeArgs);
    this.audit = normalizeAudit(options.audit);
    this.meta = meta;
    this.logger = logger;
    this.auditQueue = [];
    this.auditDropped = 0;
    this.auditScheduled = false;
    this.drainAudit = () => this.flushAudit();
    // The tick batch being recorded, or null.
    this.tick = null;
  }

  /** Once per batch: does anyone want this batch's commands? */
  watching() {
    return this.audit !== null || commandChannel.hasSubscribers || batchChannel.hasSubscribers;
  }

  context(name, args, batch, batchCtx) {
    const m = this.meta();
    const row = ROWS.get(name.toLowerCase());
    const ctx = {
      command: name.toUpperCase(),
      args: argsFor(name, args, this.includeArgs),
      database: m.database,
      serverAddress: m.serverAddress,
      serverPort: m.serverPort,
      clientId: m.clientId,
      keyCount: keysOf(row, args).length,
      topology: m.topology,
      source: null, // set when the command settles
      breakerState: null,
    };
    if (batch) {
      ctx.batchMode = batch.batchMode;
      ctx.batchSize = batch.batchSize;
      // The batch's own context (resilis:batch), when that channel is watched: a span's parent.
      if (batchCtx) ctx.batch = batchCtx;
    }
    return ctx;
  }

  /** A command of this tick: its record, or null when nobody wants it. */
  begin(name, args) {
    const rec = this.record(name, args, null);
    if (rec !== null && batchChannel.hasSubscribers) (this.tick ??= []).push(rec);
    return rec;
  }

  record(name, args, batch, batchCtx) {
    const row = ROWS.get(name.toLowerCase());
    const audited = this.audit !== null && (row === undefined || !row.read || this.audit.reads);
    const traced = commandChannel.hasSubscribers;
    if (!audited && !traced) return null;
    const rec = { name, args, row, started: performance.now(), ctx: null, audited, batch: null, source: null, index: 0 };
    if (traced) {
      rec.ctx = this.context(name, args, batch, batchCtx);
      commandChannel.start.publish(rec.ctx);
      commandChannel.end.publish(rec.ctx);
    }
    return rec;
  }

  /** The tick's commands are sent: with more than one, they are an 'AUTO' batch. */
  flushTick() {
    const recs = this.tick;
    this.tick = null;
    if (recs === null || recs.length < 2) return;
    const batch = this.startBatch('AUTO', recs.length);
    batch.left = recs.length;
    for (const r of recs) r.batch = batch;
  }

  startBatch(batchMode, batchSize) {
    const m = this.meta();
    // `source`: its commands' when they all agree (set as it settles), else null.
    const ctx = { batchMode, batchSize, database: m.database, serverAddress: m.serverAddress, serverPort: m.serverPort, clientId: m.clientId, topology: m.topology, source: null };
    batchChannel.start.publish(ctx);
    batchChannel.end.publish(ctx);
    return { ctx, left: 0, failed: null, sources: undefined };
  }

  /** A pipeline or transaction: one record standing for the group. */
  beginGroup(cmds, transaction) {
    const batchMode = transaction ? 'MULTI' : 'PIPELINE';
    const batch = batchChannel.hasSubscribers ? this.startBatch(batchMode, cmds.length) : null;
    const shape = { batchMode, batchSize: cmds.length };
    const members = [];
    for (let i = 0; i < cmds.length; i++) {
      const r = this.record(cmds[i][0], cmds[i][1], shape, batch && batch.ctx);
      if (r !== null) {
        r.index = i;
        members.push(r);
      }
    }
    if (batch === null && members.length === 0) return null;
    return { group: true, batch, members };
  }

  /**
   * A record settles: `ok` with `value`, or not with `value` an Error; `served` is
   * the core's served code (a group: a string of one per command; absent: nobody served it).
   */
  end(rec, ok, value, served) {
    if (rec.group) {
      const results = ok && Array.isArray(value) ? value : null;
      const each = typeof served === 'string';
      // Members are the group's commands a record was made for (audit may skip reads).
      rec.members.forEach((m) => {
        const i = m.index;
        const r = results ? results[i] : value;
        const failed = results ? r instanceof Error : true;
        this.finish(m, !failed, r, each ? served.charCodeAt(i) : served);
      });
      if (rec.batch) {
        rec.batch.ctx.source = each ? common(served) : served === undefined ? null : SOURCES[served & 3];
        this.finishBatch(rec.batch.ctx, ok, value);
      }
      return;
    }
    this.finish(rec, ok, value, served);
    const b = rec.batch;
    if (b !== null) {
      if (!ok) b.failed ??= value;
      b.sources = b.sources === undefined || b.sources === rec.source ? rec.source : null;
      if (--b.left === 0) {
        b.ctx.source = b.sources;
        this.finishBatch(b.ctx, b.failed === null, b.failed);
      }
    }
  }

  finishBatch(ctx, ok, value) {
    publishOutcome(batchChannel, ctx, ok, value);
  }

  finish(rec, ok, value, served) {
    const ctx = rec.ctx;
    if (rec.source === null && served !== undefined) rec.source = SOURCES[served & 3];
    if (ctx !== null) {
      ctx.source = rec.source;
      ctx.breakerState = served === undefined ? null : BREAKER_STATES[(served >> 2) & 3];
      publishOutcome(commandChannel, ctx, ok, value);
    }
    if (rec.audited) this.queueAudit(rec, ok, value);
  }

  /** Does anyone want connection attempts? (Asked before the core's report is parsed.) */
  watchingConnects() {
    return connectChannel.hasSubscribers;
  }

  /** A connection attempt the core reports (src/core/events.rs `Connection`), done. */
  connection(report) {
    const m = this.meta();
    const ctx = {
      serverAddress: report.serverAddress,
      serverPort: report.serverPort,
      clientId: m.clientId,
      connection: report.connection,
      topology: m.topology,
      durationMs: report.durationMs,
    };
    connectChannel.start.publish(ctx);
    connectChannel.end.publish(ctx);
    if (report.error) {
      ctx.error = makeError(report.error.code, report.error.message, 'no');
      connectChannel.error.publish(ctx);
    }
    connectChannel.asyncStart.publish(ctx);
    connectChannel.asyncEnd.publish(ctx);
  }

  /** A GET answered by the near cache in JS (lib/near-cache.js). */
  nearCacheHit(key, value) {
    if (!this.watching()) return;
    const rec = this.record('get', [key], null);
    if (rec === null) return;
    rec.source = 'near-cache';
    this.finish(rec, true, value);
  }

  queueAudit(rec, ok, value) {
    if (this.auditQueue.length >= this.audit.maxQueue) {
      this.auditDropped++;
      return;
    }
    const entry = {
      time: Date.now(),
      command: rec.name.toLowerCase(),
      keys: keysOf(rec.row, rec.args).map((k) => (Buffer.isBuffer(k) ? k.toString('utf8') : String(k))),
      source: rec.source,
      ok,
      durationMs: performance.now() - rec.started,
    };
    if (!ok) entry.error = { code: value && value.code, message: value && value.message };
    this.auditQueue.push(entry);
    if (!this.auditScheduled) {
      this.auditScheduled = true;
      setImmediate(this.drainAudit);
    }
  }

  flushAudit() {
    this.auditScheduled = false;
    const q = this.auditQueue;
    this.auditQueue = [];
    const handler = this.audit.handler;
    for (let i = 0; i < q.length; i++) {
      try {
        handler(q[i]);
      } catch (err) {
        this.logger.warn({ event: 'audit', error: err && err.message }, 'the audit hook threw');
      }
    }
  }
}

/** The source all of a group's served codes agree on, else null. */
function common(served) {
  const first = SOURCES[served.charCodeAt(0) & 3] ?? null;
  for (let i = 1; i < served.length; i++) if (SOURCES[served.charCodeAt(i) & 3] !== first) return null;
  return first;
}

module.exports = { Observer, commandChannel, batchChannel, connectChannel, AUDIT_MAX_QUEUE, keysOf };
