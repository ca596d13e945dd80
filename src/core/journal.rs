//! The outage write journal. Writes accepted while Redis is unreachable (or
//! the breaker is open) are kept here, bounded by entry count and by bytes,
//! and replayed to Redis when it returns. A write that does not fit is
//! refused before it is made (`admit`), never accepted and then dropped.
//!
//! Last write wins: replay follows journal order, so of several outage
//! writes to one key the last one made is what Redis keeps, and a replayed
//! write overwrites whatever another client stored in that key meanwhile.
//! Entries keep their absolute expiry: a replayed write gets only the TTL it
//! has left, and one that expired while waiting is not replayed (counted as
//! `expired`). Generic over the entry type so it does not depend on fred.

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JournalEntry<T> {
  pub entry: T,
  /// The size charged against `max_bytes`.
  pub bytes: usize,
  /// When the written value expires, if it has a TTL.
  pub expires_at: Option<Instant>,
}

impl<T> JournalEntry<T> {
  pub fn is_expired(&self, now: Instant) -> bool {
    matches!(self.expires_at, Some(at) if at <= now)
  }

  /// `None` without a TTL, `Some(ZERO)` once expired. When replaying with
  /// `PX`, round a non-zero rest up to at least 1 ms.
  pub fn remaining_ttl(&self, now: Instant) -> Option<Duration> {
    self.expires_at.map(|at| at.saturating_duration_since(now))
  }
}

/// Counters: `journaled` writes accepted, `replayed` as marked by the
/// replayer, `rejected` writes refused because the journal could not take
/// them (the caller was told so: nothing was stored), `dropped` accepted
/// writes lost (none: kept for the stats' shape), `expired`
/// skipped at replay because their TTL ran out, `in_doubt` replays whose
/// outcome was unknown (held, then sent again under the same token).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct JournalStats {
  pub pending: usize,
  pub pending_bytes: usize,
  pub journaled: u64,
  pub replayed: u64,
  pub rejected: u64,
  pub dropped: u64,
  pub expired: u64,
  pub in_doubt: u64,
}

struct Inner<T> {
  queue: VecDeque<JournalEntry<T>>,
  /// A replayed batch whose outcome is unknown, with its replay token: it
  /// goes again, first and whole, before anything else.
  held: Option<(Vec<JournalEntry<T>>, u64)>,
  stats: JournalStats,
}

pub struct Journal<T> {
  capacity: usize,
  max_bytes: usize,
  inner: Mutex<Inner<T>>,
}

impl<T> Journal<T> {
  /// At most `capacity` entries and `max_bytes` bytes are kept.
  pub fn new(capacity: usize, max_bytes: usize) -> Self {
    Journal { capacity, max_bytes, inner: Mutex::new(Inner { queue: VecDeque::new(), held: None, stats: JournalStats::default() }) }
  }

  pub fn max_bytes(&self) -> usize {
    self.max_bytes
  }

