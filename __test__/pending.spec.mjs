// lib/pending.js: the table of calls waiting for a result. Ids share a slot every 16,384; an id whose slot is
// taken (a blocking call outliving that many later ones) must still be found, exactly once.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';

const { PendingTable } = createRequire(import.meta.url)('../lib/pending.js');

test('ids sharing a slot are each found once; unknown and settled ids are not', () => {
  const t = new PendingTable();
  const long = { id: 7 };
  t.add(long);
  const later = Array.from({ length: 40_000 }, (_, i) => ({ id: 8 + i }));
  for (const e of later) t.add(e);
  assert.equal(t.size, 40_001);
  for (const e of later) assert.equal(t.take(e.id), e);
  assert.equal(t.take(8), undefined, 'settled once');
  assert.equal(t.take(123_456), undefined, 'never added');
  assert.deepEqual([...t.values()], [long]);
  assert.equal(t.take(7), long);
  assert.equal(t.size, 0);
  // Out of order, around the wrap of the id space.
  const ids = [0xfffffffe, 1, 2, 0xfffffffe - 16384];
  for (const id of ids) t.add({ id });
  for (const id of [2, 0xfffffffe - 16384, 0xfffffffe, 1]) assert.equal(t.take(id).id, id);
  assert.equal(t.size, 0);
});
