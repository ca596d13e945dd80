//! The fallback policy: while Redis cannot serve, which commands the
//! in-memory store answers, the journal of the writes it accepted (replayed
//! to Redis on recovery, remaining TTLs kept), and, while Redis is healthy,
//! mirroring of plain values into the store so an outage finds recent data.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use fred::prelude::Value;

use crate::core::command::Command;
use crate::core::error::{Error, ErrorKind, Result, Sent};
use crate::core::journal::{Journal, JournalEntry, JournalStats, Record};
use crate::core::journal_file::{Fsync, JournalConfig, OpenError};
use crate::core::memory::MemoryStore;
use crate::core::recent_keys::{self, RecentKeys};
use crate::core::reply::Reply;

/// Work for the mirror thread; the hot path only queues it.
enum Mirror {
  Put { key: Bytes, value: Bytes, ttl: Option<Duration> },
  Forget { key: Bytes },
}

impl Mirror {
  fn key(&self) -> &Bytes {
    match self {
      Mirror::Put { key, .. } | Mirror::Forget { key } => key,
    }
  }
}

/// What a write served from memory during an outage becomes: `Replay`d
/// to Redis when it returns (the journal), or kept `Local` only.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FallbackWrites {
  Replay,
  Local,
}

pub struct Fallback {
  memory: Arc<MemoryStore>,
  journal: Arc<Journal<Command>>,
  /// Serialises the journalled writes (see `serve`).
  order: Mutex<()>,
  policy: FallbackWrites,
  /// `None`: mirroring is off. Producers append; the mirror thread takes
  /// the whole queue every few milliseconds (no wake-up per value).
  mirror: Option<Arc<MirrorQueue>>,
  /// Keys whose read value was mirrored in the last second: a hot key is
  /// refreshed once a second, not on every GET (no copy, no queueing).
  recently_read: Arc<RecentKeys>,
  /// Keys whose plain `SET` was queued this period, marked with a digest
  /// of the value: the same SET again is not queued (the store will hold
  /// that value). Any other change to the key unmarks it.
  recently_set: Arc<RecentKeys>,
}

/// Values up to this size are digested to skip repeated SETs; larger ones
/// are always queued (hashing them would cost more than the queueing).
const SET_DIGEST_MAX: usize = 1024;

/// Updates queued beyond this between two passes are dropped (best effort).
const MIRROR_QUEUE_MAX: usize = 16 * 1024;
/// Queued slices keep their read buffers and batch arenas alive until the
/// next pass, so memory held grows with this period times the throughput:
/// at 100 ms a 66k ops/s soak kept about 44 MiB of buffers alive beside the
/// store (bench/fallback-memory.mjs); a pass is cheap, a wake-up is all it adds.
const MIRROR_EVERY: Duration = Duration::from_millis(20);

fn arg_bytes(v: &Value) -> Option<Bytes> {
  match v {
    Value::String(s) => Some(s.inner().clone()),
    Value::Bytes(b) => Some(b.clone()),
    Value::Integer(i) => Some(Bytes::from(i.to_string())),
    Value::Double(d) => Some(Bytes::from(d.to_string())),
    _ => None,
  }
}

/// A string argument's bytes, borrowed.
fn arg_slice(v: &Value) -> Option<&[u8]> {
  match v {
    Value::String(s) => Some(s.as_bytes()),
    Value::Bytes(b) => Some(b),
    _ => None,
  }
}

fn arg_int(v: &Value) -> Option<i64> {
  match v {
    Value::Integer(i) => Some(*i),
    other => arg_bytes(other).and_then(|b| std::str::from_utf8(&b).ok()?.trim().parse().ok()),
  }
}

fn arg_is(v: &Value, word: &str) -> bool {
  arg_bytes(v).is_some_and(|b| b.eq_ignore_ascii_case(word.as_bytes()))
}

