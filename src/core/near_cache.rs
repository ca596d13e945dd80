//! The near cache: replies of GET, HGET, HGETALL and MGET kept in-process
//! and invalidated by Redis itself (client-side caching, default tracking
//! mode, invalidations redirected to one RESP3 connection that receives
//! them as push frames; see `tracking.rs`).
//!
//! Why default mode (not OPTIN or BCAST): the server remembers exactly the
//! keys this client read, so invalidations are precise and cost nothing for
//! keys we never cached; OPTIN would need a `CLIENT CACHING yes` before
//! every read, BCAST would send every write under a prefix.
//!
//! The races, and how they are closed:
//! - an invalidation that overtakes the reply of a read in flight: each
//!   read registers a placeholder (key -> token) before it is written; an
//!   invalidation removes it, and a reply is stored only if its
//!   placeholder is still there;
//! - lost invalidations: everything is flushed when the tracking
//!   connection drops or reconnects, or when the lane the reads went on is
//!   replaced (the server forgets a closed connection's tracking);
//! - our own writes: a write through this service drops its keys at once,
//!   before its invalidation comes back;
//! - anything missed otherwise: every entry expires after `ttl`, and the
//!   whole cache is bounded by bytes.
//!
//! The JS side keeps its own copies of GET hits (no native call per hit).
//! They are valid while `epoch` is unchanged: every invalidation, flush
//! and TTL tick bumps it, and JS reads it through an external ArrayBuffer.
//! So that no copy outlives `ttl`, moka keeps entries for 3/4 of it and the
//! tracking subscriber bumps the epoch every quarter (`tick`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU32, AtomicU64, Ordering::*};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use fred::prelude::Value;
use moka::sync::Cache;

use crate::core::command::Command;
use crate::core::reply::Reply;

#[derive(Clone, Debug, PartialEq)]
pub struct NearCacheConfig {
  pub max_bytes: u64,
  pub ttl: Duration,
}

/// What is cached for one Redis key.
#[derive(Clone, Default)]
struct KeyEntry {
  string: Option<Reply>,
  all: Option<Reply>,
  fields: Vec<(Bytes, Reply)>,
}

fn reply_size(r: &Reply) -> usize {
  match r {
    Reply::Bytes(b) => b.len() + 16,
    Reply::Array(items) | Reply::Map(items) => items.iter().map(reply_size).sum::<usize>() + 16,
    _ => 16,
  }
}

impl KeyEntry {
  fn weight(&self, key: &[u8]) -> u32 {
    let n = key.len()
      + self.string.as_ref().map_or(0, reply_size)
      + self.all.as_ref().map_or(0, reply_size)
      + self.fields.iter().map(|(f, r)| f.len() + reply_size(r)).sum::<usize>();
    n.min(u32::MAX as usize) as u32
  }
}

/// Which reply of a key a read fills.
#[derive(Clone, Debug)]
enum Slot {
  String,
  All,
  Field(Bytes),
}

/// A read in flight whose reply may be stored.
pub struct Ticket {
  reads: Vec<(Bytes, Slot, u64)>,
  /// MGET: the reply is an array, one item per key.
  multi: bool,
  /// The flush count when the read was sent: any flush since (a lane or
  /// tracking connection lost, a topology change) voids the reply.
  generation: u64,
}

/// Counters for getStats().
#[derive(Clone, Copy, Debug, Default)]
pub struct NearStats {
  pub hits: u64,
  pub misses: u64,
  pub invalidations: u64,
  pub flushes: u64,
  pub entries: u64,
  pub bytes: u64,
}

pub struct NearCache {
  entries: Cache<Bytes, Arc<KeyEntry>>,
  pending: Mutex<HashMap<Bytes, u64>>,
  next_token: AtomicU64,
  /// CLIENT ID of the invalidation subscriber; 0 while it is down.
  redirect: AtomicI64,
  /// Serial of the lane whose reads are cached; another lane means flush.
  bound_lane: AtomicU64,
  /// Cluster mode: every node's broadcast-tracking connection is up (see
  /// `node_tracking.rs`); standalone uses `redirect` instead.
  broadcast_live: std::sync::atomic::AtomicBool,
  hits: AtomicU64,
  misses: AtomicU64,
  invalidations: AtomicU64,
  flushes: AtomicU64,
  /// Bumped whenever any cached value may have become stale (see the
  /// module doc); read by JS through `epoch_cell`.
  epoch: Box<AtomicU32>,
  tick_every: Duration,
}

