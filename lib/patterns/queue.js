'use strict';
// A reliable queue. Per queue `q` (all keys share the hash tag `{q}`, so one cluster slot):
//   queue:{q}:waiting     LIST of job ids, FIFO
//   queue:{q}:processing  ZSET id -> visibility deadline (ms, server clock)
//   queue:{q}:delayed     ZSET id -> due time (ms)
//   queue:{q}:job:<id>    HASH { data (JSON), enqueuedAt, attempts }
// dequeue moves a job from waiting to processing in one Lua step; ack deletes it; a job whose
// consumer died is re-delivered by requeueStale once its deadline passes (at-least-once).

const { randomUUID } = require('./random');
const V = require('./validate');
const { encode, decode } = require('./json');
const { SCRIPTS, runScript } = require('./scripts');

const DEFAULT_VISIBILITY_MS = 30000;

class Queue {
  /** options: { prefix = 'queue:', visibilityTimeoutMs = 30000 } */
  constructor(service, options = {}) {
    this.service = service;
    this.prefix = options.prefix ?? 'queue:';
    this.visibilityTimeoutMs = options.visibilityTimeoutMs ?? DEFAULT_VISIBILITY_MS;
  }

  keys(queue) {
    const base = `${this.prefix}{${V.key(queue, 'queue name')}}`;
    return {
      waiting: `${base}:waiting`,
      processing: `${base}:processing`,
      delayed: `${base}:delayed`,
      jobPrefix: `${base}:job:`,
    };
  }

  /** enqueue(queue, data, { delay (ms), jobId }) -> job id. An existing jobId is not enqueued twice. */
  async enqueue(queue, data, options) {
    const opts = V.options(options, 'enqueue: options');
    const k = this.keys(queue);
    const id = opts.jobId === undefined ? randomUUID() : V.key(opts.jobId, 'enqueue: options.jobId');
    const delay = opts.delay === undefined ? 0 : Math.ceil(V.nonNegative(opts.delay, 'enqueue: options.delay (ms)'));
    await runScript(this.service, SCRIPTS.queueEnqueue, [k.waiting, k.delayed, k.jobPrefix + id],
      [id, encode(data, 'enqueue: data'), delay]);
    return id;
  }

  /** dequeue(queue, { visibilityTimeoutMs }) -> { id, data, enqueuedAt, attempts, deadline } | null. */
  async dequeue(queue, options) {
    const opts = V.options(options, 'dequeue: options');
    const visibility = Math.ceil(V.positive(opts.visibilityTimeoutMs ?? this.visibilityTimeoutMs, 'dequeue: options.visibilityTimeoutMs'));
    const k = this.keys(queue);
    const reply = await runScript(this.service, SCRIPTS.queueDequeue, [k.waiting, k.processing, k.delayed], [visibility, k.jobPrefix]);
    if (!reply) return null;
    const [id, data, enqueuedAt, attempts, deadline] = reply;
    return { id, data: decode(data), enqueuedAt: Number(enqueuedAt), attempts: Number(attempts), deadline: Number(deadline) };
  }

  /** Done with a job: removes it for good. Resolves true when it was being processed. */
  async ack(queue, id) {
    const k = this.keys(queue);
    const reply = await runScript(this.service, SCRIPTS.queueAck, [k.processing, k.jobPrefix + V.key(id, 'ack: id')], [id]);
    return reply === 1;
  }

  /** Gives a job back: to the waiting list now, or after `delay` ms. Resolves true when it was being processed. */
  async nack(queue, id, options) {
    const opts = V.options(options, 'nack: options');
    const delay = opts.delay === undefined ? 0 : Math.ceil(V.nonNegative(opts.delay, 'nack: options.delay (ms)'));
    const k = this.keys(queue);
    const reply = await runScript(this.service, SCRIPTS.queueNack, [k.waiting, k.processing, k.delayed], [V.key(id, 'nack: id'), delay]);
    return reply === 1;
  }

  /** Re-delivers jobs whose visibility deadline passed. Resolves how many were moved. */
  async requeueStale(queue, options) {
    const opts = V.options(options, 'requeueStale: options');
    const max = opts.max === undefined ? 1000 : V.positiveInt(opts.max, 'requeueStale: options.max');
    const k = this.keys(queue);
    return Number(await runScript(this.service, SCRIPTS.queueRequeueStale, [k.waiting, k.processing], [max]));
  }

  async stats(queue) {
    const k = this.keys(queue);
    const replies = await this.service.pipeline([
      { command: 'llen', args: [k.waiting] },
      { command: 'zcard', args: [k.processing] },
      { command: 'zcard', args: [k.delayed] },
    ]);
    const failed = replies.find((r) => r instanceof Error);
    if (failed) throw failed;
    const [waiting, processing, delayed] = replies.map(Number);
    return { waiting, processing, delayed };
  }
}

module.exports = { Queue };