/// The TTL a write gives its key, if it sets one (SET EX/PX, SETEX, PSETEX,
/// EXPIRE, PEXPIRE).
pub fn ttl_of(cmd: &Command) -> Option<Duration> {
  let a = &cmd.args;
  let is = |name: &str| cmd.name.eq_ignore_ascii_case(name);
  let ms = if is("set") {
    let at = a.iter().skip(2).position(|v| arg_is(v, "ex") || arg_is(v, "px"))? + 2;
    let amount = arg_int(a.get(at + 1)?)?;
    if arg_is(&a[at], "ex") {
      amount.checked_mul(1000)?
    } else {
      amount
    }
  } else if is("setex") || is("expire") {
    arg_int(a.get(1)?)?.checked_mul(1000)?
  } else if is("psetex") || is("pexpire") {
    arg_int(a.get(1)?)?
  } else {
    return None;
  };
  (ms > 0).then(|| Duration::from_millis(ms as u64))
}

/// The command to replay for a journalled write, its TTL shortened to what
/// remains of it (at least 1 ms).
fn with_remaining_ttl(cmd: &Command, remaining: Duration) -> Command {
  let ms = Value::Integer(remaining.as_millis().max(1).min(i64::MAX as u128) as i64);
  let mut args = cmd.args.clone();
  match cmd.name.to_ascii_lowercase().as_str() {
    "set" => {
      if let Some(at) = args.iter().skip(2).position(|v| arg_is(v, "ex") || arg_is(v, "px")).map(|p| p + 2) {
        args[at] = Value::from("PX");
        if at + 1 < args.len() {
          args[at + 1] = ms;
        }
      }
      Command::new("SET", args)
    }
    "setex" | "psetex" => {
      if args.len() > 1 {
        args[1] = ms;
      }
      Command::new("PSETEX", args)
    }
    "expire" | "pexpire" => {
      if args.len() > 1 {
        args[1] = ms;
      }
      Command::new("PEXPIRE", args)
    }
    _ => cmd.clone(),
  }
}

/// Journal entries with the commands that replay them now: TTLs shortened
/// to what is left (an expired entry gets 1 ms).
fn with_commands(entries: Vec<JournalEntry<Command>>) -> Vec<(JournalEntry<Command>, Command)> {
  let now = Instant::now();
  entries
    .into_iter()
    .map(|e| {
      let cmd = match e.remaining_ttl(now) {
        Some(left) => with_remaining_ttl(&e.entry, left),
        None => e.entry.clone(),
      };
      (e, cmd)
    })
    .collect()
}

fn approx_size(cmd: &Command) -> usize {
  cmd.name.len() + cmd.args.iter().map(|a| arg_bytes(a).map_or(8, |b| b.len())).sum::<usize>()
}

impl Fallback {
  /// `durable`: the journal's file (`fallback.journal`); writes a previous
  /// process left there are queued for replay and put in the store.
  pub fn new(
    memory: Arc<MemoryStore>,
    policy: FallbackWrites,
    journal_max_bytes: usize,
    mirror: bool,
    durable: Option<&JournalConfig>,
  ) -> Result<Self> {
    let journal = match durable {
      None => Journal::new(JOURNAL_MAX_ENTRIES, journal_max_bytes),
      Some(config) => {
        let (journal, restored) = Journal::open(JOURNAL_MAX_ENTRIES, journal_max_bytes, config).map_err(open_error)?;
        for cmd in &restored {
          let _ = memory.execute(cmd);
        }
        journal
      }
    };
    let journal = Arc::new(journal);
    if journal.fsync() == Some(Fsync::EverySec) {
      start_everysec(&journal);
    }
    // 128 KiB each: hot keys stay in the CPU's cache; colder ones sharing
    // a slot are only queued again.
    let recently_read = Arc::new(RecentKeys::new(16 * 1024));
    let recently_set = Arc::new(RecentKeys::new(16 * 1024));
    let periods = [recently_read.clone(), recently_set.clone()];
    let mirror = mirror.then(|| start_mirror(memory.clone(), periods)).flatten();
    Ok(Fallback { memory, journal, order: Mutex::new(()), policy, mirror, recently_read, recently_set })
  }

