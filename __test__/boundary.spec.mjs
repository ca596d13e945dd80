// The JS/Rust boundary is typed, not copied: error codes, completion statuses and flags are
// exported by the binding (src/binding/boundary.rs, src/core/error.rs) and the facade, the
// typings and the README are held to that one list. No Redis needed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { repoRoot, loadResilis } from './harness/package.mjs';

const require = createRequire(import.meta.url);
const binding = require(path.join(repoRoot, 'binding.js'));
const exported = binding.errorCodes();

function read(rel) {
  return readFileSync(path.join(repoRoot, rel), 'utf8');
}

function jsFiles(dir) {
  const out = [];
  for (const e of readdirSync(path.join(repoRoot, dir), { withFileTypes: true })) {
    const rel = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...jsFiles(rel));
    else if (/\.(c|m)?js$/.test(e.name)) out.push(rel);
  }
  return out;
}

function sorted(values) {
  return [...new Set(values)].sort();
}

function assertSameSet(actual, expected, what) {
  const missing = expected.filter((c) => !actual.includes(c));
  const extra = actual.filter((c) => !expected.includes(c));
  assert.deepEqual({ missing, extra }, { missing: [], extra: [] }, `${what} against the binding's errorCodes()`);
}

test('the binding exports the one list of error codes, each once', () => {
  assert.ok(Array.isArray(exported) && exported.length >= 15, `errorCodes(): ${exported}`);
  assert.equal(new Set(exported).size, exported.length, 'no code twice');
  for (const code of exported) assert.match(code, /^ERR_RESILIS_[A-Z_]+$/);
});

test("index.d.ts: ResilisError['code'] is the union of every exported code, both ways", () => {
  const dts = read('index.d.ts');
  const union = /export type ResilisErrorCode =([^;]*);/.exec(dts);
  assert.ok(union, 'index.d.ts declares ResilisErrorCode');
  const members = [...union[1].matchAll(/\|\s*'([^']+)'/g)].map((m) => m[1]);
  assert.equal(members.length, new Set(members).size, 'no member twice');
  assertSameSet(sorted(members), sorted(exported), 'ResilisErrorCode');
  assert.match(dts, /class ResilisError extends Error \{\s*code: ResilisErrorCode;/);
});

test("README's Errors table lists every exported code, and only those", () => {
  const rows = [...read('README.md').matchAll(/^\| `(ERR_RESILIS_[A-Z_]+)` \|/gm)].map((m) => m[1]);
  assertSameSet(sorted(rows), sorted(exported), "README's Errors table");
});

test('every code the facade and the loader raise is in the list', () => {
  const used = [];
  for (const file of [...jsFiles('lib'), 'binding.js']) {
    for (const m of read(file).matchAll(/['"`](ERR_RESILIS_[A-Z_]+)['"`]/g)) used.push([file, m[1]]);
  }
  assert.ok(used.length > 0);
  const unknown = used.filter(([, code]) => !exported.includes(code));
  assert.deepEqual(unknown, [], 'codes raised in JS but missing from src/core/error.rs');
});

test('completion statuses, flags and message forms come from the binding, by name', () => {
  const s = binding.CompletionStatus;
  const names = ['Value', 'Error', 'Group', 'Event', 'Message', 'Packed'];
  for (const n of names) assert.equal(typeof s[n], 'number', `CompletionStatus.${n}`);
  assert.equal(new Set(names.map((n) => s[n])).size, names.length, 'distinct statuses');
  for (const n of ['FLAG_BUFFERS', 'FORM_STRINGS', 'FORM_BUFFERS']) assert.equal(typeof binding[n], 'number', n);
  assert.equal(binding.FORM_STRINGS & binding.FORM_BUFFERS, 0, 'message forms are separate bits');
  // The facade copies none of them by hand.
  const copies = [];
  for (const file of jsFiles('lib')) {
    for (const m of read(file).matchAll(/\b((?:FLAG|FORM|STATUS)_[A-Z_]+)\s*=\s*\d/g)) copies.push(`${file}: ${m[0]}`);
  }
  assert.deepEqual(copies, []);
});

test('a synchronous error from the binding is a real Error with a code, not a "CODE: message" string', () => {
  let thrown;
  try {
    new binding.NativeService(JSON.stringify({ port: 'abc' }), {}, () => {});
  } catch (err) {
    thrown = err;
  }
  assert.ok(thrown instanceof Error, `threw ${thrown}`);
  assert.equal(thrown.code, 'ERR_RESILIS_CONFIG');
  assert.match(thrown.message, /port/);
  assert.doesNotMatch(thrown.message, /ERR_RESILIS/, 'the code is not in the message');
});

test('the facade throws it as a ResilisError with the same code, sent: no', () => {
  const { createRedisService, ResilisError } = loadResilis();
  assert.throws(
    () => createRedisService({ port: 'abc', lazyConnect: true }),
    (err) =>
      err instanceof ResilisError &&
      err.code === 'ERR_RESILIS_CONFIG' &&
      err.sent === 'no' &&
      /port/.test(err.message) &&
      !/ERR_RESILIS/.test(err.message),
  );
});
