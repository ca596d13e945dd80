// Packs what a release publishes, for this machine's platform only:
//   <out>/resilis-<version>.tgz                 the main package (no .node inside)
//   <out>/resilis-<platform>-<version>.tgz      npm/<platform>/ with the built addon
// Usage: node scripts/pack-local.mjs [--out DIR] [--json]
// (`npm run pack:local` builds the addon first and writes to dist/.)
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { platformName } = require(path.join(root, 'lib', 'platform.js'));

const args = process.argv.slice(2);
const outIndex = args.indexOf('--out');
const outDir = path.resolve(outIndex >= 0 ? args[outIndex + 1] : path.join(root, 'dist'));
const asJson = args.includes('--json');

function fail(message) {
  console.error(`pack-local: ${message}`);
  process.exit(1);
}

const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8'));
const platform = platformName();
const platformPackage = `${pkg.name}-${platform}`;
const platformDir = path.join(root, 'npm', platform);
const addon = path.join(root, `${pkg.napi.binaryName}.${platform}.node`);

if (!existsSync(platformDir)) fail(`no npm/${platform}/ folder: ${platform} is not in package.json's napi.targets`);
if (!existsSync(addon)) fail(`${path.basename(addon)} is missing: run \`npm run build\` first`);
const platformPkg = JSON.parse(readFileSync(path.join(platformDir, 'package.json'), 'utf8'));
if (platformPkg.name !== platformPackage) fail(`npm/${platform}/package.json names ${platformPkg.name}, not ${platformPackage}`);
if (platformPkg.version !== pkg.version) {
  fail(`npm/${platform}/package.json is at ${platformPkg.version}, resilis at ${pkg.version}: run \`npx napi version\``);
}
if (pkg.optionalDependencies?.[platformPackage] !== pkg.version) {
  fail(`package.json's optionalDependencies must name ${platformPackage}@${pkg.version}`);
}

/** `npm pack` of `dir` into outDir; returns the tarball's path. */
function npmPack(dir) {
  const out = execFileSync('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', outDir], {
    cwd: dir,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const [{ filename }] = JSON.parse(out);
  return path.join(outDir, filename);
}

mkdirSync(outDir, { recursive: true });

// The platform package is staged outside npm/ so the checkout keeps no copy of the binary.
const stage = mkdtempSync(path.join(os.tmpdir(), 'resilis-pack-'));
let platformTarball;
try {
  for (const file of ['package.json', 'README.md']) {
    if (existsSync(path.join(platformDir, file))) copyFileSync(path.join(platformDir, file), path.join(stage, file));
  }
  copyFileSync(addon, path.join(stage, platformPkg.main));
  platformTarball = npmPack(stage);
} finally {
  rmSync(stage, { recursive: true, force: true });
}
const mainTarball = npmPack(root);

const result = {
  main: mainTarball,
  platform: platformTarball,
  platformPackage,
  addonBytes: statSync(addon).size,
  mainBytes: statSync(mainTarball).size,
  platformBytes: statSync(platformTarball).size,
};
if (asJson) {
  console.log(JSON.stringify(result));
} else {
  const kb = (n) => `${(n / 1024).toFixed(0)} kB`;
  console.log(`${path.relative(process.cwd(), mainTarball)}  ${kb(result.mainBytes)}`);
  console.log(`${path.relative(process.cwd(), platformTarball)}  ${kb(result.platformBytes)} (addon ${kb(result.addonBytes)})`);
  console.log(`install both: npm install ${path.relative(process.cwd(), outDir)}/*.tgz`);
}