  /// With `fsync: 'always'`: the writes journalled so far are put on disk
  /// (one fsync for a batch's writes) before their calls resolve.
  pub fn commit(&self) -> Result<()> {
    if self.journal.fsync() != Some(Fsync::Always) {
      return Ok(());
    }
    self.journal.sync().map_err(|e| {
      Error::new(
        ErrorKind::FallbackFull,
        format!("Redis is unavailable and the outage journal could not be synced to disk: {e}"),
      )
      .with_sent(Sent::No)
    })
  }

  /// The durable journal's id (its replay markers' name).
  pub fn durable_id(&self) -> Option<u64> {
    self.journal.durable_id()
  }

  pub fn memory(&self) -> &MemoryStore {
    &self.memory
  }

  /// Answers one command from memory. A write is journalled for replay
  /// before it resolves; one the journal cannot take is refused with
  /// `FallbackFull` and leaves the store as it was (acknowledged means
  /// stored). Commands the store cannot run fail as unavailable.
  pub fn serve(&self, cmd: &Command) -> Result<Reply> {
    let journals = self.policy == FallbackWrites::Replay && !cmd.is_read();
    // Admission, the store's change and the journal's append happen in
    // one order: the journal replays writes as the store saw them.
    let _order = journals.then(|| self.order.lock().unwrap_or_else(|p| p.into_inner()));
    let bytes = if journals { approx_size(cmd) } else { 0 };
    if journals && !self.journal.admit(bytes) {
      return Err(self.full_error(cmd, bytes));
    }
    match self.memory.execute(cmd) {
      Err(e) if e.message.contains("not available while serving from memory") => Err(
        Error::new(
          ErrorKind::Connection,
          format!("Redis is unavailable and '{}' cannot be served from the in-memory fallback", cmd.name),
        )
        .with_sent(Sent::No),
      ),
      Ok(reply) => {
        if !cmd.is_read() {
          // The store changed outside the mirror: no SET may be skipped as already there.
          self.recently_set.advance();
        }
        if journals && reply != Reply::Nil {
          let expires = ttl_of(cmd).and_then(|t| Instant::now().checked_add(t));
          if let Err(e) = self.journal.push(cmd.clone(), bytes, expires) {
            // The store took it, the journal did not: not acknowledged.
            return Err(
              Error::new(
                ErrorKind::FallbackFull,
                format!("Redis is unavailable and the outage journal could not be written ({e}): '{}' was not stored for replay", cmd.name),
              )
              .with_sent(Sent::No),
            );
          }
        }
        Ok(reply)
      }
      Err(e) => Err(e),
    }
  }

  /// Why a write was refused: the journal is full, or it alone is over the bound.
  fn full_error(&self, cmd: &Command, bytes: usize) -> Error {
    let max = self.journal.max_bytes();
    let why = if bytes > max {
      format!("the write ({bytes} bytes) is larger than the outage journal's bound ({max} bytes)")
    } else {
      let s = self.journal.stats();
      format!("the outage journal is full ({} writes, {} of {max} bytes pending replay)", s.pending, s.pending_bytes)
    };
    Error::new(
      ErrorKind::FallbackFull,
      format!("Redis is unavailable and {why}: '{}' was not stored anywhere; retry once Redis is back", cmd.name),
    )
    .with_sent(Sent::No)
  }

