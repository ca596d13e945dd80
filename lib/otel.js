'use strict';
// resilis/otel: OpenTelemetry spans and metrics from resilis' tracing channels
// (lib/observe.js), per the semantic conventions for database client spans and
// metrics: span kind CLIENT, db.system.name 'redis', db.operation.name,
// db.namespace (the database index), server.address, server.port,
// db.operation.batch.size for pipelines and transactions, error.type on failure,
// and the db.client.operation.duration histogram (seconds); and a 'connect' span per
// connection attempt (resilis:connect), timed from its reported duration.
// @opentelemetry/api is an optional peer dependency: required only here.
//
//   const { instrument } = require('resilis/otel');
//   const handle = instrument();   // global tracer and meter providers
//   handle.disable();

const dc = require('node:diagnostics_channel');
const api = require('@opentelemetry/api');
const { version } = require('../package.json');

const NAME = 'resilis';
// Coalesced ticks ('AUTO') are an implementation detail of resilis, not a user's batch.
const USER_BATCHES = new Set(['PIPELINE', 'MULTI']);

function baseAttributes(ctx) {
  const a = {
    'db.system.name': 'redis',
    'db.namespace': String(ctx.database ?? 0),
    'resilis.topology': ctx.topology,
  };
  // Known once the command settled (lib/observe.js); null: nobody served it.
  if (ctx.source) a['resilis.source'] = ctx.source;
  if (ctx.serverAddress) a['server.address'] = ctx.serverAddress;
  if (ctx.serverPort) a['server.port'] = ctx.serverPort;
  return a;
}

function errorType(err) {
  if (!err) return undefined;
  // Redis error replies start with their kind (WRONGTYPE, ERR, NOSCRIPT); resilis' own carry a code.
  const m = /^([A-Z]+) /.exec(err.message || '');
  return (err.code && err.code !== 'ERR_RESILIS_REPLY' ? err.code : m && m[1]) || err.code || err.name || 'Error';
}

/** Subscribes to resilis:command and resilis:batch; returns { disable() }. */
function instrument(options = {}) {
  const tracer = (options.tracerProvider || api.trace.getTracerProvider()).getTracer(NAME, version);
  const meter = (options.meterProvider || api.metrics.getMeterProvider()).getMeter(NAME, version);
  const duration = meter.createHistogram('db.client.operation.duration', {
    description: 'Duration of database client operations.',
    unit: 's',
    advice: { explicitBucketBoundaries: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10] },
  });
  const spans = new WeakMap(); // context -> { span, started }

  const start = (ctx, name, attributes) => {
    const parentEntry = ctx.batch && spans.get(ctx.batch);
    const parent = parentEntry ? api.trace.setSpan(api.context.active(), parentEntry.span) : api.context.active();
    const span = tracer.startSpan(name, { kind: api.SpanKind.CLIENT, attributes }, parent);
    spans.set(ctx, { span, started: performance.now() });
  };
  const finish = (ctx, operation) => {
    const entry = spans.get(ctx);
    if (!entry) return;
    spans.delete(ctx);
    const { span, started } = entry;
    const attrs = baseAttributes(ctx);
    attrs['db.operation.name'] = operation;
    if (ctx.error) {
      const type = errorType(ctx.error);
      attrs['error.type'] = type;
      span.setAttribute('error.type', type);
      span.recordException(ctx.error);
      span.setStatus({ code: api.SpanStatusCode.ERROR, message: ctx.error.message });
    }
    if (ctx.source) span.setAttribute('resilis.source', ctx.source);
    if (ctx.breakerState) span.setAttribute('resilis.breaker.state', ctx.breakerState);
    span.end();
    delete attrs['resilis.topology'];
    duration.record((performance.now() - started) / 1000, attrs);
  };

  const command = {
    start(ctx) {
      const a = baseAttributes(ctx);
      a['db.operation.name'] = ctx.command;
      if (ctx.args.length > 1) a['db.query.text'] = ctx.args.join(' ');
      if (ctx.batchMode) a['db.operation.batch.size'] = ctx.batchSize;
      start(ctx, ctx.command, a);
    },
    asyncEnd(ctx) {
      finish(ctx, ctx.command);
    },
  };
  const batch = {
    start(ctx) {
      if (!USER_BATCHES.has(ctx.batchMode)) return;
      const a = baseAttributes(ctx);
      a['db.operation.name'] = ctx.batchMode;
      a['db.operation.batch.size'] = ctx.batchSize;
      start(ctx, ctx.batchMode, a);
    },
    asyncEnd(ctx) {
      finish(ctx, ctx.batchMode);
    },
  };
  // Published once the attempt is over: the span starts durationMs earlier.
  const connect = {
    asyncEnd(ctx) {
      const end = performance.timeOrigin + performance.now();
      const a = baseAttributes(ctx);
      a['resilis.connection'] = ctx.connection;
      const startTime = typeof ctx.durationMs === 'number' ? end - ctx.durationMs : end;
      const span = tracer.startSpan('connect', { kind: api.SpanKind.CLIENT, attributes: a, startTime }, api.context.active());
      if (ctx.error) {
        span.setAttribute('error.type', errorType(ctx.error));
        span.recordException(ctx.error);
        span.setStatus({ code: api.SpanStatusCode.ERROR, message: ctx.error.message });
      }
      span.end(end);
    },
  };
  const commandChannel = dc.tracingChannel('resilis:command');
  const batchChannel = dc.tracingChannel('resilis:batch');
  const connectChannel = dc.tracingChannel('resilis:connect');
  commandChannel.subscribe(command);
  batchChannel.subscribe(batch);
  connectChannel.subscribe(connect);
  return {
    disable() {
      commandChannel.unsubscribe(command);
      batchChannel.unsubscribe(batch);
      connectChannel.unsubscribe(connect);
    },
  };
}

module.exports = { instrument };
