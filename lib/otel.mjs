// ESM entry of `resilis/otel`: the same objects as the CommonJS module.
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const mod = require('./otel.js');

export const { instrument } = mod;
export default mod;