  /// Healthy path: keeps what a plain command read or wrote in the store.
  /// Best effort and off the caller's thread: a full queue drops the update.
  pub fn mirror(&self, cmd: &Command, reply: &Result<Reply>) {
    let Some(tx) = &self.mirror else { return };
    let Ok(reply) = reply else { return };
    let name = &cmd.name;
    let is_get = name.eq_ignore_ascii_case("get");
    let plain_set = name.eq_ignore_ascii_case("set") && cmd.args.len() == 2 && *reply != Reply::Nil;
    // A hot key's GET, or a plain SET of the value queued last for its key,
    // ends here: checked on borrowed bytes, before anything is cloned.
    match (cmd.first_key(), cmd.args.get(1).and_then(arg_slice)) {
      (Some(k), _) if is_get && self.recently_read.seen_or_mark(k) => return,
      (Some(k), Some(v)) if plain_set && v.len() <= SET_DIGEST_MAX => {
        if self.recently_set.seen_or_mark_with(k, recent_keys::hash(v)) {
          return;
        }
        // Marked: queue it (the mark goes if the queue is full).
        let (Some(key), Some(value)) = (arg_bytes(&cmd.args[0]), arg_bytes(&cmd.args[1])) else { return };
        if let Err(dropped) = tx.push(Mirror::Put { key, value, ttl: None }) {
          self.recently_set.clear(dropped.key());
        }
        return;
      }
      _ => {}
    }
    // Slices, not copies: the mirror thread copies what it keeps. Until
    // its next pass (at most MIRROR_EVERY) a slice holds its batch's
    // arguments or its read buffer alive: bounded by what is read or sent
    // in that time.
    let Some(key) = cmd.args.first().and_then(arg_bytes) else { return };
    let op = if is_get {
      // A key that is not a string (a number) is marked here.
      if cmd.first_key().is_none() && self.recently_read.seen_or_mark(&key) {
        return;
      }
      match reply {
        Reply::Bytes(v) => Mirror::Put { key, value: v.clone(), ttl: None },
        Reply::Nil => Mirror::Forget { key },
        _ => return,
      }
    } else if name.eq_ignore_ascii_case("set") && *reply != Reply::Nil && cmd.args.len() >= 2 {
      let keeps_ttl = cmd.args.iter().skip(2).any(|a| arg_is(a, "keepttl") || arg_is(a, "get"));
      match (keeps_ttl, arg_bytes(&cmd.args[1])) {
        (false, Some(v)) => Mirror::Put { key, value: v, ttl: ttl_of(cmd) },
        _ => Mirror::Forget { key },
      }
    } else if cmd.is_read() {
      return;
    } else {
      // Any other write makes the mirrored copies of its keys stale.
      let mut forget = |key: Bytes| {
        self.recently_read.forget(&key);
        self.recently_set.clear(&key);
        let _ = tx.push(Mirror::Forget { key });
      };
      if !cmd.for_each_written_key(&mut forget) {
        forget(key);
      }
      return;
    };
    // The store's copy of the key changes (or, if the queue is full, is
    // not what a mark says): the next plain SET or GET is queued again.
    self.recently_set.clear(op.key());
    if let Err(dropped) = tx.push(op) {
      self.recently_read.forget(dropped.key());
    }
  }

  /// Applies the mirror's queue now (the service is turning to the
  /// fallback: writes acknowledged just before must be in it).
  pub fn settle_mirror(&self) {
    if let Some(queue) = &self.mirror {
      queue.pass();
    }
  }

  pub fn journal_is_empty(&self) -> bool {
    self.journal.is_empty()
  }

  pub fn journal_stats(&self) -> JournalStats {
    self.journal.stats()
  }

  /// The next writes to replay, oldest first, with their remaining TTLs.
  pub fn take_replay(&self, max: usize) -> Vec<(JournalEntry<Command>, Command)> {
    with_commands(self.journal.take_batch(max, Instant::now()))
  }

  /// The batch held by `hold`: it goes first, whole.
  pub fn take_held_replay(&self) -> Option<Vec<(JournalEntry<Command>, Command)>> {
    self.journal.take_held().map(with_commands)
  }

  /// A replayed batch whose outcome is unknown waits to be sent again.
  pub fn hold(&self, entries: Vec<JournalEntry<Command>>) {
    self.journal.hold(entries);
  }

  pub fn requeue(&self, entries: Vec<JournalEntry<Command>>) {
    self.journal.requeue_front(entries);
  }

  /// `entries`, the next in journal order, reached Redis.
  pub fn mark_replayed(&self, entries: &[JournalEntry<Command>]) {
    self.journal.mark_replayed(entries);
  }
}