fn arg(v: &Value) -> Option<Bytes> {
  match v {
    Value::String(s) => Some(s.inner().clone()),
    Value::Bytes(b) => Some(b.clone()),
    _ => None,
  }
}

fn is(cmd: &Command, name: &str) -> bool {
  cmd.name.eq_ignore_ascii_case(name)
}

/// The reads this cache serves: (key, slot) per key, and whether it is MGET.
fn reads_of(cmd: &Command) -> Option<(Vec<(Bytes, Slot)>, bool)> {
  let a = &cmd.args;
  if is(cmd, "get") && a.len() == 1 {
    Some((vec![(arg(&a[0])?, Slot::String)], false))
  } else if is(cmd, "hgetall") && a.len() == 1 {
    Some((vec![(arg(&a[0])?, Slot::All)], false))
  } else if is(cmd, "hget") && a.len() == 2 {
    Some((vec![(arg(&a[0])?, Slot::Field(arg(&a[1])?))], false))
  } else if is(cmd, "mget") && !a.is_empty() {
    let keys = a.iter().map(|k| arg(k).map(|k| (k, Slot::String))).collect::<Option<Vec<_>>>()?;
    Some((keys, true))
  } else {
    None
  }
}

impl NearCache {
  pub fn new(config: &NearCacheConfig) -> NearCache {
    NearCache {
      entries: Cache::builder()
        .max_capacity(config.max_bytes)
        .weigher(|k: &Bytes, v: &Arc<KeyEntry>| v.weight(k))
        .time_to_live(config.ttl * 3 / 4)
        .build(),
      pending: Mutex::new(HashMap::new()),
      next_token: AtomicU64::new(1),
      redirect: AtomicI64::new(0),
      bound_lane: AtomicU64::new(0),
      broadcast_live: std::sync::atomic::AtomicBool::new(false),
      hits: AtomicU64::new(0),
      misses: AtomicU64::new(0),
      invalidations: AtomicU64::new(0),
      flushes: AtomicU64::new(0),
      epoch: Box::new(AtomicU32::new(1)),
      tick_every: (config.ttl / 4).max(Duration::from_millis(1)),
    }
  }

  /// The epoch's memory, stable for the cache's life (JS maps it).
  pub fn epoch_cell(&self) -> &AtomicU32 {
    &self.epoch
  }

  fn bump(&self) {
    self.epoch.fetch_add(1, Release);
  }

  /// How often `tick` must run so that no JS copy outlives `ttl`.
  pub fn tick_every(&self) -> Duration {
    self.tick_every
  }

  /// Ends the JS copies' current generation (TTL bound).
  pub fn tick(&self) {
    self.bump();
  }

