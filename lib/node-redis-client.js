'use strict';
// getClient(): a node-redis (v4) flavoured view of the same service, for
// code written as `client.lPush(...)`, `client.sIsMember(...)` (boolean),
// `client.zAdd(key, [{ score, value }])`, `client.multi()...exec()`.

class NodeRedisClient {
  constructor(service) {
    this._service = service;
    return new Proxy(this, {
      get(target, prop) {
        if (prop in target) return target[prop];
        const fn = service[prop];
        return typeof fn === 'function' ? fn.bind(service) : fn;
      },
    });
  }

  get isOpen() {
    return true;
  }

  get isReady() {
    return this._service.isConnected;
  }

  async sIsMember(key, member) {
    return (await this._service.sismember(key, member)) === 1;
  }

  async hExists(key, field) {
    return (await this._service.hexists(key, field)) === 1;
  }

  async expire(key, seconds) {
    return (await this._service.expire(key, seconds)) === 1;
  }

  /** node-redis: sendCommand(['SET', 'k', 'v']). */
  sendCommand(args) {
    const [name, ...rest] = args;
    return this._service.call(name, ...rest);
  }

  multi() {
    return this._service.multi();
  }

  connect() {
    return this._service.connect();
  }

  quit() {
    return this._service.quit();
  }
}

module.exports = { NodeRedisClient };