/// The mirror's queue and the one place it is applied: the background
/// thread every `MIRROR_EVERY`, or `settle` when the service turns to the
/// fallback (so a write acknowledged just before an outage is there).
pub(crate) struct MirrorQueue {
  pending: Mutex<Vec<Mirror>>,
  /// Held while a pass applies: passes never overlap, so an older batch
  /// cannot land after a newer one. Also the pass's scratch map.
  applying: Mutex<HashMap<Bytes, Mirror>>,
  memory: Arc<MemoryStore>,
}

impl MirrorQueue {
  /// Queues `op`, or hands it back when the queue is full.
  fn push(&self, op: Mirror) -> std::result::Result<(), Mirror> {
    let mut queue = self.pending.lock().unwrap_or_else(|p| p.into_inner());
    if queue.len() >= MIRROR_QUEUE_MAX {
      return Err(op);
    }
    queue.push(op);
    Ok(())
  }

  /// Applies everything queued: the last update per key, skipping values
  /// the store already holds (hot keys cost one lookup per pass).
  fn pass(&self) {
    let mut latest = self.applying.lock().unwrap_or_else(|p| p.into_inner());
    let taken = std::mem::take(&mut *self.pending.lock().unwrap_or_else(|p| p.into_inner()));
    for m in taken {
      latest.insert(m.key().clone(), m);
    }
    for (key, m) in latest.drain() {
      match m {
        Mirror::Put { value, ttl: None, .. } if self.memory.holds_string(&key, &value) => {}
        // Own the bytes: a slice would keep its whole read buffer alive.
        Mirror::Put { value, ttl, .. } => self.memory.mirror_string(&key, Bytes::copy_from_slice(&value), ttl),
        Mirror::Forget { .. } => self.memory.forget(&key),
      }
    }
  }
}

/// Journalled writes kept at most (beside the byte bound).
const JOURNAL_MAX_ENTRIES: usize = 1_000_000;

impl Record for Command {
  fn encode(&self, out: &mut Vec<u8>) {
    Command::encode(self, out);
  }

  fn decode(bytes: &[u8]) -> Option<Self> {
    Command::decode(bytes)
  }
}

fn open_error(e: OpenError) -> Error {
  match e {
    OpenError::Locked(path) => Error::new(
      ErrorKind::JournalLocked,
      format!(
        "the outage journal {} is in use by another process or service (its lock file {}.lock is held); give each one its own fallback.journal.path",
        path.display(),
        path.display()
      ),
    ),
    OpenError::Io(path, e) => {
      Error::config(format!("fallback.journal.path / REDIS_FALLBACK_JOURNAL_PATH: {} cannot be opened: {e}", path.display()))
    },
  }
}

/// `fsync: 'everysec'`: a thread puts the journal on disk once a second
/// (a power loss may lose the last second; a killed process loses nothing,
/// every write is in the OS before it resolves). It ends with the journal.
fn start_everysec(journal: &Arc<Journal<Command>>) {
  let weak = Arc::downgrade(journal);
  let _ = std::thread::Builder::new().name("resilis-journal-fsync".into()).spawn(move || loop {
    std::thread::sleep(Duration::from_secs(1));
    match weak.upgrade() {
      Some(journal) => {
        let _ = journal.sync();
      }
      None => break,
    }
  });
}

/// Passes of the mirror thread per period of `RecentKeys` (one second).
const PASSES_PER_PERIOD: u64 = 50;

/// `periods`: the marks the thread starts afresh every period.
fn start_mirror(memory: Arc<MemoryStore>, periods: [Arc<RecentKeys>; 2]) -> Option<Arc<MirrorQueue>> {
  let queue = Arc::new(MirrorQueue { pending: Mutex::new(Vec::new()), applying: Mutex::new(HashMap::new()), memory });
  let shared = queue.clone();
  std::thread::Builder::new()
    .name("resilis-mirror".into())
    .spawn(move || {
      // Alone with the queue: the service is gone.
      for n in 1u64.. {
        if Arc::strong_count(&shared) <= 1 {
          break;
        }
        std::thread::sleep(MIRROR_EVERY);
        shared.pass();
        if n % PASSES_PER_PERIOD == 0 {
          periods.iter().for_each(|p| p.advance());
        }
      }
    })
    .ok()?;
  Some(queue)
}

