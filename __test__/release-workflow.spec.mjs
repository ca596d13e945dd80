// .github/workflows/release.yml cannot run here; this checks that it parses and that it
// agrees with package.json: a build for every napi target, tests on every OS/libc under
// Node 20, 22 and 24, and a publish that runs napi prepublish then npm publish --provenance.
// Also the per-platform packages: one npm/<platform>/ per target, in step with the version.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parse } from 'yaml';
import { repoRoot } from './harness/package.mjs';

const pkg = JSON.parse(readFileSync(path.join(repoRoot, 'package.json'), 'utf8'));
const workflow = parse(readFileSync(path.join(repoRoot, '.github', 'workflows', 'release.yml'), 'utf8'));

// napi-rs' platform names for the targets this package lists (Rust triple -> npm suffix).
const PLATFORM = {
  'x86_64-unknown-linux-gnu': { suffix: 'linux-x64-gnu', os: 'linux', cpu: 'x64', libc: 'glibc' },
  'aarch64-unknown-linux-gnu': { suffix: 'linux-arm64-gnu', os: 'linux', cpu: 'arm64', libc: 'glibc' },
  'x86_64-unknown-linux-musl': { suffix: 'linux-x64-musl', os: 'linux', cpu: 'x64', libc: 'musl' },
  'aarch64-unknown-linux-musl': { suffix: 'linux-arm64-musl', os: 'linux', cpu: 'arm64', libc: 'musl' },
  'x86_64-apple-darwin': { suffix: 'darwin-x64', os: 'darwin', cpu: 'x64' },
  'aarch64-apple-darwin': { suffix: 'darwin-arm64', os: 'darwin', cpu: 'arm64' },
  'x86_64-pc-windows-msvc': { suffix: 'win32-x64-msvc', os: 'win32', cpu: 'x64' },
};

const steps = (job) => workflow.jobs[job].steps.map((s) => s.run || '').join('\n');

test('every napi target has a platform package, an optional dependency and the same version', () => {
  assert.deepEqual(Object.keys(pkg.optionalDependencies).sort(), pkg.napi.targets.map((t) => `resilis-${PLATFORM[t].suffix}`).sort());
  for (const target of pkg.napi.targets) {
    const p = PLATFORM[target];
    assert.ok(p, `${target} has a known platform name`);
    const dir = path.join(repoRoot, 'npm', p.suffix);
    assert.ok(existsSync(dir), `npm/${p.suffix}/ exists`);
    const sub = JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8'));
    assert.equal(sub.name, `resilis-${p.suffix}`);
    assert.equal(sub.version, pkg.version, `${sub.name} is at resilis' version`);
    assert.equal(pkg.optionalDependencies[sub.name], pkg.version);
    assert.deepEqual(sub.os, [p.os]);
    assert.deepEqual(sub.cpu, [p.cpu]);
    assert.deepEqual(sub.libc, p.libc ? [p.libc] : undefined);
    assert.equal(sub.main, `resilis.${p.suffix}.node`);
    assert.deepEqual(sub.files, [sub.main]);
  }
  assert.ok(!pkg.files.some((f) => f.endsWith('.node')), 'the main package ships no binary');
});

test('release.yml parses, runs on a version tag, builds every target', () => {
  assert.ok(workflow.on.push.tags.some((t) => t.startsWith('v')), 'triggered by a version tag');
  const built = workflow.jobs.build.strategy.matrix.settings.map((s) => s.target);
  assert.deepEqual([...built].sort(), [...pkg.napi.targets].sort());
  for (const s of workflow.jobs.build.strategy.matrix.settings) {
    assert.match(s.build, new RegExp(`npm run build -- --target ${s.target}\\b`));
    if (s.target.endsWith('-linux-musl')) assert.match(s.build, / -x$/, `${s.target} builds with zig`);
    if (s.target === 'aarch64-unknown-linux-gnu') assert.match(s.build, /--use-napi-cross/);
  }
});

test('release.yml tests the binaries on Linux (glibc, musl), macOS and Windows under Node 20, 22 and 24', () => {
  const tested = [
    ...workflow.jobs['test-unix'].strategy.matrix.settings.map((s) => s.target),
    ...workflow.jobs['test-musl'].strategy.matrix.target,
    'x86_64-pc-windows-msvc',
  ];
  assert.deepEqual([...tested].sort(), [...pkg.napi.targets].sort());
  for (const job of ['test-unix', 'test-musl', 'test-windows']) {
    assert.deepEqual(workflow.jobs[job].strategy.matrix.node, ['20', '22', '24'], job);
    assert.equal(workflow.jobs[job].needs, 'build');
  }
  assert.match(steps('test-unix'), /__test__\/package\.spec\.mjs/);
  assert.match(steps('test-musl'), /-alpine/);
  assert.match(steps('test-musl'), /__test__\/package\.spec\.mjs/);
  assert.match(steps('test-windows'), /scripts\/pack-local\.mjs/);
});

test('release.yml publishes after the tests: napi artifacts, napi prepublish, npm publish --provenance', () => {
  const publish = workflow.jobs.publish;
  assert.deepEqual([...publish.needs].sort(), ['test-musl', 'test-unix', 'test-windows']);
  assert.equal(publish.permissions['id-token'], 'write', 'provenance needs an OIDC token');
  const run = steps('publish');
  const order = ['napi artifacts', 'napi prepublish -t npm', 'npm publish --provenance --access public'];
  const at = order.map((s) => run.indexOf(s));
  assert.ok(at.every((i) => i >= 0), `publish runs ${order.join(', ')}`);
  assert.deepEqual([...at].sort((a, b) => a - b), at, 'in that order');
});

test('npm version moves resilis, its optionalDependencies and every npm/<platform> package together', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'resilis-version-'));
  try {
    for (const f of ['package.json', 'npm', 'scripts']) cpSync(path.join(repoRoot, f), path.join(dir, f), { recursive: true });
    symlinkSync(path.join(repoRoot, 'node_modules'), path.join(dir, 'node_modules'), 'dir');
    execFileSync('git', ['init', '-q'], { cwd: dir });
    execFileSync('npm', ['version', '9.8.7', '--no-git-tag-version'], { cwd: dir, stdio: 'pipe' });
    const bumped = JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8'));
    assert.equal(bumped.version, '9.8.7');
    assert.deepEqual(Object.keys(bumped.optionalDependencies), Object.keys(pkg.optionalDependencies));
    for (const [name, version] of Object.entries(bumped.optionalDependencies)) {
      assert.equal(version, '9.8.7', name);
      const sub = JSON.parse(readFileSync(path.join(dir, 'npm', name.slice('resilis-'.length), 'package.json'), 'utf8'));
      assert.equal(sub.version, '9.8.7', `npm/${sub.name}`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
