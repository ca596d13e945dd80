// Issue 21: resilis/otel with the real OpenTelemetry SDK (in-memory span exporter, a metric
// reader): spans per the database client conventions for a GET, a pipeline, a call served by the
// fallback and an error, who served each command, connect spans, and the
// db.client.operation.duration histogram.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { MeterProvider, PeriodicExportingMetricReader, InMemoryMetricExporter, AggregationTemporality } from '@opentelemetry/sdk-metrics';
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { startRedis } from './harness/redis.mjs';
import { openService, closeServices } from './harness/service.mjs';
import { uniqueKey, eventually } from './harness/util.mjs';

const require = createRequire(import.meta.url);
const OPTIONS = { commandTimeout: 500, connectTimeout: 300, circuitBreaker: { resetTimeout: 500 } };
const servers = [];
const exporter = new InMemorySpanExporter();
const tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
const reader = new PeriodicExportingMetricReader({
  exporter: new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE),
  exportIntervalMillis: 3600000,
});
const meterProvider = new MeterProvider({ readers: [reader] });
let handle;

before(() => {
  // the package's own entry point, as an app would load it
  const { instrument } = require('resilis/otel');
  handle = instrument({ tracerProvider, meterProvider });
});

after(async () => {
  handle.disable();
  await closeServices();
  for (const s of servers) await s.stop();
  await meterProvider.shutdown();
});

async function spansOf(fn) {
  exporter.reset();
  await fn();
  return exporter.getFinishedSpans();
}

test('a GET is one CLIENT span with the database client attributes', async () => {
  const server = await startRedis();
  servers.push(server);
  const svc = openService(server, OPTIONS);
  const key = uniqueKey('o');
  await svc.set(key, 'v');
  const spans = await spansOf(() => svc.get(key));
  assert.equal(spans.length, 1);
  const [s] = spans;
  assert.equal(s.name, 'GET');
  assert.equal(s.kind, SpanKind.CLIENT);
  assert.equal(s.instrumentationScope.name, 'resilis');
  assert.deepEqual(
    { ...s.attributes },
    {
      'db.system.name': 'redis',
      'db.operation.name': 'GET',
      'db.namespace': '0',
      'server.address': '127.0.0.1',
      'server.port': server.port,
      'resilis.topology': 'standalone',
      'resilis.source': 'redis',
      'resilis.breaker.state': 'closed',
    },
  );
  assert.equal(s.status.code, SpanStatusCode.UNSET);

  const { resourceMetrics } = await reader.collect();
  const metric = resourceMetrics.scopeMetrics.flatMap((m) => m.metrics).find((m) => m.descriptor.name === 'db.client.operation.duration');
  assert.ok(metric, 'the duration histogram is recorded');
  assert.equal(metric.descriptor.unit, 's');
  const get = metric.dataPoints.find((p) => p.attributes['db.operation.name'] === 'GET');
  assert.ok(get.value.count >= 1);
  assert.equal(get.attributes['db.system.name'], 'redis');
  assert.equal(get.attributes['server.port'], server.port);
});

test('a pipeline is a PIPELINE span with its commands as children', async () => {
  const server = await startRedis();
  servers.push(server);
  const svc = openService(server, OPTIONS);
  const key = uniqueKey('p');
  const spans = await spansOf(() => svc.pipeline([{ command: 'set', args: [key, '1'] }, { command: 'incr', args: [key] }]));
  const parent = spans.find((s) => s.name === 'PIPELINE');
  assert.ok(parent);
  assert.equal(parent.attributes['db.operation.batch.size'], 2);
  const children = spans.filter((s) => s.name !== 'PIPELINE' && s.name !== 'connect');
  assert.deepEqual(children.map((s) => s.name), ['SET', 'INCR']);
  for (const c of children) {
    assert.equal(c.parentSpanContext.spanId, parent.spanContext().spanId);
    assert.equal(c.spanContext().traceId, parent.spanContext().traceId);
  }
});

test('an error reply: the span has status ERROR, error.type and the exception', async () => {
  const server = await startRedis();
  servers.push(server);
  const svc = openService(server, OPTIONS);
  const key = uniqueKey('e');
  await svc.set(key, 'text');
  const spans = await spansOf(() => svc.incr(key).catch(() => {}));
  assert.equal(spans.length, 1);
  assert.equal(spans[0].status.code, SpanStatusCode.ERROR);
  assert.equal(spans[0].attributes['error.type'], 'ERR');
  assert.equal(spans[0].events[0].name, 'exception');
});

test('a call served by the fallback is marked resilis.source = fallback', async () => {
  const server = await startRedis();
  servers.push(server);
  const svc = openService(server, OPTIONS);
  const key = uniqueKey('f');
  await svc.set(key, '1');
  await server.kill('SIGKILL');
  assert.ok(await eventually(async () => {
    await svc.set(key, '2').catch(() => {});
    return (await svc.getStats()).degraded;
  }, 10000), 'eventually');
  const spans = await spansOf(async () => {
    await svc.set(key, '3');
    await svc.get(key);
  });
  assert.deepEqual(spans.map((s) => [s.name, s.attributes['resilis.source']]), [['SET', 'fallback'], ['GET', 'fallback']]);
  // The GET's own breaker had seen no failure: the service's outage routed it.
  assert.equal(spans[1].attributes['resilis.breaker.state'], 'closed');
  assert.equal(spans[1].status.code, SpanStatusCode.UNSET);
});

test('a read Redis answers after a timeout of the one before is marked by who served each', async () => {
  const server = await startRedis();
  servers.push(server);
  const svc = openService(server, { ...OPTIONS, commandTimeout: 200 });
  const key = uniqueKey('t');
  await svc.set(key, 'v');
  await server.cli('CLIENT', 'PAUSE', '600', 'ALL');
  const spans = await spansOf(async () => {
    await svc.get(key); // times out: the fallback answers, the service is not degraded
    await new Promise((r) => setTimeout(r, 700));
    await svc.get(key);
  });
  assert.deepEqual(spans.map((s) => s.attributes['resilis.source']), ['fallback', 'redis']);
  assert.deepEqual(spans.map((s) => s.attributes['resilis.breaker.state']), ['closed', 'closed']);
});

test('each connection is a connect span, timed from its reported duration; a refused one has status ERROR', async () => {
  const password = 'pw-' + uniqueKey('c');
  const server = await startRedis({ password });
  servers.push(server);
  const before = Date.now();
  const spans = await spansOf(async () => {
    const svc = openService(server, { ...OPTIONS, password, lazyConnect: true });
    await svc.connect();
    const wrong = openService(server, { ...OPTIONS, password: 'not-' + password, lazyConnect: true });
    await wrong.connect().catch(() => {});
  });
  const connects = spans.filter((s) => s.name === 'connect');
  assert.deepEqual(connects.map((s) => [s.attributes['resilis.connection'], s.status.code]).sort(), [
    ['lane', SpanStatusCode.UNSET], ['pool', SpanStatusCode.UNSET], ['pool', SpanStatusCode.ERROR],
  ]);
  for (const s of connects) {
    assert.equal(s.kind, SpanKind.CLIENT);
    assert.equal(s.attributes['server.port'], server.port);
    const startMs = s.startTime[0] * 1000 + s.startTime[1] / 1e6;
    assert.ok(startMs >= before - 50, 'starts when the attempt did');
    assert.ok(s.duration[0] * 1000 + s.duration[1] / 1e6 >= 0);
  }
  assert.ok(!JSON.stringify(connects.map((s) => [s.attributes, s.events, s.status])).includes(password));
});
