//! Keys seen in the current period, for the fallback's mirror: a GET of a
//! hot key queues its value once a period (the mirror thread advances it
//! every second), not on every read. A direct-mapped table of 64-bit tags
//! (key hash and period): one hash and two atomic loads per check, no
//! lock, no allocation, no clock read. Two keys sharing a
//! slot only evict each other (the value is queued again, harmless).

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

pub struct RecentKeys {
  slots: Box<[AtomicU64]>,
  period: AtomicU64,
}

/// FNV-1a: keys are short, and a collision costs one extra mirror.
fn hash(key: &[u8]) -> u64 {
  key.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3))
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

  fn slot_and_tag(&self, key: &[u8]) -> (&AtomicU64, u64) {
    let h = hash(key);
    let tag = (h ^ self.period.load(Relaxed).wrapping_mul(0x9e37_79b9_7f4a_7c15)) | 1;
    (&self.slots[(h as usize) & (self.slots.len() - 1)], tag)
  }

  /// True when `key` was marked in this second; otherwise marks it.
  pub fn seen_or_mark(&self, key: &[u8]) -> bool {
    let (slot, tag) = self.slot_and_tag(key);
    if slot.load(Relaxed) == tag {
      return true;
    }
    slot.store(tag, Relaxed);
    false
  }

  /// The next `seen_or_mark(key)` is false again.
  pub fn forget(&self, key: &[u8]) {
    let (slot, tag) = self.slot_and_tag(key);
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
}