  fn pending(&self) -> std::sync::MutexGuard<'_, HashMap<Bytes, u64>> {
    self.pending.lock().unwrap_or_else(|p| p.into_inner())
  }

  pub fn redirect(&self) -> i64 {
    self.redirect.load(Acquire)
  }

  /// The subscriber (re)connected with this id, or went away (0): either
  /// way invalidations may have been missed.
  pub fn set_redirect(&self, id: i64) {
    self.flush();
    self.redirect.store(id, Release);
  }

  /// Invalidations are being received: standalone, the subscriber has an
  /// id; cluster, every node's broadcast connection is up.
  pub fn live(&self) -> bool {
    self.redirect() != 0 || self.broadcast_live.load(Acquire)
  }

  /// Cluster mode: all nodes' broadcast tracking is up (or not). Any change
  /// flushes: invalidations may have been missed in between.
  pub fn set_broadcast_live(&self, live: bool) {
    if self.broadcast_live.swap(live, AcqRel) != live || !live {
      self.flush();
    }
  }

  /// Reads can be cached only on a lane tracked to the current subscriber;
  /// a different lane than before means its invalidations were lost.
  pub fn usable(&self, lane_serial: u64, lane_tracking: i64) -> bool {
    let redirect = self.redirect();
    if redirect == 0 || lane_tracking != redirect {
      return false;
    }
    // A load first: the hit path must not write a shared cache line.
    if self.bound_lane.load(Acquire) != lane_serial && self.bound_lane.swap(lane_serial, AcqRel) != lane_serial {
      self.flush();
    }
    true
  }

  pub fn flush(&self) {
    self.pending().clear();
    self.entries.invalidate_all();
    self.bump();
    self.flushes.fetch_add(1, Relaxed);
  }

  /// An invalidation from Redis (or our own write) for `key`.
  pub fn invalidate(&self, key: &[u8]) {
    self.pending().remove(key);
    self.entries.invalidate(key);
    self.bump();
    self.invalidations.fetch_add(1, Relaxed);
  }

  /// A cached reply for a read, counting the hit or miss. `None` for
  /// commands the cache does not serve and for misses.
  pub fn lookup(&self, cmd: &Command) -> Option<Reply> {
    let (reads, multi) = reads_of(cmd)?;
    let mut found = Vec::with_capacity(reads.len());
    for (key, slot) in &reads {
      let hit = self.entries.get(key).and_then(|e| match slot {
        Slot::String => e.string.clone(),
        Slot::All => e.all.clone(),
        Slot::Field(f) => e.fields.iter().find(|(name, _)| name == f).map(|(_, r)| r.clone()),
      });
      match hit {
        Some(r) => found.push(r),
        None => {
          self.misses.fetch_add(1, Relaxed);
          return None;
        }
      }
    }
    self.hits.fetch_add(1, Relaxed);
    if multi {
      Some(Reply::Array(found))
    } else {
      found.pop()
    }
  }

  /// GET's hit path without building a command (the JS fast path).
  pub fn lookup_string(&self, key: &[u8]) -> Option<Reply> {
    match self.entries.get(key).and_then(|e| e.string.clone()) {
      Some(r) => {
        self.hits.fetch_add(1, Relaxed);
        Some(r)
      }
      None => {
        self.misses.fetch_add(1, Relaxed);
        None
      }
    }
  }

  /// In the batch's order, before anything is sent: a write drops its
  /// keys now (so a later read of them in the batch misses); a read is
  /// looked up.
  pub fn before_plan(&self, cmd: &Command) -> Option<Reply> {
    if cmd.is_read() {
      self.lookup(cmd)
    } else {
      self.note_write(cmd);
      None
    }
  }

  /// A cacheable read about to be sent on `lane`: leaves a placeholder
  /// and gets the ticket its reply is stored with.
  pub fn ticket(&self, cmd: &Command) -> Option<Ticket> {
    let (reads, multi) = reads_of(cmd)?;
    let mut pending = self.pending();
    let reads = reads
      .into_iter()
      .map(|(key, slot)| {
        let token = self.next_token.fetch_add(1, Relaxed);
        pending.insert(key.clone(), token);
        (key, slot, token)
      })
      .collect();
    Some(Ticket { reads, multi, generation: self.flushes.load(Acquire) })
  }

  /// A write through this service (any path): its keys are dropped now.
  pub fn note_write(&self, cmd: &Command) {
    if cmd.is_read() {
      return;
    }
    if !cmd.for_each_written_key(|k| self.invalidate(&k)) {
      self.flush();
    }
  }

  /// Stores a read's reply if no invalidation came in between.
  pub fn store(&self, ticket: Ticket, reply: &Reply) {
    if self.flushes.load(Acquire) != ticket.generation || !self.live() {
      return;
    }
    let items: Vec<&Reply> = match (ticket.multi, reply) {
      (true, Reply::Array(items)) if items.len() == ticket.reads.len() => items.iter().collect(),
      (false, r) => vec![r],
      _ => return,
    };
    let mut pending = self.pending();
    for ((key, slot, token), value) in ticket.reads.into_iter().zip(items) {
      if pending.get(&key) != Some(&token) || matches!(value, Reply::Error(_)) {
        continue;
      }
      pending.remove(&key);
      let mut entry = self.entries.get(&key).map(|e| (*e).clone()).unwrap_or_default();
      match slot {
        Slot::String => entry.string = Some(value.clone()),
        Slot::All => entry.all = Some(value.clone()),
        Slot::Field(f) => {
          entry.fields.retain(|(name, _)| *name != f);
          entry.fields.push((f, value.clone()));
        }
      }
      self.entries.insert(key, Arc::new(entry));
    }
  }

  pub fn stats(&self) -> NearStats {
    self.entries.run_pending_tasks();
    NearStats {
      hits: self.hits.load(Relaxed),
      misses: self.misses.load(Relaxed),
      invalidations: self.invalidations.load(Relaxed),
      flushes: self.flushes.load(Relaxed),
      entries: self.entries.entry_count(),
      bytes: self.entries.weighted_size(),
    }
  }
}

#[cfg(test)]
mod tests {
  use super::*;

