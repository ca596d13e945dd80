'use strict';
// The calls waiting for a result, by command id. Ids are handed out in
// sequence and mostly settle in order, so a ring of slots indexed by the
// id's low bits finds almost every entry without hashing; an id whose slot
// is still taken (a blocking command or a subscription outliving 16,384
// later calls) goes to a Map beside it.

const SLOTS = 1 << 14;
const MASK = SLOTS - 1;

class PendingTable {
  constructor() {
    this.slots = new Array(SLOTS).fill(null);
    this.spill = new Map();
    this.size = 0;
  }

  /** `entry` ({ id, ... }) waits under `entry.id`. */
  add(entry) {
    const i = entry.id & MASK;
    if (this.slots[i] === null) this.slots[i] = entry;
    else this.spill.set(entry.id, entry);
    this.size++;
  }

  /** The entry waiting under `id`, removed; undefined when none is. */
  take(id) {
    const i = id & MASK;
    const e = this.slots[i];
    if (e !== null && e.id === id) {
      this.slots[i] = null;
      this.size--;
      return e;
    }
    if (this.spill.size === 0) return undefined;
    const s = this.spill.get(id);
    if (s === undefined) return undefined;
    this.spill.delete(id);
    this.size--;
    return s;
  }

  /** Every waiting entry (inspection and tests; not on the call path). */
  *values() {
    for (const e of this.slots) if (e !== null) yield e;
    yield* this.spill.values();
  }
}

module.exports = { PendingTable };
