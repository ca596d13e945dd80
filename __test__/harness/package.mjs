// Where the package under test lives, and how the specs load it (CommonJS entry, like a consumer).
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

const require = createRequire(import.meta.url);

// Loaded on call, not on import, so a spec can set process.env first.
export function loadResilis() {
  return require(path.join(repoRoot, 'lib', 'index.js'));
}
