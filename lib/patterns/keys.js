'use strict';
// Key naming for multi-key patterns. Keys one script touches together must hash to the same
// cluster slot: they share a hash tag `{...}`.

/** `key` when it already has a non-empty hash tag, else `{key}`. */
function hashTagged(key) {
  const open = key.indexOf('{');
  if (open !== -1) {
    const close = key.indexOf('}', open + 1);
    if (close > open + 1) return key;
  }
  return `{${key}}`;
}

/** Escapes the glob characters of SCAN MATCH so `text` matches only itself. */
function globEscape(text) {
  return text.replace(/[\\*?[\]]/g, '\\$&');
}

module.exports = { hashTagged, globEscape };