  fn cmd(name: &str, args: &[&str]) -> Command {
    Command::new(name.to_string(), args.iter().map(|a| Value::from(*a)).collect())
  }

  fn bulk(s: &'static str) -> Reply {
    Reply::Bytes(Bytes::from_static(s.as_bytes()))
  }

  fn cache() -> NearCache {
    let c = NearCache::new(&NearCacheConfig { max_bytes: 1 << 20, ttl: Duration::from_secs(60) });
    c.set_redirect(7);
    assert!(c.usable(1, 7));
    c
  }

  #[test]
  fn a_read_is_stored_and_served() {
    let c = cache();
    let get = cmd("get", &["k"]);
    assert_eq!(c.lookup(&get), None);
    let t = c.ticket(&get).expect("cacheable");
    c.store(t, &bulk("v"));
    assert_eq!(c.lookup(&get), Some(bulk("v")));
    assert_eq!(c.lookup_string(b"k"), Some(bulk("v")));
    let hget = cmd("hget", &["h", "f"]);
    let t = c.ticket(&hget).expect("cacheable");
    c.store(t, &bulk("x"));
    assert_eq!(c.lookup(&hget), Some(bulk("x")));
    assert_eq!(c.lookup(&cmd("hget", &["h", "other"])), None);
    let s = c.stats();
    assert_eq!((s.hits, s.misses), (3, 2));
  }

  #[test]
  fn an_invalidation_before_the_reply_wins() {
    let c = cache();
    let get = cmd("get", &["k"]);
    let t = c.ticket(&get).expect("cacheable");
    c.invalidate(b"k");
    c.store(t, &bulk("old"));
    assert_eq!(c.lookup(&get), None, "the reply that raced an invalidation is not kept");
  }

  #[test]
  fn own_writes_drop_keys_and_unknown_writes_flush() {
    let c = cache();
    for k in ["a", "b"] {
      let get = cmd("get", &[k]);
      let t = c.ticket(&get).expect("cacheable");
      c.store(t, &bulk("v"));
    }
    assert!(c.before_plan(&cmd("set", &["a", "w"])).is_none());
    assert_eq!(c.lookup(&cmd("get", &["a"])), None);
    assert_eq!(c.lookup(&cmd("get", &["b"])), Some(bulk("v")));
    c.note_write(&cmd("flushdb", &[]));
    assert_eq!(c.lookup(&cmd("get", &["b"])), None);
  }

  #[test]
  fn mget_is_stored_per_key_and_served_whole() {
    let c = cache();
    let mget = cmd("mget", &["x", "y"]);
    let t = c.ticket(&mget).expect("cacheable");
    c.store(t, &Reply::Array(vec![bulk("1"), Reply::Nil]));
    assert_eq!(c.lookup(&cmd("get", &["x"])), Some(bulk("1")));
    assert_eq!(c.lookup(&mget), Some(Reply::Array(vec![bulk("1"), Reply::Nil])));
  }

  #[test]
  fn a_new_lane_or_subscriber_flushes() {
    let c = cache();
    let t = c.ticket(&cmd("get", &["k"])).expect("cacheable");
    c.store(t, &bulk("v"));
    assert!(c.usable(2, 7), "a new lane tracked to the same subscriber");
    assert_eq!(c.lookup(&cmd("get", &["k"])), None, "flushed when the lane changed");
    let t = c.ticket(&cmd("get", &["k"])).expect("cacheable");
    assert!(c.usable(3, 7), "the lane changes while the read is in flight");
    c.store(t, &bulk("v"));
    assert_eq!(c.lookup(&cmd("get", &["k"])), None, "a reply from the old lane is not stored");
    c.set_redirect(0);
    assert!(!c.usable(2, 7));
  }

  #[test]
  fn the_epoch_moves_on_every_invalidation_flush_and_tick() {
    let c = cache();
    let at = |c: &NearCache| c.epoch_cell().load(Acquire);
    let e0 = at(&c);
    let t = c.ticket(&cmd("get", &["k"])).expect("cacheable");
    c.store(t, &bulk("v"));
    assert_eq!(at(&c), e0, "storing keeps JS copies valid");
    c.invalidate(b"other");
    let e1 = at(&c);
    assert_ne!(e1, e0);
    c.note_write(&cmd("flushdb", &[]));
    let e2 = at(&c);
    assert_ne!(e2, e1);
    c.tick();
    assert_ne!(at(&c), e2);
    assert_eq!(c.tick_every(), Duration::from_secs(15));
  }
}
