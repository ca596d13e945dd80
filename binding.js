'use strict';
// Loads the native addon. Written by hand (napi build runs with --no-js), so
// that a missing binary is reported by the exact package to install.
//
// Where the addon comes from, first hit wins:
//   1. RESILIS_NATIVE_PATH: an explicit path to a `.node` file;
//   2. `resilis.<platform>.node` beside this file: a checkout after `npm run build`;
//   3. the platform package `resilis-<platform>` (an optionalDependency of
//      resilis, installed by npm for the matching os/cpu/libc only).

const { existsSync } = require('node:fs');
const path = require('node:path');
const pkg = require('./package.json');
const { platformName } = require('./lib/platform.js');

function missingBindingError(platform, packageName, loadErrors) {
  const supported = Object.keys(pkg.optionalDependencies || {}).includes(packageName);
  const lines = supported
    ? [
        `resilis: the native addon for ${platform} is missing: the package ${packageName} is not installed.`,
        `Install it: npm install ${packageName}@${pkg.version}`,
        '  (npm skips it with --omit=optional or --no-optional, or when package-lock.json was made on',
        '  another platform and installed with npm ci: install on the target platform, or add it by name).',
        `Or build it from source with Rust (see README "Install"): in a checkout of resilis run`,
        `  npm run build, which leaves resilis.${platform}.node beside binding.js.`,
      ]
    : [
        `resilis: no prebuilt native addon for ${platform} (prebuilt: ${Object.keys(pkg.optionalDependencies || {}).join(', ')}).`,
        `Build it from source with Rust (see README "Install"): in a checkout of resilis run`,
        `  npm run build, which leaves resilis.${platform}.node beside binding.js.`,
      ];
  for (const e of loadErrors) lines.push(`  tried: ${e.message.split('\n')[0]}`);
  const err = new Error(lines.join('\n'));
  err.code = 'ERR_RESILIS_NATIVE_BINDING';
  err.packageName = packageName;
  if (loadErrors.length) err.cause = loadErrors[loadErrors.length - 1];
  return err;
}

function loadNative() {
  const platform = platformName();
  const packageName = `${pkg.name}-${platform}`;
  const loadErrors = [];
  const candidates = [];
  if (process.env.RESILIS_NATIVE_PATH) candidates.push(path.resolve(process.env.RESILIS_NATIVE_PATH));
  const local = path.join(__dirname, `${pkg.name}.${platform}.node`);
  if (existsSync(local)) candidates.push(local);
  for (const file of candidates) {
    try {
      return require(file);
    } catch (e) {
      loadErrors.push(e);
    }
  }
  let installed;
  try {
    installed = require(`${packageName}/package.json`).version;
  } catch (e) {
    if (e.code !== 'MODULE_NOT_FOUND') loadErrors.push(e);
  }
  if (installed !== undefined) {
    if (installed !== pkg.version) {
      const err = new Error(
        `resilis ${pkg.version} needs ${packageName}@${pkg.version}, but ${installed} is installed: ` +
          `npm install ${packageName}@${pkg.version}`,
      );
      err.code = 'ERR_RESILIS_NATIVE_BINDING';
      err.packageName = packageName;
      throw err;
    }
    try {
      return require(packageName);
    } catch (e) {
      // Installed but not loadable (a wrong libc, a corrupt file): the cause says which.
      loadErrors.push(e);
    }
  }
  throw missingBindingError(platform, packageName, loadErrors);
}

module.exports = loadNative();
