//! Keys seen in the current period, for the fallback's mirror: a GET of a
//! hot key queues its value once a period (the mirror thread advances it
//! every second), not on every read; a plain SET of the value it queued
//! last, likewise. A direct-mapped table of 64-bit tags
//! (key hash and period): one hash and two atomic loads per check, no
//! lock, no allocation, no clock read. Two keys sharing a
//! slot only evict each other (the value is queued again, harmless).

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

pub struct RecentKeys {
  slots: Box<[AtomicU64]>,
  period: AtomicU64,
}

/// Eight bytes per step (a 100-byte value takes 13 multiplies, not 100);
/// a collision costs one extra mirror at worst.
pub fn hash(bytes: &[u8]) -> u64 {
  let step = |h: u64, word: u64| (h ^ word).wrapping_mul(0x9e37_79b9_7f4a_7c15).rotate_left(29);
  let mut words = bytes.chunks_exact(8);
  let mut h = (&mut words).fold(0xcbf2_9ce4_8422_2325u64 ^ bytes.len() as u64, |h, w| {
    step(h, u64::from_le_bytes(w.try_into().unwrap_or([0; 8])))
  });
  let mut tail = [0u8; 8];
  tail[..words.remainder().len()].copy_from_slice(words.remainder());
  h = step(h, u64::from_le_bytes(tail));
  h ^ (h >> 32)
}

impl RecentKeys {
  /// `slots` is rounded up to a power of two.
  pub fn new(slots: usize) -> RecentKeys {
    let n = slots.max(1).next_power_of_two();
    RecentKeys { slots: (0..n).map(|_| AtomicU64::new(0)).collect(), period: AtomicU64::new(0) }
  }

  /// Starts a new period: every key is unseen again.
  pub fn advance(&self) {
    self.period.fetch_add(1, Relaxed);
  }

  /// `key`'s slot, and its tag in this period (with `digest` mixed in).
  fn slot_and_tag(&self, key: &[u8], digest: u64) -> (&AtomicU64, u64) {
    let h = hash(key);
    let tag = (h ^ digest.rotate_left(29) ^ self.period.load(Relaxed).wrapping_mul(0x9e37_79b9_7f4a_7c15)) | 1;
    (&self.slots[(h as usize) & (self.slots.len() - 1)], tag)
  }

  /// True when `key` was marked in this second; otherwise marks it.
  pub fn seen_or_mark(&self, key: &[u8]) -> bool {
    self.seen_or_mark_with(key, 0)
  }

  /// True when `key` was marked with this `digest` (of its value, say) in
  /// this second; otherwise marks it so.
  pub fn seen_or_mark_with(&self, key: &[u8], digest: u64) -> bool {
    let (slot, tag) = self.slot_and_tag(key, digest);
    if slot.load(Relaxed) == tag {
      return true;
    }
    slot.store(tag, Relaxed);
    false
  }

  /// Unmarks `key`, whatever it was marked with (and any key sharing its slot).
  pub fn clear(&self, key: &[u8]) {
    let (slot, _) = self.slot_and_tag(key, 0);
    slot.store(0, Relaxed);
  }

  /// The next `seen_or_mark(key)` is false again.
  pub fn forget(&self, key: &[u8]) {
    let (slot, tag) = self.slot_and_tag(key, 0);
    let _ = slot.compare_exchange(tag, 0, Relaxed, Relaxed);
  }
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn a_key_is_seen_once_per_period_until_forgotten() {
    let r = RecentKeys::new(1000);
    assert!(!r.seen_or_mark(b"a"));
    assert!(r.seen_or_mark(b"a"));
    assert!(!r.seen_or_mark(b"b"));
    r.forget(b"a");
    assert!(!r.seen_or_mark(b"a"));
    assert!(r.seen_or_mark(b"b"));
    r.advance();
    assert!(!r.seen_or_mark(b"b"));
  }

  #[test]
  fn a_key_with_a_digest_is_seen_again_only_with_the_same_digest() {
    let r = RecentKeys::new(1000);
    assert!(!r.seen_or_mark_with(b"k", 1));
    assert!(r.seen_or_mark_with(b"k", 1));
    assert!(!r.seen_or_mark_with(b"k", 2));
    assert!(!r.seen_or_mark_with(b"k", 1), "a different digest in between replaces the mark");
    r.clear(b"k");
    assert!(!r.seen_or_mark_with(b"k", 1));
    r.advance();
    assert!(!r.seen_or_mark_with(b"k", 1));
  }
}
