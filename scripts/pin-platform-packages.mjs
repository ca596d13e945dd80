// Sets package.json's optionalDependencies to the platform package of every target in
// napi.targets (`resilis-<platform>`, named as napi-rs names them), at resilis' own version.
// Run by `npm version` after `napi version` (which moves npm/*/package.json but not the
// root's optionalDependencies), so a bump keeps all of them in step.
// Usage: node scripts/pin-platform-packages.mjs [package folder, default: this checkout]
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseTriple } from '@napi-rs/cli';

const root = process.argv[2] ? path.resolve(process.argv[2]) : path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const file = path.join(root, 'package.json');
const pkg = JSON.parse(readFileSync(file, 'utf8'));
// Sorted by name, as npm writes them.
pkg.optionalDependencies = Object.fromEntries(
  pkg.napi.targets.map((triple) => [`${pkg.name}-${parseTriple(triple).platformArchABI}`, pkg.version]).sort(),
);
writeFileSync(file, `${JSON.stringify(pkg, null, 2)}\n`);
console.log(`optionalDependencies: ${Object.keys(pkg.optionalDependencies).join(', ')} at ${pkg.version}`);
