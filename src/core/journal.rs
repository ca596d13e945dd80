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
//!
//! Every write gets a sequence number, in journal order: the replay's
//! markers in Redis remember the last one run (see service/replay.rs).
//! With `fallback.journal.path` the journal is durable: each write is
//! appended to the file (journal_file.rs) before it is accepted, each
//! replayed prefix is confirmed there, and a new process on the same path
//! starts with what the previous one left.

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::core::journal_file::{self, Fsync, JournalConfig, JournalFile, OpenError};

/// How an entry is stored in a durable journal.
pub trait Record: Sized {
  fn encode(&self, out: &mut Vec<u8>);
  fn decode(bytes: &[u8]) -> Option<Self>;
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JournalEntry<T> {
  pub entry: T,
  /// The size charged against `max_bytes`.
  pub bytes: usize,
  /// When the written value expires, if it has a TTL.
  pub expires_at: Option<Instant>,
  /// Its place in the journal (increasing, from 1).
  pub seq: u64,
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
/// outcome was unknown (held, then sent again: Redis skips what ran).
/// A durable journal also says what it read back at start: `restored`
/// writes left by a previous process, `cut_bytes` of a torn or corrupt
/// tail cut off.
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
  pub restored: u64,
  pub cut_bytes: u64,
}

struct Inner<T> {
  queue: VecDeque<JournalEntry<T>>,
  /// A replayed batch whose outcome is unknown: it goes again, first and
  /// whole, before anything else.
  held: Option<Vec<JournalEntry<T>>>,
  stats: JournalStats,
  next_seq: u64,
  /// The durable journal's file; `None`: in memory only.
  file: Option<JournalFile>,
  /// Records appended to the file, ever (what `sync` must cover).
  appended: u64,
}

pub struct Journal<T> {
  capacity: usize,
  max_bytes: usize,
  inner: Mutex<Inner<T>>,
  /// Durable only: the fsync policy, and how many appended records are
  /// on disk (held while an fsync runs, so fsyncs do not pile up).
  fsync: Option<Fsync>,
  synced: Mutex<u64>,
}

impl<T> Journal<T> {
  /// At most `capacity` entries and `max_bytes` bytes are kept.
  pub fn new(capacity: usize, max_bytes: usize) -> Self {
    let inner = Inner {
      queue: VecDeque::new(),
      held: None,
      stats: JournalStats::default(),
      next_seq: 1,
      file: None,
      appended: 0,
    };
    Journal { capacity, max_bytes, inner: Mutex::new(inner), fsync: None, synced: Mutex::new(0) }
  }

  /// The file's id (names the replay markers); `None` in memory.
  pub fn durable_id(&self) -> Option<u64> {
    self.lock().file.as_ref().map(JournalFile::id)
  }

  pub fn fsync(&self) -> Option<Fsync> {
    self.fsync
  }

  /// Puts on disk what was appended so far (one fsync covers every
  /// record appended before it: a batch's writes share one).
  pub fn sync(&self) -> std::io::Result<()> {
    if self.fsync.is_none() {
      return Ok(());
    }
    let mut synced = self.synced.lock().unwrap_or_else(|e| e.into_inner());
    let (target, handle) = {
      let g = self.lock();
      if g.appended <= *synced {
        return Ok(());
      }
      match &g.file {
        Some(f) => (g.appended, f.sync_handle()?),
        None => return Ok(()),
      }
    };
    // Outside the journal's lock: writes go on appending meanwhile.
    handle.sync_data()?;
    *synced = target;
    Ok(())
  }

  /// Appends a confirmation that every write up to `seq` reached Redis,
  /// and, when nothing is left, shrinks the file to its header.
  fn confirm(g: &mut Inner<T>, seq: Option<u64>) {
    let Some(file) = &mut g.file else { return };
    if let Some(seq) = seq {
      // A lost confirmation is a replay Redis skips: not worth failing for.
      let _ = file.append_confirm(seq);
    }
    if g.queue.is_empty() && g.held.is_none() && file.size_bytes() > 64 {
      let _ = file.reset(g.next_seq);
    }
  }