  fn lock(&self) -> MutexGuard<'_, Inner<T>> {
    // Nothing panics while holding the lock; a poisoned one is still sound.
    self.inner.lock().unwrap_or_else(|e| e.into_inner())
  }

  /// Whether a write of `bytes` fits now; a refusal is counted as
  /// `rejected` (the caller then refuses the write: nothing is stored).
  pub fn admit(&self, bytes: usize) -> bool {
    let mut g = self.lock();
    let fits = g.queue.len() < self.capacity && g.stats.pending_bytes.saturating_add(bytes) <= self.max_bytes;
    if !fits {
      g.stats.rejected += 1;
    }
    fits
  }

  /// Appends a write `admit` let in. The caller serialises admit and push
  /// (see `Fallback::serve`), so the bounds hold but for a replayed batch
  /// put back meanwhile (`requeue_front`).
  pub fn push(&self, entry: T, bytes: usize, expires_at: Option<Instant>) {
    let mut g = self.lock();
    g.queue.push_back(JournalEntry { entry, bytes, expires_at });
    g.stats.pending_bytes += bytes;
    g.stats.journaled += 1;
  }

  /// Removes up to `max` entries from the front, in journal order; entries
  /// already expired at `now` are discarded on the way (counted as expired).
  pub fn take_batch(&self, max: usize, now: Instant) -> Vec<JournalEntry<T>> {
    let mut g = self.lock();
    let mut out = Vec::with_capacity(max.min(g.queue.len()));
    while out.len() < max {
      let Some(e) = g.queue.pop_front() else { break };
      g.stats.pending_bytes -= e.bytes;
      if e.is_expired(now) {
        g.stats.expired += 1;
      } else {
        out.push(e);
      }
    }
    out
  }

  /// Puts back, at the front and in their order, entries whose replay
  /// failed. They were journalled before anything pushed since, so they
  /// stay first; they are not refused even if newer writes filled the
  /// journal meanwhile (the bounds are exceeded by at most one batch).
  pub fn requeue_front(&self, entries: Vec<JournalEntry<T>>) {
    let mut g = self.lock();
    for e in entries.into_iter().rev() {
      g.stats.pending_bytes += e.bytes;
      g.queue.push_front(e);
    }
  }

  /// Keeps a batch whose replay may or may not have landed, under the
  /// token it was sent with (see service/replay.rs).
  pub fn hold(&self, entries: Vec<JournalEntry<T>>, token: u64) {
    let mut g = self.lock();
    g.stats.pending_bytes += entries.iter().map(|e| e.bytes).sum::<usize>();
    g.stats.in_doubt += 1;
    g.held = Some((entries, token));
  }

  /// The held batch and its token, if any.
  pub fn take_held(&self) -> Option<(Vec<JournalEntry<T>>, u64)> {
    let mut g = self.lock();
    let held = g.held.take()?;
    g.stats.pending_bytes -= held.0.iter().map(|e| e.bytes).sum::<usize>();
    Some(held)
  }

  /// The TTL left at `now`; see `JournalEntry::remaining_ttl`.
  pub fn remaining_ttl(entry: &JournalEntry<T>, now: Instant) -> Option<Duration> {
    entry.remaining_ttl(now)
  }

  /// Counts `n` entries as written to Redis.
  pub fn mark_replayed(&self, n: usize) {
    self.lock().stats.replayed += n as u64;
  }

  pub fn stats(&self) -> JournalStats {
    let g = self.lock();
    JournalStats { pending: g.queue.len() + g.held.as_ref().map_or(0, |h| h.0.len()), ..g.stats }
  }

  pub fn is_empty(&self) -> bool {
    let g = self.lock();
    g.queue.is_empty() && g.held.is_none()
  }
}

#[cfg(test)]
mod tests {
  use super::*;
  use std::sync::Arc;

  const S: Duration = Duration::from_secs(1);

  /// Admits and pushes, as `Fallback::serve` does.
  fn push(j: &Journal<u32>, v: u32, bytes: usize) -> bool {
    let fits = j.admit(bytes);
    if fits {
      j.push(v, bytes, None);
    }
    fits
  }

  fn values(batch: &[JournalEntry<u32>]) -> Vec<u32> {
    batch.iter().map(|e| e.entry).collect()
  }

  #[test]
  fn order_kept() {
    let (j, t) = (Journal::new(100, 1000), Instant::now());
    (1..=5).for_each(|i| assert!(push(&j, i, 10)));
    assert_eq!(values(&j.take_batch(3, t)), vec![1, 2, 3]);
    assert_eq!(values(&j.take_batch(10, t)), vec![4, 5]);
    assert!(j.take_batch(10, t).is_empty() && j.is_empty());
    let s = j.stats();
    assert_eq!((s.pending, s.pending_bytes, s.journaled, s.rejected, s.dropped), (0, 0, 5, 0, 0));
  }

  #[test]
  fn bounded_by_count() {
    let (j, t) = (Journal::new(3, 1000), Instant::now());
    let accepted: Vec<bool> = (1..=5).map(|i| push(&j, i, 1)).collect();
    assert_eq!(accepted, vec![true, true, true, false, false]);
    assert_eq!(
      j.stats(),
      JournalStats { pending: 3, pending_bytes: 3, journaled: 3, rejected: 2, ..Default::default() }
    );
    // Taking frees room again.
    assert_eq!(j.take_batch(1, t).len(), 1);
    assert!(push(&j, 6, 1));
    assert_eq!(values(&j.take_batch(10, t)), vec![2, 3, 6]);
  }

