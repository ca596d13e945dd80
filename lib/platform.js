'use strict';
// The napi-rs platform name of this process (`linux-x64-gnu`, `darwin-arm64`,
// `win32-x64-msvc`, ...): the suffix of the per-platform package
// `resilis-<platform>` and of a locally built `resilis.<platform>.node`.

const { readFileSync } = require('node:fs');

/**
 * True on a musl libc (Alpine). The dynamic loader's script says so; Node's
 * report (which names glibc's version) is the fallback: it takes ~8 ms.
 */
function isMusl() {
  if (process.platform !== 'linux') return false;
  try {
    return readFileSync('/usr/bin/ldd', 'utf8').includes('musl');
  } catch {
    // no ldd script: ask Node
  }
  try {
    const report = process.report && process.report.getReport();
    return Boolean(report && report.header && !report.header.glibcVersionRuntime);
  } catch {
    return false;
  }
}

function platformName() {
  const { platform, arch } = process;
  if (platform === 'linux') return `${platform}-${arch}-${isMusl() ? 'musl' : 'gnu'}`;
  if (platform === 'win32') return `${platform}-${arch}-msvc`;
  return `${platform}-${arch}`;
}

module.exports = { platformName, isMusl };