#[cfg(test)]
mod tests {
  use super::*;

  fn cmd(name: &str, args: &[&str]) -> Command {
    Command::new(name.to_string(), args.iter().map(|a| Value::from(*a)).collect())
  }

  fn store() -> Arc<MemoryStore> {
    Arc::new(MemoryStore::new(1 << 20, None))
  }

  fn fallback(memory: Arc<MemoryStore>, policy: FallbackWrites, journal_bytes: usize, mirror: bool) -> Fallback {
    match Fallback::new(memory, policy, journal_bytes, mirror, None) {
      Ok(f) => f,
      Err(e) => panic!("{e}"),
    }
  }

  #[test]
  fn ttls_are_read_from_writes() {
    assert_eq!(ttl_of(&cmd("set", &["k", "v", "EX", "10"])), Some(Duration::from_secs(10)));
    assert_eq!(ttl_of(&cmd("SET", &["k", "v", "nx", "px", "1500"])), Some(Duration::from_millis(1500)));
    assert_eq!(ttl_of(&cmd("setex", &["k", "3", "v"])), Some(Duration::from_secs(3)));
    assert_eq!(ttl_of(&cmd("set", &["k", "v"])), None);
    assert_eq!(ttl_of(&cmd("incr", &["k"])), None);
  }

  #[test]
  fn replayed_writes_carry_the_remaining_ttl() {
    let set = with_remaining_ttl(&cmd("set", &["k", "v", "EX", "10"]), Duration::from_millis(2500));
    assert_eq!(set.name, "SET");
    assert_eq!(set.args[2], Value::from("PX"));
    assert_eq!(set.args[3], Value::Integer(2500));
    let setex = with_remaining_ttl(&cmd("setex", &["k", "10", "v"]), Duration::from_millis(10));
    assert_eq!((&*setex.name, &setex.args[1]), ("PSETEX", &Value::Integer(10)));
  }

  #[test]
  fn writes_are_journalled_in_order_reads_are_not() {
    let f = fallback(store(), FallbackWrites::Replay, 1 << 20, false);
    assert_eq!(f.serve(&cmd("set", &["a", "1", "EX", "60"])).ok(), Some(Reply::ok()));
    assert_eq!(f.serve(&cmd("get", &["a"])).ok(), Some(Reply::Bytes(Bytes::from_static(b"1"))));
    assert_eq!(f.serve(&cmd("incr", &["n"])).ok(), Some(Reply::Int(1)));
    let replay = f.take_replay(10);
    let names: Vec<_> = replay.iter().map(|(_, c)| c.name.clone()).collect();
    assert_eq!(names, vec!["SET".to_string(), "incr".to_string()]);
    assert!(f.journal_is_empty());
    let e = f.serve(&cmd("eval", &["return 1", "0"])).err().map(|e| (e.kind, e.sent));
    assert_eq!(e, Some((ErrorKind::Connection, Sent::No)));
  }

  #[test]
  fn a_write_the_journal_cannot_take_is_refused_and_leaves_the_store_as_it_was() {
    let f = fallback(store(), FallbackWrites::Replay, 100, false);
    let value = "v".repeat(60);
    assert_eq!(f.serve(&cmd("set", &["a", &value])).ok(), Some(Reply::ok()));
    // Full: refused, the store keeps the old value.
    let e = f.serve(&cmd("set", &["a", &"w".repeat(60)])).err().map(|e| (e.kind, e.sent));
    assert_eq!(e, Some((ErrorKind::FallbackFull, Sent::No)));
    assert_eq!(f.serve(&cmd("get", &["a"])).ok(), Some(Reply::Bytes(Bytes::from(value))));
    // Alone over the bound: refused, and the message says so.
    let e = f.serve(&cmd("set", &["b", &"x".repeat(200)])).err().map(|e| e.message).unwrap_or_default();
    assert!(e.contains("larger than the outage journal's bound (100 bytes)"), "{e}");
    assert_eq!(f.serve(&cmd("exists", &["b"])).ok(), Some(Reply::Int(0)));
    let s = f.journal_stats();
    assert_eq!((s.journaled, s.rejected, s.dropped, s.pending), (1, 2, 0, 1));
    // Reads are served whatever the journal holds.
    assert!(f.serve(&cmd("get", &["zz"])).is_ok());
  }