  #[test]
  fn bounded_by_bytes() {
    let (j, t) = (Journal::new(100, 100), Instant::now());
    assert!(push(&j, 1, 60));
    assert!(!push(&j, 2, 50));
    assert!(push(&j, 3, 40));
    assert!(!push(&j, 4, 1));
    assert!(!push(&j, 5, 101));
    let s = j.stats();
    assert_eq!((s.pending, s.pending_bytes, s.rejected, s.dropped), (2, 100, 3, 0));
    j.take_batch(1, t);
    assert!(push(&j, 6, 60));
    assert_eq!(j.stats().pending_bytes, 100);
  }

  #[test]
  fn expired_entries_skipped_and_counted() {
    let (j, t) = (Journal::new(100, 1000), Instant::now());
    j.push(1, 10, Some(t + S));
    j.push(2, 10, None);
    j.push(3, 10, Some(t + 5 * S)); // expires exactly at take time
    j.push(4, 10, Some(t + 10 * S));
    j.push(5, 10, None);
    // Skipped entries do not count toward the batch size.
    assert_eq!(values(&j.take_batch(2, t + 5 * S)), vec![2, 4]);
    let s = j.stats();
    assert_eq!((s.pending, s.pending_bytes, s.expired), (1, 10, 2));
  }

  #[test]
  fn requeue_front_keeps_order() {
    let (j, t) = (Journal::new(5, 1000), Instant::now());
    (1..=5).for_each(|i| assert!(push(&j, i, 10)));
    let batch = j.take_batch(3, t);
    assert!(push(&j, 6, 10));
    assert!(push(&j, 7, 10));
    // A failed replay goes back first, even though the journal refilled.
    j.requeue_front(batch);
    assert_eq!(j.stats().pending_bytes, 70);
    assert_eq!(values(&j.take_batch(100, t)), vec![1, 2, 3, 4, 5, 6, 7]);
    assert_eq!(j.stats().journaled, 7);
  }

  #[test]
  fn a_held_batch_counts_as_pending_until_taken() {
    let (j, t) = (Journal::new(5, 1000), Instant::now());
    (1..=3).for_each(|i| assert!(push(&j, i, 10)));
    let batch = j.take_batch(2, t);
    j.hold(batch, 7);
    let s = j.stats();
    assert_eq!((s.pending, s.pending_bytes, s.in_doubt), (3, 30, 1));
    let (held, token) = j.take_held().unwrap_or_default();
    assert_eq!((values(&held), token), (vec![1, 2], 7));
    assert!(j.take_held().is_none() && !j.is_empty());
    assert_eq!(values(&j.take_batch(10, t)), vec![3]);
    assert!(j.is_empty());
  }

  #[test]
  fn remaining_ttl_computed() {
    let t = Instant::now();
    let e = |expires_at| JournalEntry { entry: 0u32, bytes: 1, expires_at };
    assert_eq!(Journal::remaining_ttl(&e(None), t), None);
    assert_eq!(Journal::remaining_ttl(&e(Some(t + 5 * S)), t + S), Some(4 * S));
    assert_eq!(e(Some(t + S)).remaining_ttl(t + 2 * S), Some(Duration::ZERO));
    assert!(e(Some(t + S)).is_expired(t + S) && !e(None).is_expired(t + 100 * S));
  }

  #[test]
  fn replayed_counted_and_thread_safe() {
    let (j, t) = (Arc::new(Journal::new(1000, 1 << 20)), Instant::now());
    let hs: Vec<_> = (0..4)
      .map(|k| {
        let j = j.clone();
        std::thread::spawn(move || (0..100).for_each(|i| assert!(push(&j, k * 1000 + i, 8))))
      })
      .collect();
    hs.into_iter().for_each(|h| assert!(h.join().is_ok()));
    let batch = j.take_batch(1000, t);
    assert_eq!(batch.len(), 400);
    // Each thread's writes stay in the order it made them.
    for k in 0..4 {
      let mine: Vec<u32> = values(&batch).into_iter().filter(|v| v / 1000 == k).collect();
      assert_eq!(mine, (0..100).map(|i| k * 1000 + i).collect::<Vec<_>>());
    }
    j.mark_replayed(batch.len());
    assert_eq!(j.stats(), JournalStats { journaled: 400, replayed: 400, ..Default::default() });
  }
}
