'use strict';
// Per-node access for topology-aware callers: scanNodes() (one scanner per
// cluster primary, for keyspace-wide SCAN), scanPages() over them, SCRIPT LOAD and PUBSUB NUMSUB on each, and the topology report that
// healthCheck() and getStats() include.

const A = require('./args');
const { argumentError, makeError } = require('./errors');
const { FLAG_BUFFERS } = require('../binding.js');

/** Calls `native[method](id, ...args)`; it settles through the completion queue like a command. */
function nativeCall(service, method, ...args) {
  return service._dispatcher.lifecycleWith(method, ...args);
}

/** One command on one node (`host:port`) of the service's deployment. */
function sendToNode(service, address, name, args, buffers = false) {
  return nativeCall(service, 'nodeCommand', buffers ? FLAG_BUFFERS : 0, address, [name, args.length, ...args]);
}

/**
 * One node of the deployment, as ioredis' `Cluster#nodes()` hands them out: commands go to that
 * node only. `scan(cursor, { match, count, type })` like RedisService#scan; `call(name, ...args)`
 * (alias `send_command`), `sendCommand([name, ...args])`, `callBuffer` and `client(sub, ...)`.
 */
class NodeScanner {
  constructor(service, address) {
    this.service = service;
    this.address = address;
    const colon = address.lastIndexOf(':');
    this.options = { host: address.slice(0, colon), port: Number(address.slice(colon + 1)) };
  }

  get status() {
    return this.service.status;
  }

  call(command, ...args) {
    return this._any(command, args, false);
  }

  callBuffer(command, ...args) {
    return this._any(command, args, true);
  }

  send_command(command, ...args) {
    return this._any(command, args, false);
  }

  /** CLIENT on this node: client('LIST') (BullMQ's getWorkers() lists every node's clients). */
  client(subcommand, ...args) {
    return this._any('CLIENT', [subcommand, ...args], false);
  }

  sendCommand(args) {
    if (!Array.isArray(args) || args.length === 0) {
      return Promise.reject(argumentError("sendCommand: expected an array such as ['PUBSUB', 'NUMSUB', 'ch']"));
    }
    return this._any(String(args[0]), args.slice(1), false);
  }

  _any(command, args, buffers) {
    try {
      if (typeof command !== 'string' || command.length === 0) throw argumentError('call: command must be a non-empty string');
      return sendToNode(this.service, this.address, command, A.flatten(args, command), buffers);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  scan(cursor, ...rest) {
    try {
      return sendToNode(this.service, this.address, 'scan', A.scanArgs(cursor, rest));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  scanBuffer(cursor, ...rest) {
    try {
      return sendToNode(this.service, this.address, 'scan', A.scanArgs(cursor, rest), true);
    } catch (err) {
      return Promise.reject(err);
    }
  }
}

/**
 * The topology report for healthCheck() and getStats(): mode, nodes (role, state, PING latency
 * within `limitMs`, default min(commandTimeout, 1 s)), cluster state, master. Never rejects.
 */
async function topologyReport(service, limitMs) {
  const info = JSON.parse(service._native.describe());
  const limit = Math.max(1, Math.round(limitMs ?? Math.min(1000, info.commandTimeout || 1000)));
  try {
    return JSON.parse(await nativeCall(service, 'topology', limit));
  } catch (err) {
    return { mode: info.mode, nodeCount: 0, nodes: [], error: err.message };
  }
}

/**
 * Every page of a keyspace-wide SCAN: `[keys]` per reply, one node after the other (each
 * master of a cluster, see scanNodes below). `opts`: `{ match, count, type }` as scan() takes them.
 */
async function* scanPages(service, opts) {
  const nodes = typeof service.scanNodes === 'function' ? await service.scanNodes() : [service];
  for (const node of nodes) {
    let cursor = '0';
    do {
      const [next, keys] = await node.scan(cursor, opts);
      cursor = String(next);
      yield keys;
    } while (cursor !== '0');
  }
}

/**
 * SCRIPT LOAD on every master of a cluster (EVALSHA runs on the master of its first key, which
 * must know the script), or on the one keyspace; resolves the digest. `args`: ['LOAD', source].
 */
async function scriptLoad(service, args, buffers) {
  const addresses = await nativeCall(service, 'scanNodes');
  if (!Array.isArray(addresses) || addresses.length === 0) return service._send('script', args, buffers);
  const digests = await Promise.all(addresses.map((a) => sendToNode(service, a, 'script', args, buffers)));
  return digests[0];
}

/**
 * PUBSUB NUMSUB over a cluster: each node counts only the subscribers connected to it (classic
 * pub/sub is broadcast over the cluster bus), so every master is asked and the counts are summed.
 * `args`: ['NUMSUB', ...channels]; resolves [channel, count, ...] as one node would.
 */
async function pubsubNumsub(service, args, buffers) {
  const addresses = await nativeCall(service, 'scanNodes');
  if (!Array.isArray(addresses) || addresses.length === 0) return service._send('pubsub', args, buffers);
  const replies = await Promise.all(addresses.map((a) => sendToNode(service, a, 'pubsub', args, buffers)));
  const sum = replies[0].slice();
  for (const r of replies.slice(1)) for (let i = 1; i < sum.length; i += 2) sum[i] += r[i];
  return sum;
}

/**
 * ioredis' `Cluster#nodes(role)`, synchronous: one handle per cluster master known now (see
 * NodeScanner), [] before the first connect. Installed on cluster services only, as ioredis has
 * it on Cluster only (libraries test `typeof client.nodes === 'function'`). Cluster replicas are
 * not handed out: 'slave' throws ERR_RESILIS_UNSUPPORTED.
 */
function clusterNodes(role = 'all') {
  if (role === 'slave') {
    throw makeError('ERR_RESILIS_UNSUPPORTED', "nodes('slave'): resilis does not hand out cluster replicas; use nodes('master') or nodes()");
  }
  if (role !== 'all' && role !== 'master') throw argumentError(`nodes: role must be 'all', 'master' or 'slave', got ${String(role)}`);
  return this._native.knownNodes().map((a) => new NodeScanner(this, a));
}

function installNodes(proto) {
  /**
   * What a keyspace-wide SCAN must visit: one scanner per cluster primary (each has
   * `scan(cursor, opts)` and `address`), or `[this]` when the deployment is one keyspace
   * (standalone, sentinel, read replicas, memory).
   */
  proto.scanNodes = async function scanNodes() {
    const addresses = await nativeCall(this, 'scanNodes');
    if (!Array.isArray(addresses) || addresses.length === 0) return [this];
    return addresses.map((a) => new NodeScanner(this, a));
  };

  /** ioredis' scanStream({ match, count, type }): a Readable (object mode) of key arrays, one
   * per SCAN reply, over every master of a cluster. */
  proto.scanStream = function scanStream(opts = {}) {
    const { Readable } = require('stream');
    return Readable.from(scanPages(this, opts));
  };
}

module.exports = { installNodes, clusterNodes, topologyReport, NodeScanner, scanPages, scriptLoad, pubsubNumsub };