  #[test]
  fn local_policy_journals_nothing() {
    let f = fallback(store(), FallbackWrites::Local, 1 << 20, false);
    let _ = f.serve(&cmd("set", &["a", "1"]));
    assert!(f.journal_is_empty());
  }

  /// Waits (up to 1 s) for the mirror thread to leave `key` as `want`.
  fn mirrored(memory: &MemoryStore, key: &str, want: Option<&'static str>) -> bool {
    let want = want.map_or(Reply::Nil, |v| Reply::Bytes(Bytes::from_static(v.as_bytes())));
    (0..200).any(|_| {
      let ok = memory.execute(&cmd("get", &[key])).ok() == Some(want.clone());
      if !ok {
        std::thread::sleep(Duration::from_millis(5));
      }
      ok
    })
  }

  #[test]
  fn a_repeated_set_is_queued_once_and_any_other_change_queues_it_again() {
    let memory = store();
    let f = fallback(memory.clone(), FallbackWrites::Replay, 1 << 20, true);
    let queued = || f.mirror.as_ref().map_or(0, |q| q.pending.lock().map(|p| p.len()).unwrap_or(0));
    for _ in 0..1000 {
      f.mirror(&cmd("set", &["hot", "same"]), &Ok(Reply::ok()));
    }
    // One queued (two if a period began in between), not a thousand.
    assert!(queued() <= 2, "{} updates queued", queued());
    assert!(mirrored(&memory, "hot", Some("same")));
    // Each of these changes the store's copy; the plain SET after it must land again.
    type Change<'a> = (&'static str, Box<dyn Fn() + 'a>);
    let changes: [Change; 4] = [
      ("SET with a TTL", Box::new(|| f.mirror(&cmd("set", &["hot", "other", "EX", "100"]), &Ok(Reply::ok())))),
      (
        "a GET of another client's write",
        Box::new(|| f.mirror(&cmd("get", &["hot"]), &Ok(Reply::Bytes(Bytes::from_static(b"other"))))),
      ),
      ("a write served from memory", Box::new(|| drop(f.serve(&cmd("set", &["hot", "other"]))))),
      ("a DEL of several keys", Box::new(|| f.mirror(&cmd("del", &["x", "hot"]), &Ok(Reply::Int(1))))),
    ];
    for (what, change) in changes {
      change();
      let after = if what.starts_with("a DEL") { None } else { Some("other") };
      assert!(mirrored(&memory, "hot", after), "{what} reached the store");
      f.mirror(&cmd("set", &["hot", "same"]), &Ok(Reply::ok()));
      assert!(mirrored(&memory, "hot", Some("same")), "the plain SET after {what} was skipped");
    }
  }

  #[test]
  fn mirroring_keeps_plain_values() {
    let memory = store();
    let f = fallback(memory.clone(), FallbackWrites::Replay, 1 << 20, true);
    f.mirror(&cmd("set", &["m", "v1"]), &Ok(Reply::ok()));
    f.mirror(&cmd("get", &["g"]), &Ok(Reply::Bytes(Bytes::from_static(b"v2"))));
    for _ in 0..100 {
      if memory.execute(&cmd("get", &["g"])).ok() == Some(Reply::Bytes(Bytes::from_static(b"v2"))) {
        break;
      }
      std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(memory.execute(&cmd("get", &["m"])).ok(), Some(Reply::Bytes(Bytes::from_static(b"v1"))));
    f.mirror(&cmd("del", &["m"]), &Ok(Reply::Int(1)));
    for _ in 0..100 {
      if memory.execute(&cmd("get", &["m"])).ok() == Some(Reply::Nil) {
        return;
      }
      std::thread::sleep(Duration::from_millis(5));
    }
    panic!("a write other than SET forgets the mirrored value");
  }
}