  /// A durable journal at `config.path`, with what a previous process
  /// left there queued first, in order (also handed back, to be applied to
  /// the fallback store).
  pub fn open(capacity: usize, max_bytes: usize, config: &JournalConfig) -> Result<(Self, Vec<T>), OpenError>
  where
    T: Record + Clone,
  {
    let (file, loaded) = JournalFile::open(config)?;
    let journal = Journal::new(capacity, max_bytes);
    let mut restored = Vec::with_capacity(loaded.writes.len());
    {
      let mut g = journal.lock();
      g.next_seq = loaded.next_seq;
      g.stats.cut_bytes = loaded.cut_bytes;
      for w in loaded.writes {
        // Framed and checksummed: a record that does not decode is a bug's, counted as cut.
        let Some(entry) = T::decode(&w.data) else {
          g.stats.cut_bytes += w.data.len() as u64;
          continue;
        };
        let expires_at = w.expires_unix_ms.map(journal_file::instant_from_unix_ms);
        restored.push(entry.clone());
        g.stats.pending_bytes += w.data.len();
        g.stats.restored += 1;
        g.queue.push_back(JournalEntry { entry, bytes: w.data.len(), expires_at, seq: w.seq });
      }
      g.file = Some(file);
    }
    Ok((Journal { fsync: Some(config.fsync), ..journal }, restored))
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

  /// Appends a write `admit` let in (to the file first, when durable: an
  /// error there and it is not accepted). The caller serialises admit and
  /// push (see `Fallback::serve`), so the bounds hold but for a replayed
  /// batch put back meanwhile (`requeue_front`).
  pub fn push(&self, entry: T, bytes: usize, expires_at: Option<Instant>) -> std::io::Result<()>
  where
    T: Record,
  {
    let mut g = self.lock();
    let seq = g.next_seq;
    if let Some(file) = &mut g.file {
      let mut data = Vec::with_capacity(bytes + 32);
      entry.encode(&mut data);
      file.append_write(seq, expires_at.map(journal_file::unix_ms_from_instant), &data)?;
      g.appended += 1;
    }
    g.next_seq += 1;
    g.queue.push_back(JournalEntry { entry, bytes, expires_at, seq });
    g.stats.pending_bytes += bytes;
    g.stats.journaled += 1;
    Ok(())
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
    if out.is_empty() && g.held.is_none() {
      // Drained (maybe by expiry alone): the file shrinks.
      Self::confirm(&mut g, None);
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

  /// Keeps a batch whose replay may or may not have landed (see
  /// service/replay.rs).
  pub fn hold(&self, entries: Vec<JournalEntry<T>>) {
    let mut g = self.lock();
    g.stats.pending_bytes += entries.iter().map(|e| e.bytes).sum::<usize>();
    g.stats.in_doubt += 1;
    g.held = Some(entries);
  }

  /// The held batch, if any.
  pub fn take_held(&self) -> Option<Vec<JournalEntry<T>>> {
    let mut g = self.lock();
    let held = g.held.take()?;
    g.stats.pending_bytes -= held.iter().map(|e| e.bytes).sum::<usize>();
    Some(held)
  }

  /// The TTL left at `now`; see `JournalEntry::remaining_ttl`.
  pub fn remaining_ttl(entry: &JournalEntry<T>, now: Instant) -> Option<Duration> {
    entry.remaining_ttl(now)
  }

  /// Counts `entries`, the next ones in journal order, as written to
  /// Redis (a durable journal confirms them in its file).
  pub fn mark_replayed(&self, entries: &[JournalEntry<T>]) {
    let mut g = self.lock();
    g.stats.replayed += entries.len() as u64;
    Self::confirm(&mut g, entries.last().map(|e| e.seq));
  }

  pub fn stats(&self) -> JournalStats {
    let g = self.lock();
    JournalStats { pending: g.queue.len() + g.held.as_ref().map_or(0, Vec::len), ..g.stats }
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

  impl Record for u32 {
    fn encode(&self, out: &mut Vec<u8>) {
      out.extend_from_slice(&self.to_le_bytes());
    }
    fn decode(bytes: &[u8]) -> Option<Self> {
      Some(u32::from_le_bytes(bytes.try_into().ok()?))
    }
  }

  /// Admits and pushes, as `Fallback::serve` does.
  fn push(j: &Journal<u32>, v: u32, bytes: usize) -> bool {
    let fits = j.admit(bytes);
    if fits {
      assert!(j.push(v, bytes, None).is_ok());
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
    assert!(j.push(1, 10, Some(t + S)).is_ok());
    assert!(j.push(2, 10, None).is_ok());
    assert!(j.push(3, 10, Some(t + 5 * S)).is_ok()); // expires exactly at take time
    assert!(j.push(4, 10, Some(t + 10 * S)).is_ok());
    assert!(j.push(5, 10, None).is_ok());
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
    j.hold(batch);
    let s = j.stats();
    assert_eq!((s.pending, s.pending_bytes, s.in_doubt), (3, 30, 1));
    let held = j.take_held().unwrap_or_default();
    assert_eq!(values(&held), vec![1, 2]);
    assert!(j.take_held().is_none() && !j.is_empty());
    assert_eq!(values(&j.take_batch(10, t)), vec![3]);
    assert!(j.is_empty());
  }

  #[test]
  fn remaining_ttl_computed() {
    let t = Instant::now();
    let e = |expires_at| JournalEntry { entry: 0u32, bytes: 1, expires_at, seq: 1 };
    assert_eq!(Journal::remaining_ttl(&e(None), t), None);
    assert_eq!(Journal::remaining_ttl(&e(Some(t + 5 * S)), t + S), Some(4 * S));
    assert_eq!(e(Some(t + S)).remaining_ttl(t + 2 * S), Some(Duration::ZERO));
    assert!(e(Some(t + S)).is_expired(t + S) && !e(None).is_expired(t + 100 * S));
  }

  #[test]
  fn a_durable_journal_gives_a_new_opener_what_was_not_confirmed_in_order_and_shrinks_when_drained() {
    let dir = std::env::temp_dir().join(format!("resilis-journal-{}-{:?}", std::process::id(), Instant::now()));
    std::fs::create_dir_all(&dir).ok();
    let config = JournalConfig { path: dir.join("j"), fsync: Fsync::Always };
    let t = Instant::now();
    {
      let (j, restored) = Journal::<u32>::open(100, 1000, &config).expect("opens");
      assert!(restored.is_empty());
      (1..=5).for_each(|i| assert!(push(&j, i, 4)));
      assert!(j.push(6, 4, Some(t + 100 * S)).is_ok());
      assert!(j.sync().is_ok());
      let batch = j.take_batch(2, t);
      j.mark_replayed(&batch);
      // A batch in doubt is not confirmed: it comes back.
      let batch = j.take_batch(1, t);
      j.hold(batch);
    }
    let (j, restored) = Journal::<u32>::open(100, 1000, &config).expect("reopens");
    assert_eq!(restored, vec![3, 4, 5, 6]);
    let s = j.stats();
    assert_eq!((s.pending, s.restored, s.cut_bytes), (4, 4, 0));
    let batch = j.take_batch(10, t);
    assert_eq!(batch.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![3, 4, 5, 6]);
    assert!(batch[3].expires_at.is_some_and(|at| at > t + 90 * S));
    j.mark_replayed(&batch);
    assert!(j.is_empty());
    assert_eq!(
      std::fs::metadata(&config.path).map(|m| m.len()).unwrap_or(0),
      28,
      "the drained file shrinks to its header"
    );
    assert!(push(&j, 7, 4));
    assert_eq!(j.take_batch(1, t)[0].seq, 7, "numbering goes on after a reset");
    drop(j);
    let _ = std::fs::remove_dir_all(&dir);
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
    j.mark_replayed(&batch);
    assert_eq!(j.stats(), JournalStats { journaled: 400, replayed: 400, ..Default::default() });
  }
}
