//! An in-process stand-in for Redis, used while Redis is disabled or
//! unreachable. It runs the common string, key, hash, list, set and
//! sorted-set commands with Redis's replies and errors against a moka cache
//! bounded in (approximate) bytes, honouring per-key TTLs.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use fred::prelude::Value;
use moka::notification::RemovalCause;
use moka::sync::Cache;
use moka::Expiry;

use crate::core::command::Command;
use crate::core::error::{Error, ErrorKind, Result};
use crate::core::reply::Reply;

/// What one key costs in memory beyond its key and value bytes: moka's entry,
/// its LRU and timer-wheel nodes, its hash-table slot and `Arc<K>`, our `Entry`
/// and `Data`, and the allocator's headers and rounding of each. Measured in
/// RSS by `bench/fallback-memory.mjs` (a million random keys, 100-byte values):
/// about 800 bytes per entry of which 111 were key and value. Weighing less
/// let the store's RSS reach 4x `maxSize`.
pub const ENTRY_OVERHEAD: usize = 690;
/// The same for one element of a hash, list, set or sorted set: the element's
/// inline `Bytes` in its node and the allocation behind it (from the layout).
const ELEMENT_OVERHEAD: usize = 64;
/// Longest TTL handed to moka (10 years); longer ones are clamped.
const MAX_TTL_MS: i64 = 10 * 365 * 24 * 3600 * 1000;

/// A sorted-set score with a total order, so it can key a `BTreeSet`.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Score(f64);
impl Eq for Score {}
impl PartialOrd for Score {
  fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
    Some(self.cmp(other))
  }
}
impl Ord for Score {
  fn cmp(&self, other: &Self) -> std::cmp::Ordering {
    self.0.total_cmp(&other.0)
  }
}

/// Member -> score, plus the members ordered by (score, member).
#[derive(Clone, Debug, Default)]
struct ZSet {
  scores: HashMap<Bytes, f64>,
  order: BTreeSet<(Score, Bytes)>,
}

impl ZSet {
  /// Sets a member's score; true when the member is new.
  fn insert(&mut self, member: Bytes, score: f64) -> bool {
    let score = score + 0.0; // -0.0 becomes 0.0 so both sort alike
    let old = self.scores.insert(member.clone(), score);
    if let Some(old) = old {
      self.order.remove(&(Score(old), member.clone()));
    }
    self.order.insert((Score(score), member));
    old.is_none()
  }

  fn remove(&mut self, member: &[u8]) -> bool {
    self.scores.remove_entry(member).is_some_and(|(m, s)| self.order.remove(&(Score(s), m)))
  }
}

#[derive(Clone, Debug)]
enum Data {
  Str(Bytes),
  Hash(BTreeMap<Bytes, Bytes>),
  List(VecDeque<Bytes>),
  Set(BTreeSet<Bytes>),
  ZSet(ZSet),
}

/// `&T` / `&mut T` accessors that fail with WRONGTYPE for other kinds.
macro_rules! accessors {
  ($($get:ident, $get_mut:ident, $variant:ident, $ty:ty;)*) => {$(
    fn $get(&self) -> Result<&$ty> {
      match self { Data::$variant(v) => Ok(v), _ => Err(wrongtype()) }
    }
    fn $get_mut(&mut self) -> Result<&mut $ty> {
      match self { Data::$variant(v) => Ok(v), _ => Err(wrongtype()) }
    }
  )*};
}

impl Data {
  accessors! {
    str, str_mut, Str, Bytes;
    hash, hash_mut, Hash, BTreeMap<Bytes, Bytes>;
    list, list_mut, List, VecDeque<Bytes>;
    set, set_mut, Set, BTreeSet<Bytes>;
    zset, zset_mut, ZSet, ZSet;
  }

  fn type_name(&self) -> &'static str {
    match self {
      Data::Str(_) => "string",
      Data::Hash(_) => "hash",
      Data::List(_) => "list",
      Data::Set(_) => "set",
      Data::ZSet(_) => "zset",
    }
  }

  /// Approximate heap size; a size of 0 marks an empty collection, which
  /// Redis deletes (an empty string is still a value).
  fn size(&self) -> Option<usize> {
    let (len, size) = match self {
      Data::Str(b) => return Some(b.len()),
      Data::Hash(h) => (h.len(), h.iter().map(|(k, v)| k.len() + v.len() + ELEMENT_OVERHEAD).sum()),
      Data::List(l) => (l.len(), l.iter().map(|v| v.len() + ELEMENT_OVERHEAD).sum()),
      Data::Set(s) => (s.len(), s.iter().map(|v| v.len() + ELEMENT_OVERHEAD).sum()),
      // Each member is held twice (map and ordered set).
      Data::ZSet(z) => (z.scores.len(), z.scores.keys().map(|m| 2 * (m.len() + ELEMENT_OVERHEAD) + 8).sum()),
    };
    (len > 0).then_some(size)
  }
}

#[derive(Debug)]
struct Entry {
  data: Arc<Data>,
  deadline: Option<Instant>,
  weight: u32,
}

impl Entry {
  fn expired(&self, now: Instant) -> bool {
    self.deadline.is_some_and(|d| d <= now)
  }
}

/// Tells moka that each entry expires at its own deadline.
struct DeadlineExpiry;

impl Expiry<Bytes, Arc<Entry>> for DeadlineExpiry {
  fn expire_after_create(&self, _: &Bytes, v: &Arc<Entry>, now: Instant) -> Option<Duration> {
    v.deadline.map(|d| d.saturating_duration_since(now))
  }

  fn expire_after_update(&self, _: &Bytes, v: &Arc<Entry>, now: Instant, _: Option<Duration>) -> Option<Duration> {
    v.deadline.map(|d| d.saturating_duration_since(now))
  }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemoryStats {
  pub item_count: u64,
  pub size_bytes: u64,
  pub max_bytes: u64,
  pub hits: u64,
  pub misses: u64,
  pub evictions: u64,
}

pub struct MemoryStore {
  cache: Cache<Bytes, Arc<Entry>>,
  /// Serialises commands so read-modify-write sequences are atomic.
  lock: Mutex<()>,
  default_ttl: Option<Duration>,
  max_bytes: u64,
  hits: AtomicU64,
  misses: AtomicU64,
  evictions: Arc<AtomicU64>,
}

fn reply_err(message: impl Into<String>) -> Error {
  Error::new(ErrorKind::Reply, message)
}
fn wrongtype() -> Error {
  reply_err("WRONGTYPE Operation against a key holding the wrong kind of value")
}
fn syntax() -> Error {
  reply_err("ERR syntax error")
}
fn overflow() -> Error {
  reply_err("ERR increment or decrement would overflow")
}
fn bad_expire(cmd: &str) -> Error {
  reply_err(format!("ERR invalid expire time in '{}' command", cmd.to_ascii_lowercase()))
}
fn unsupported(what: &str) -> Error {
  reply_err(format!("ERR {what} is not available while serving from memory"))
}

fn arg_bytes(v: &Value) -> Result<Bytes> {
  Ok(match v {
    Value::Bytes(b) => b.clone(),
    Value::String(s) => s.inner().clone(),
    Value::Integer(i) => Bytes::from(i.to_string()),
    Value::Double(d) => Bytes::from(fmt_f64(*d)),
    Value::Boolean(b) => Bytes::from_static(if *b { b"1" } else { b"0" }),
    _ => return Err(Error::argument("command arguments must be strings, buffers or numbers")),
  })
}

fn int(b: &[u8]) -> Result<i64> {
  let n = std::str::from_utf8(b).ok().and_then(|s| s.parse().ok());
  n.ok_or_else(|| reply_err("ERR value is not an integer or out of range"))
}

fn float(b: &[u8]) -> Result<f64> {
  let f = std::str::from_utf8(b).ok().and_then(|s| s.parse::<f64>().ok()).filter(|f| !f.is_nan());
  f.ok_or_else(|| reply_err("ERR value is not a valid float"))
}

/// Redis prints doubles in their shortest form and integers without ".0";
/// Rust's `Display` for f64 does the same (`3`, `1.5`, `inf`).
fn fmt_f64(f: f64) -> String {
  f.to_string()
}

fn unix_ms() -> i64 {
  SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// `ms` from now, or at unix time `ms` when `absolute`; past times give now.
fn deadline(ms: i64, absolute: bool) -> Instant {
  let now = Instant::now();
  let rel = if absolute { ms.saturating_sub(unix_ms()) } else { ms };
  now.checked_add(Duration::from_millis(rel.clamp(0, MAX_TTL_MS) as u64)).unwrap_or(now)
}

/// Redis start/stop indexes (inclusive, negative from the end) within `len`.
fn span(start: i64, stop: i64, len: usize) -> Option<(usize, usize)> {
  let len = len as i64;
  let s = if start < 0 { (len + start).max(0) } else { start };
  let e = if stop < 0 { len + stop } else { stop.min(len - 1) };
  (s <= e && s < len).then_some((s as usize, e as usize))
}

/// Redis glob: `*`, `?`, `[abc]`, `[^a-z]`, and `\` escapes.
fn glob(p: &[u8], s: &[u8]) -> bool {
  match p {
    [] => s.is_empty(),
    [b'*', rest @ ..] => (0..=s.len()).any(|i| glob(rest, &s[i..])),
    [b'?', rest @ ..] => !s.is_empty() && glob(rest, &s[1..]),
    [b'[', rest @ ..] => {
      let (negate, body) = match rest {
        [b'^', body @ ..] => (true, body),
        _ => (false, rest),
      };
      match (s.split_first(), body.iter().position(|&c| c == b']')) {
        (Some((&c, tail)), Some(end)) => (in_class(&body[..end], c) != negate) && glob(&body[end + 1..], tail),
        _ => false,
      }
    }
    [b'\\', c, rest @ ..] | [c, rest @ ..] => s.first() == Some(c) && glob(rest, &s[1..]),
  }
}

fn in_class(items: &[u8], c: u8) -> bool {
  match items {
    [] => false,
    [b'\\', x, rest @ ..] => *x == c || in_class(rest, c),
    [lo, b'-', hi, rest @ ..] => ((*lo).min(*hi)..=(*lo).max(*hi)).contains(&c) || in_class(rest, c),
    [x, rest @ ..] => *x == c || in_class(rest, c),
  }
}

fn bulk(b: &Bytes) -> Reply {
  Reply::Bytes(b.clone())
}
fn opt_bulk(b: Option<&Bytes>) -> Reply {
  b.map_or(Reply::Nil, bulk)
}
fn array<'a>(items: impl IntoIterator<Item = &'a Bytes>) -> Reply {
  Reply::Array(items.into_iter().map(bulk).collect())
}
fn count<T>(items: impl Iterator<Item = T>) -> Reply {
  Reply::Int(items.count() as i64)
}

type Get<T> = fn(&Data) -> Result<&T>;
type GetMut<T> = fn(&mut Data) -> Result<&mut T>;

impl MemoryStore {
  pub fn new(max_bytes: u64, default_ttl: Option<Duration>) -> Self {
    let evictions = Arc::new(AtomicU64::new(0));
    let counter = evictions.clone();
    // Plain LRU: TinyLFU's admission would turn away keys written once
    // (an outage write), keeping stale ones instead.
    let cache = Cache::builder()
      .eviction_policy(moka::policy::EvictionPolicy::lru())
      .max_capacity(max_bytes)
      .weigher(|_: &Bytes, v: &Arc<Entry>| v.weight)
      .expire_after(DeadlineExpiry)
      .eviction_listener(move |_, _, cause| {
        if cause == RemovalCause::Size {
          counter.fetch_add(1, Ordering::Relaxed);
        }
      })
      .build();
    let (lock, hits, misses) = (Mutex::new(()), AtomicU64::new(0), AtomicU64::new(0));
    MemoryStore { cache, lock, default_ttl, max_bytes, hits, misses, evictions }
  }

  /// Counts and sizes are approximate: moka applies its bookkeeping lazily.
  pub fn stats(&self) -> MemoryStats {
    // moka counts lazily: settle pending inserts and evictions first.
    self.cache.run_pending_tasks();
    MemoryStats {
      item_count: self.cache.entry_count(),
      size_bytes: self.cache.weighted_size(),
      max_bytes: self.max_bytes,
      hits: self.hits.load(Ordering::Relaxed),
      misses: self.misses.load(Ordering::Relaxed),
      evictions: self.evictions.load(Ordering::Relaxed),
    }
  }

  /// Mirrors a string value Redis returned or accepted.
  pub fn mirror_string(&self, key: &[u8], value: Bytes, ttl: Option<Duration>) {
    let _guard = self.lock.lock().unwrap_or_else(|p| p.into_inner());
    let at = match ttl {
      Some(t) => Some(deadline(t.as_millis().min(MAX_TTL_MS as u128) as i64, false)),
      None => self.fresh_deadline(),
    };
    self.put(Bytes::copy_from_slice(key), Arc::new(Data::Str(value)), at);
  }

  /// True when `key` already holds exactly this string (and has not
  /// expired): mirroring it again would change nothing.
  pub fn holds_string(&self, key: &[u8], value: &[u8]) -> bool {
    self
      .cache
      .get(key)
      .is_some_and(|e| !e.expired(Instant::now()) && matches!(&*e.data, Data::Str(v) if v.as_ref() == value))
  }

  /// Drops a mirrored key (a write the store did not see made it stale).
  pub fn forget(&self, key: &[u8]) {
    let _guard = self.lock.lock().unwrap_or_else(|p| p.into_inner());
    self.cache.invalidate(key);
  }

  /// The deadline of a key written without an explicit TTL.
  fn fresh_deadline(&self) -> Option<Instant> {
    self.default_ttl.and_then(|t| Instant::now().checked_add(t))
  }

  fn lookup(&self, key: &[u8]) -> Option<Arc<Entry>> {
    let entry = self.cache.get(key)?;
    if entry.expired(Instant::now()) {
      self.cache.invalidate(key);
      return None;
    }
    Some(entry)
  }

  /// Reads `key` as one kind (counting a hit or miss) and builds the reply.
  fn view<T>(&self, key: &[u8], get: Get<T>, f: impl FnOnce(Option<&T>) -> Reply) -> Result<Reply> {
    let entry = self.lookup(key);
    let counter = if entry.is_some() { &self.hits } else { &self.misses };
    counter.fetch_add(1, Ordering::Relaxed);
    match &entry {
      Some(e) => Ok(f(Some(get(&e.data)?))),
      None => Ok(f(None)),
    }
  }

  fn put(&self, key: Bytes, data: Arc<Data>, deadline: Option<Instant>) {
    match data.size() {
      Some(size) if deadline.is_none_or(|d| d > Instant::now()) => {
        let weight = u32::try_from(key.len() + size + ENTRY_OVERHEAD).unwrap_or(u32::MAX);
        self.cache.insert(key, Arc::new(Entry { data, deadline, weight }));
      }
      _ => self.cache.invalidate(&key),
    }
  }

  fn set_string(&self, key: &Bytes, value: &Bytes, deadline: Option<Instant>) {
    self.put(key.clone(), Arc::new(Data::Str(value.clone())), deadline);
  }

  /// Clone-modify-insert on `key`, keeping its TTL. A missing key starts as
  /// `empty`, or without one `f` is not called and the result is `None`.
  fn update<T, R>(
    &self,
    key: &Bytes,
    empty: Option<Data>,
    get: GetMut<T>,
    f: impl FnOnce(&mut T) -> Result<R>,
  ) -> Result<Option<R>> {
    let (mut data, deadline) = match (self.lookup(key), empty) {
      (Some(e), _) => ((*e.data).clone(), e.deadline),
      (None, Some(d)) => (d, self.fresh_deadline()),
      (None, None) => return Ok(None),
    };
    let out = f(get(&mut data)?)?;
    self.put(key.clone(), Arc::new(data), deadline);
    Ok(Some(out))
  }

  fn upsert<T, R>(&self, key: &Bytes, empty: Data, get: GetMut<T>, f: impl FnOnce(&mut T) -> Result<R>) -> Result<R> {
    let out = self.update(key, Some(empty), get, f)?;
    out.ok_or_else(|| Error::new(ErrorKind::Internal, "memory store: upsert lost its key"))
  }

  /// HDEL/SREM/ZREM: removes each of `items` from a collection, counting hits.
  fn remove_each<T>(
    &self,
    key: &Bytes,
    get: GetMut<T>,
    items: &[Bytes],
    rm: impl Fn(&mut T, &Bytes) -> bool,
  ) -> Result<Reply> {
    let removed = self.update(key, None, get, |c| Ok(items.iter().filter(|i| rm(c, i)).count() as i64))?;
    Ok(Reply::Int(removed.unwrap_or(0)))
  }

  fn live_keys(&self) -> Vec<(Bytes, Arc<Entry>)> {
    let now = Instant::now();
    self.cache.iter().filter(|(_, e)| !e.expired(now)).map(|(k, e)| ((*k).clone(), e)).collect()
  }

  /// Executes one command like Redis would.
  pub fn execute(&self, cmd: &Command) -> Result<Reply> {
    // The commands it answers, and their argument counts, are in the command table.
    let Some(crate::core::commands::Arity { min, max }) = cmd.info().and_then(|c| c.memory) else {
      return Err(reply_err(format!("ERR unknown command '{}' (not available while serving from memory)", cmd.name)));
    };
    let name = cmd.upper_name();
    let a = cmd.args.iter().map(arg_bytes).collect::<Result<Vec<_>>>()?;
    let pairs_ok = match name.as_str() {
      "MSET" => a.len() % 2 == 0,
      "HSET" | "HMSET" => a.len() % 2 == 1,
      _ => true,
    };
    if a.len() < min || a.len() > max || !pairs_ok {
      let lower = cmd.name.to_ascii_lowercase();
      return Err(reply_err(format!("ERR wrong number of arguments for '{lower}' command")));
    }
    let _guard = self.lock.lock().unwrap_or_else(|p| p.into_inner());
    let k = &a.first().cloned().unwrap_or_default();
    Ok(match name.as_str() {
      "PING" => a.first().map_or(Reply::from_str("PONG"), bulk),
      "ECHO" => bulk(k),
      "GET" => self.view(k, Data::str, opt_bulk)?,
      "SET" => self.cmd_set(&a)?,
      "GETDEL" | "GETSET" => {
        let old = self.view(k, Data::str, opt_bulk)?;
        match a.get(1) {
          Some(v) => self.set_string(k, v, self.fresh_deadline()),
          None => self.cache.invalidate(k),
        }
        old
      }
      "SETNX" => {
        let fresh = self.lookup(k).is_none();
        if fresh {
          self.set_string(k, &a[1], self.fresh_deadline());
        }
        Reply::Int(fresh as i64)
      }
      "SETEX" | "PSETEX" => {
        let ttl = int(&a[1])?;
        let ms = if name == "SETEX" { ttl.checked_mul(1000) } else { Some(ttl) };
        let ms = ms.filter(|_| ttl > 0).ok_or_else(|| bad_expire(&name))?;
        self.set_string(k, &a[2], Some(deadline(ms, false)));
        Reply::ok()
      }
      "MGET" => Reply::Array(a.iter().map(|k| self.view(k, Data::str, opt_bulk).unwrap_or(Reply::Nil)).collect()),
      "MSET" => {
        a.chunks(2).for_each(|p| self.set_string(&p[0], &p[1], self.fresh_deadline()));
        Reply::ok()
      }
      "DEL" | "UNLINK" => {
        let now = Instant::now();
        count(a.iter().filter(|k| self.cache.remove(&k[..]).is_some_and(|e| !e.expired(now))))
      }
      "EXISTS" => count(a.iter().filter(|k| self.lookup(k).is_some())),
      "EXPIRE" | "PEXPIRE" | "EXPIREAT" | "PEXPIREAT" => self.cmd_expire(&name, &a)?,
      "TTL" | "PTTL" => match self.lookup(k).map(|e| e.deadline) {
        None => Reply::Int(-2),
        Some(None) => Reply::Int(-1),
        Some(Some(d)) => {
          let ms = d.saturating_duration_since(Instant::now()).as_millis() as i64;
          Reply::Int(if name == "PTTL" { ms } else { (ms + 500) / 1000 })
        }
      },
      "PERSIST" => match self.lookup(k) {
        Some(e) if e.deadline.is_some() => {
          self.put(k.clone(), e.data.clone(), None);
          Reply::Int(1)
        }
        _ => Reply::Int(0),
      },
      "TYPE" => Reply::from_str(self.lookup(k).map_or("none", |e| e.data.type_name())),
      "INCR" | "DECR" | "INCRBY" | "DECRBY" => {
        let by = if name.ends_with("BY") { int(&a[1])? } else { 1 };
        let by = if name.starts_with("DECR") { by.checked_neg().ok_or_else(overflow)? } else { by };
        Reply::Int(self.upsert(k, Data::Str(Bytes::from_static(b"0")), Data::str_mut, |s| {
          let n = int(s)?.checked_add(by).ok_or_else(overflow)?;
          *s = Bytes::from(n.to_string());
          Ok(n)
        })?)
      }
      "INCRBYFLOAT" => {
        let by = float(&a[1])?;
        self.upsert(k, Data::Str(Bytes::from_static(b"0")), Data::str_mut, |s| {
          let n = float(s)? + by;
          if !n.is_finite() {
            return Err(reply_err("ERR increment would produce NaN or Infinity"));
          }
          *s = Bytes::from(fmt_f64(n));
          Ok(bulk(s))
        })?
      }
      "APPEND" => Reply::Int(self.upsert(k, Data::Str(Bytes::new()), Data::str_mut, |s| {
        *s = Bytes::from([&s[..], &a[1][..]].concat());
        Ok(s.len() as i64)
      })?),
      "STRLEN" => self.view(k, Data::str, |s| Reply::Int(s.map_or(0, |s| s.len() as i64)))?,
      "HSET" | "HMSET" => {
        let added = self.upsert(k, Data::Hash(BTreeMap::new()), Data::hash_mut, |h| {
          Ok(a[1..].chunks(2).filter(|p| h.insert(p[0].clone(), p[1].clone()).is_none()).count() as i64)
        })?;
        if name == "HSET" {
          Reply::Int(added)
        } else {
          Reply::ok()
        }
      }
      "HSETNX" => Reply::Int(self.upsert(k, Data::Hash(BTreeMap::new()), Data::hash_mut, |h| {
        let fresh = !h.contains_key(&a[1]);
        if fresh {
          h.insert(a[1].clone(), a[2].clone());
        }
        Ok(fresh as i64)
      })?),
      "HGET" => self.view(k, Data::hash, |h| opt_bulk(h.and_then(|h| h.get(&a[1]))))?,
      "HEXISTS" => self.view(k, Data::hash, |h| Reply::Int(h.is_some_and(|h| h.contains_key(&a[1])) as i64))?,
      "HMGET" => self
        .view(k, Data::hash, |h| Reply::Array(a[1..].iter().map(|f| opt_bulk(h.and_then(|h| h.get(f)))).collect()))?,
      "HGETALL" | "HKEYS" | "HVALS" | "HLEN" => self.view(k, Data::hash, |h| {
        let empty = BTreeMap::new();
        let h = h.unwrap_or(&empty);
        match name.as_str() {
          "HGETALL" => array(h.iter().flat_map(|(k, v)| [k, v])),
          "HKEYS" => array(h.keys()),
          "HVALS" => array(h.values()),
          _ => Reply::Int(h.len() as i64),
        }
      })?,
      "HDEL" => self.remove_each(k, Data::hash_mut, &a[1..], |h, f| h.remove(f).is_some())?,
      "HINCRBY" => {
        let by = int(&a[2])?;
        Reply::Int(self.upsert(k, Data::Hash(BTreeMap::new()), Data::hash_mut, |h| {
          let old =
            h.get(&a[1]).map_or(Ok(0), |v| int(v).map_err(|_| reply_err("ERR hash value is not an integer")))?;
          let n = old.checked_add(by).ok_or_else(overflow)?;
          h.insert(a[1].clone(), Bytes::from(n.to_string()));
          Ok(n)
        })?)
      }
      "LPUSH" | "RPUSH" => Reply::Int(self.upsert(k, Data::List(VecDeque::new()), Data::list_mut, |l| {
        for v in &a[1..] {
          if name == "LPUSH" {
            l.push_front(v.clone())
          } else {
            l.push_back(v.clone())
          }
        }
        Ok(l.len() as i64)
      })?),
      "LPOP" | "RPOP" => {
        let out_of_range = |_| reply_err("ERR value is out of range, must be positive");
        let n = a.get(1).map(|c| usize::try_from(int(c)?).map_err(out_of_range)).transpose()?;
        let popped = self.update(k, None, Data::list_mut, |l| {
          let take = n.unwrap_or(1).min(l.len());
          let end = l.len() - take;
          Ok(if name == "LPOP" { l.drain(..take).collect::<Vec<_>>() } else { l.drain(end..).rev().collect() })
        })?;
        match (popped, n) {
          (None, _) => Reply::Nil,
          (Some(items), Some(_)) => array(&items),
          (Some(items), None) => opt_bulk(items.first()),
        }
      }
      "LRANGE" => {
        let (start, stop) = (int(&a[1])?, int(&a[2])?);
        self.view(k, Data::list, |l| match l.and_then(|l| Some((l, span(start, stop, l.len())?))) {
          Some((l, (s, e))) => array(l.range(s..=e)),
          None => Reply::Array(vec![]),
        })?
      }
      "LTRIM" => {
        let (start, stop) = (int(&a[1])?, int(&a[2])?);
        self.update(k, None, Data::list_mut, |l| {
          let (s, e) = span(start, stop, l.len()).unwrap_or((l.len(), l.len()));
          l.truncate(e + 1);
          l.drain(..s.min(l.len()));
          Ok(())
        })?;
        Reply::ok()
      }
      "LLEN" => self.view(k, Data::list, |l| Reply::Int(l.map_or(0, |l| l.len() as i64)))?,
      "LINDEX" => {
        let i = int(&a[1])?;
        self.view(k, Data::list, |l| {
          opt_bulk(l.and_then(|l| {
            let i = if i < 0 { i + l.len() as i64 } else { i };
            usize::try_from(i).ok().and_then(|i| l.get(i))
          }))
        })?
      }
      "LREM" => {
        let n = int(&a[1])?;
        let removed = self.update(k, None, Data::list_mut, |l| {
          // Indexes of the matches, nearest the chosen end first.
          let mut hits: Vec<usize> = (0..l.len()).filter(|&i| l[i] == a[2]).collect();
          if n < 0 {
            hits.reverse();
          }
          hits.truncate(if n == 0 { usize::MAX } else { n.unsigned_abs() as usize });
          hits.sort_unstable();
          for &i in hits.iter().rev() {
            l.remove(i);
          }
          Ok(Reply::Int(hits.len() as i64))
        })?;
        removed.unwrap_or(Reply::Int(0))
      }
      "SADD" => self.upsert(k, Data::Set(BTreeSet::new()), Data::set_mut, |s| {
        Ok(count(a[1..].iter().filter(|m| s.insert((*m).clone()))))
      })?,
      "SREM" => self.remove_each(k, Data::set_mut, &a[1..], |s, m| s.remove(m))?,
      "SMEMBERS" => self.view(k, Data::set, |s| s.map_or(Reply::Array(vec![]), array))?,
      "SCARD" => self.view(k, Data::set, |s| Reply::Int(s.map_or(0, |s| s.len() as i64)))?,
      "SISMEMBER" => self.view(k, Data::set, |s| Reply::Int(s.is_some_and(|s| s.contains(&a[1])) as i64))?,
      "ZADD" => self.cmd_zadd(&a)?,
      "ZRANGE" | "ZREVRANGE" => {
        let (start, stop) = (int(&a[1])?, int(&a[2])?);
        let (mut rev, mut with_scores) = (name == "ZREVRANGE", false);
        for opt in &a[3..] {
          match opt.to_ascii_uppercase().as_slice() {
            b"WITHSCORES" => with_scores = true,
            b"REV" if name == "ZRANGE" => rev = true,
            b"BYSCORE" | b"BYLEX" | b"LIMIT" => return Err(unsupported("ZRANGE BYSCORE/BYLEX/LIMIT")),
            _ => return Err(syntax()),
          }
        }
        self.view(k, Data::zset, |z| {
          let Some((z, (s, e))) = z.and_then(|z| Some((z, span(start, stop, z.scores.len())?))) else {
            return Reply::Array(vec![]);
          };
          let items: Box<dyn Iterator<Item = &(Score, Bytes)>> =
            if rev { Box::new(z.order.iter().rev()) } else { Box::new(z.order.iter()) };
          let mut out = Vec::new();
          for (score, member) in items.skip(s).take(e - s + 1) {
            out.push(bulk(member));
            if with_scores {
              out.push(Reply::from_str(&fmt_f64(score.0)));
            }
          }
          Reply::Array(out)
        })?
      }
      "ZSCORE" => self.view(k, Data::zset, |z| match z.and_then(|z| z.scores.get(&a[1])) {
        Some(s) => Reply::from_str(&fmt_f64(*s)),
        None => Reply::Nil,
      })?,
      "ZREM" => self.remove_each(k, Data::zset_mut, &a[1..], |z, m| z.remove(m))?,
      "ZCARD" => self.view(k, Data::zset, |z| Reply::Int(z.map_or(0, |z| z.scores.len() as i64)))?,
      "ZINCRBY" => {
        let by = float(&a[1])?;
        self.upsert(k, Data::ZSet(ZSet::default()), Data::zset_mut, |z| {
          let n = z.scores.get(&a[2]).copied().unwrap_or(0.0) + by;
          if n.is_nan() {
            return Err(reply_err("ERR resulting score is not a number (NaN)"));
          }
          z.insert(a[2].clone(), n);
          Ok(Reply::from_str(&fmt_f64(n)))
        })?
      }
      "KEYS" => {
        let keys = self.live_keys().into_iter().filter(|(key, _)| glob(k, key));
        Reply::Array(keys.map(|(key, _)| Reply::Bytes(key)).collect())
      }
      "SCAN" => {
        int(k).map_err(|_| reply_err("ERR invalid cursor"))?;
        let (mut pattern, mut kind) = (None, None);
        for opt in a[1..].chunks(2) {
          let value = opt.get(1).ok_or_else(syntax)?;
          match opt[0].to_ascii_uppercase().as_slice() {
            b"MATCH" => pattern = Some(value),
            b"COUNT" => {
              int(value)?; // checked, but every page holds all keys
            }
            b"TYPE" => kind = Some(value.to_ascii_lowercase()),
            _ => return Err(syntax()),
          }
        }
        let keys = self.live_keys().into_iter().filter(|(key, e)| {
          pattern.is_none_or(|p| glob(p, key)) && kind.as_ref().is_none_or(|t| t[..] == *e.data.type_name().as_bytes())
        });
        // The whole keyspace in one page, so the next cursor is always "0".
        Reply::Array(vec![Reply::from_str("0"), Reply::Array(keys.map(|(key, _)| Reply::Bytes(key)).collect())])
      }
      "DBSIZE" => Reply::Int(self.live_keys().len() as i64),
      "FLUSHALL" | "FLUSHDB" => {
        self.cache.invalidate_all();
        Reply::ok()
      }
      "PUBLISH" => Reply::Int(0), // nobody subscribes to the memory store
      "INFO" => {
        let (s, keys) = (self.stats(), self.live_keys());
        let expires = keys.iter().filter(|(_, e)| e.deadline.is_some()).count();
        Reply::from_str(&format!(
          "# Server\r\nredis_mode:memory\r\n\r\n# Memory\r\nused_memory:{}\r\nmaxmemory:{}\r\n\r\n# Stats\r\n\
           keyspace_hits:{}\r\nkeyspace_misses:{}\r\nevicted_keys:{}\r\n\r\n# Keyspace\r\ndb0:keys={},expires={}\r\n",
          s.size_bytes,
          s.max_bytes,
          s.hits,
          s.misses,
          s.evictions,
          keys.len(),
          expires
        ))
      }
      "TIME" => {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        let (secs, micros) = (now.as_secs().to_string(), now.subsec_micros().to_string());
        Reply::Array(vec![Reply::from_str(&secs), Reply::from_str(&micros)])
      }
      _ => return Err(Error::new(ErrorKind::Internal, format!("memory store: {name} is listed but not handled"))),
    })
  }

  /// SET key value [NX|XX] [GET] [EX s|PX ms|EXAT s|PXAT ms|KEEPTTL]
  fn cmd_set(&self, a: &[Bytes]) -> Result<Reply> {
    let (mut nx, mut xx, mut get, mut keep, mut expiry) = (false, false, false, false, None);
    let mut i = 2;
    while i < a.len() {
      let opt = a[i].to_ascii_uppercase();
      match opt.as_slice() {
        b"NX" => nx = true,
        b"XX" => xx = true,
        b"GET" => get = true,
        b"KEEPTTL" => keep = true,
        b"EX" | b"PX" | b"EXAT" | b"PXAT" if expiry.is_none() => {
          i += 1;
          let v = int(a.get(i).ok_or_else(syntax)?)?;
          let ms = if opt.starts_with(b"EX") { v.checked_mul(1000) } else { Some(v) };
          let ms = ms.filter(|_| v > 0).ok_or_else(|| bad_expire("set"))?;
          expiry = Some(deadline(ms, opt.ends_with(b"AT")));
        }
        _ => return Err(syntax()),
      }
      i += 1;
    }
    if (nx && xx) || (keep && expiry.is_some()) {
      return Err(syntax());
    }
    let old = self.lookup(&a[0]);
    let old_value = match (&old, get) {
      (Some(e), true) => Some(e.data.str()?.clone()),
      _ => None,
    };
    let reply = if get { opt_bulk(old_value.as_ref()) } else { Reply::ok() };
    if (nx && old.is_some()) || (xx && old.is_none()) {
      return Ok(if get { reply } else { Reply::Nil });
    }
    let deadline = match (expiry, keep, old) {
      (Some(d), _, _) => Some(d),
      (None, true, Some(e)) => e.deadline,
      _ => self.fresh_deadline(),
    };
    self.set_string(&a[0], &a[1], deadline);
    Ok(reply)
  }

  /// EXPIRE/PEXPIRE/EXPIREAT/PEXPIREAT key time [NX|XX|GT|LT]
  fn cmd_expire(&self, name: &str, a: &[Bytes]) -> Result<Reply> {
    let unit = if name.starts_with('P') { 1 } else { 1000 };
    let ms = int(&a[1])?.checked_mul(unit).ok_or_else(|| bad_expire(name))?;
    let Some(entry) = self.lookup(&a[0]) else { return Ok(Reply::Int(0)) };
    let new = deadline(ms, name.ends_with("AT"));
    let allowed = match a.get(2).map(|o| o.to_ascii_uppercase()) {
      None => true,
      Some(o) => match (o.as_slice(), entry.deadline) {
        (b"NX", d) => d.is_none(),
        (b"XX", d) => d.is_some(),
        (b"GT", d) => d.is_some_and(|d| new > d), // no TTL counts as infinite
        (b"LT", d) => d.is_none_or(|d| new < d),
        _ => return Err(reply_err(format!("ERR Unsupported option {}", String::from_utf8_lossy(&o)))),
      },
    };
    if allowed {
      self.put(a[0].clone(), entry.data.clone(), Some(new)); // a past time deletes the key
    }
    Ok(Reply::Int(allowed as i64))
  }

  /// ZADD key [NX|XX] [CH] score member [score member ...]
  fn cmd_zadd(&self, a: &[Bytes]) -> Result<Reply> {
    let (mut nx, mut xx, mut ch, mut i) = (false, false, false, 1);
    while let Some(opt) = a.get(i) {
      match opt.to_ascii_uppercase().as_slice() {
        b"NX" => nx = true,
        b"XX" => xx = true,
        b"CH" => ch = true,
        b"GT" | b"LT" | b"INCR" => return Err(unsupported("ZADD GT/LT/INCR")),
        _ => break,
      }
      i += 1;
    }
    if nx && xx {
      return Err(reply_err("ERR XX and NX options at the same time are not compatible"));
    }
    if a.len() == i || !(a.len() - i).is_multiple_of(2) {
      return Err(syntax());
    }
    let pairs = a[i..].chunks(2).map(|p| Ok((float(&p[0])?, p[1].clone()))).collect::<Result<Vec<_>>>()?;
    let n = self.upsert(&a[0], Data::ZSet(ZSet::default()), Data::zset_mut, |z| {
      let mut n = 0;
      for (score, member) in pairs {
        let old = z.scores.get(&member).copied();
        if (nx && old.is_some()) || (xx && old.is_none()) {
          continue;
        }
        let changed = old != Some(score);
        if z.insert(member, score) || (ch && changed) {
          n += 1;
        }
      }
      Ok(n)
    })?;
    Ok(Reply::Int(n))
  }
}

#[cfg(test)]
mod tests {
  use super::*;

  const WRONG: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";

  #[test]
  fn it_answers_every_command_the_table_gives_it_and_no_other() {
    let s = store();
    for c in crate::core::commands::all() {
      let Some(arity) = c.memory else {
        let e = s.execute(&Command::new(c.name, vec![Value::from("k"); 3])).err().map(|e| e.message);
        assert!(e.is_some_and(|m| m.contains("not available while serving from memory")), "{}", c.name);
        continue;
      };
      // Past the argument count, every row reaches its arm of `execute`.
      let n = if c.name == "mset" { 4 } else { arity.min.max(3).min(arity.max) };
      let reply = s.execute(&Command::new(c.name, vec![Value::from("1"); n]));
      assert!(!matches!(&reply, Err(e) if e.kind == ErrorKind::Internal), "{}: {reply:?}", c.name);
      assert!(!matches!(&reply, Err(e) if e.message.contains("wrong number")), "{}: {reply:?}", c.name);
    }
  }

  /// Runs one space-separated command; error replies come back as `Reply::Error`.
  fn run(s: &MemoryStore, line: &str) -> Reply {
    let mut words = line.split_whitespace();
    let name = words.next().expect("a command name");
    match s.execute(&Command::new(name.to_string(), words.map(Value::from).collect())) {
      Ok(reply) => reply,
      Err(e) => {
        assert_eq!(e.kind, ErrorKind::Reply, "{line}: {e}");
        Reply::Error(e.message)
      }
    }
  }
  /// Runs each command and compares its reply.
  fn check(s: &MemoryStore, script: &[(&str, Reply)]) {
    for (line, want) in script {
      assert_eq!(&run(s, line), want, "{line}");
    }
  }
  fn b(s: &str) -> Reply {
    Reply::from_str(s)
  }
  fn i(n: i64) -> Reply {
    Reply::Int(n)
  }
  fn e(m: &str) -> Reply {
    Reply::Error(m.into())
  }
  fn arr(items: &[&str]) -> Reply {
    Reply::Array(items.iter().map(|s| b(s)).collect())
  }
  fn ok() -> Reply {
    Reply::ok()
  }
  fn store() -> MemoryStore {
    MemoryStore::new(10 << 20, None)
  }
  fn sorted(r: Reply) -> Reply {
    match r {
      Reply::Array(mut items) => {
        items.sort_by(|x, y| x.as_bytes().cmp(&y.as_bytes()));
        Reply::Array(items)
      }
      other => other,
    }
  }

  #[test]
  fn strings() {
    fn check_send_sync<T: Send + Sync>() {}
    check_send_sync::<MemoryStore>();
    let s = store();
    let not_int = "ERR value is not an integer or out of range";
    check(
      &s,
      &[
        ("ping", b("PONG")),
        ("PING hi", b("hi")),
        ("echo x", b("x")),
        ("get k", Reply::Nil),
        ("set k v", ok()),
        ("GeT k", b("v")),
        ("getset k w", b("v")),
        ("getdel k", b("w")),
        ("exists k", i(0)),
        ("setnx k 1", i(1)),
        ("setnx k 2", i(0)),
        ("mset a 1 b 2", ok()),
        ("mget a b nope", Reply::Array(vec![b("1"), b("2"), Reply::Nil])),
        ("append a 23", i(3)),
        ("append new xy", i(2)),
        ("strlen a", i(3)),
        ("strlen nope", i(0)),
        ("incr n", i(1)),
        ("incrby n 10", i(11)),
        ("decr n", i(10)),
        ("decrby n 4", i(6)),
        ("incrbyfloat f 10.5", b("10.5")),
        ("incrbyfloat f 0.5", b("11")),
        ("incr new", e(not_int)),
        ("incrby n x", e(not_int)),
        (&format!("set max {}", i64::MAX), ok()),
        ("incr max", e("ERR increment or decrement would overflow")),
        ("get", e("ERR wrong number of arguments for 'get' command")),
        ("mset a", e("ERR wrong number of arguments for 'mset' command")),
        ("xadd s", e("ERR unknown command 'xadd' (not available while serving from memory)")),
      ],
    );
    // Binary keys and integer arguments.
    let raw = Bytes::from_static(&[0, 159, 255]);
    let set = Command::new("SET", vec![Value::Bytes(raw.clone()), Value::Integer(42)]);
    assert_eq!(s.execute(&set).expect("set"), ok());
    assert_eq!(s.execute(&Command::new("GET", vec![Value::Bytes(raw)])).expect("get"), b("42"));
  }

  #[test]
  fn set_options() {
    let s = store();
    check(
      &s,
      &[
        ("set k v XX", Reply::Nil),
        ("set k v NX", ok()),
        ("set k w nx", Reply::Nil),
        ("set k w xx get", b("v")),
        ("set k z nx get", b("w")),
        ("set fresh z get", Reply::Nil),
        ("set k v EX 100", ok()),
        ("set k v2 KEEPTTL", ok()),
        ("ttl k", i(100)),
        ("set k v3", ok()),
        ("ttl k", i(-1)),
        ("set k v NX XX", e("ERR syntax error")),
        ("set k v EX 0", e("ERR invalid expire time in 'set' command")),
        ("set k v EX 1 PX 1", e("ERR syntax error")),
        ("lpush l x", i(1)),
        ("set l v GET", e(WRONG)),
        ("set l v", ok()), // plain SET overwrites any type
      ],
    );
    run(&s, "set k v PX 5000");
    assert!(matches!(run(&s, "pttl k"), Reply::Int(ms) if ms > 4000 && ms <= 5000));
    run(&s, &format!("set k v EXAT {}", unix_ms() / 1000 + 100));
    assert!(matches!(run(&s, "ttl k"), Reply::Int(t) if (98..=100).contains(&t)));
  }

  #[test]
  fn ttl_and_expiry() {
    let s = store();
    check(
      &s,
      &[
        ("set a 1 PX 50", ok()),
        ("psetex b 50 1", ok()),
        ("setex c 100 1", ok()),
        ("set d 1", ok()),
        ("rpush e x", i(1)),
        ("pexpire e 50", i(1)),
        ("ttl c", i(100)),
        ("ttl d", i(-1)),
        ("ttl zz", i(-2)),
        ("expire zz 10", i(0)),
        ("expire d 10 XX", i(0)),
        ("expire d 10 NX", i(1)),
        ("expire d 5 GT", i(0)),
        ("expire d 20 GT", i(1)),
        ("ttl d", i(20)),
        ("persist d", i(1)),
        ("persist d", i(0)),
        ("setex c 0 1", e("ERR invalid expire time in 'setex' command")),
      ],
    );
    run(&s, &format!("expireat d {}", unix_ms() / 1000 + 50));
    assert!(matches!(run(&s, "ttl d"), Reply::Int(t) if (48..=50).contains(&t)));
    std::thread::sleep(Duration::from_millis(120));
    s.cache.run_pending_tasks();
    check(
      &s,
      &[
        ("exists a b e", i(0)),
        ("ttl a", i(-2)),
        ("get a", Reply::Nil),
        ("lrange e 0 -1", arr(&[])),
        ("get c", b("1")),
        ("expire c -1", i(1)),
        ("get c", Reply::Nil),
        ("dbsize", i(1)),
      ],
    );
  }

  #[test]
  fn default_ttl_and_mirror() {
    let s = MemoryStore::new(1 << 20, Some(Duration::from_millis(50)));
    check(&s, &[("set a 1", ok()), ("hset h f v", i(1))]);
    assert!(matches!(run(&s, "pttl a"), Reply::Int(ms) if ms > 0 && ms <= 50));
    s.mirror_string(b"m", Bytes::from_static(b"mv"), Some(Duration::from_secs(60)));
    s.mirror_string(b"n", Bytes::from_static(b"nv"), None);
    check(&s, &[("get m", b("mv")), ("ttl m", i(60)), ("get n", b("nv"))]);
    std::thread::sleep(Duration::from_millis(120));
    s.cache.run_pending_tasks();
    let nil = Reply::Nil;
    check(&s, &[("get a", nil.clone()), ("get n", nil.clone()), ("hget h f", nil)]);
    check(&s, &[("get m", b("mv")), ("dbsize", i(1))]);
  }

  #[test]
  fn hashes() {
    let s = store();
    check(
      &s,
      &[
        ("hset h a 1 b 2", i(2)),
        ("hset h a 9 c 3", i(1)),
        ("hmset h d 4", ok()),
        ("hsetnx h a x", i(0)),
        ("hsetnx h e 5", i(1)),
        ("hget h a", b("9")),
        ("hget h zz", Reply::Nil),
        ("hget nope a", Reply::Nil),
        ("hmget h a zz b", Reply::Array(vec![b("9"), Reply::Nil, b("2")])),
        ("hexists h c", i(1)),
        ("hlen h", i(5)),
        ("hdel h c d e zz", i(3)),
        ("hgetall h", arr(&["a", "9", "b", "2"])),
        ("hkeys h", arr(&["a", "b"])),
        ("hvals h", arr(&["9", "2"])),
        ("hincrby h a -10", i(-1)),
        ("hincrby h n 5", i(5)),
        ("hset h s x", i(1)),
        ("hincrby h s 1", e("ERR hash value is not an integer")),
        ("hset h a", e("ERR wrong number of arguments for 'hset' command")),
        ("hgetall nope", arr(&[])),
        ("hdel h a b n s", i(4)),
        ("exists h", i(0)), // an emptied hash is deleted
      ],
    );
  }

  #[test]
  fn lists() {
    let s = store();
    check(
      &s,
      &[
        ("rpush l a b c", i(3)),
        ("lpush l y x", i(5)),
        ("lrange l 0 -1", arr(&["x", "y", "a", "b", "c"])),
        ("lrange l -2 100", arr(&["b", "c"])),
        ("lrange l 3 1", arr(&[])),
        ("lindex l -1", b("c")),
        ("lindex l 9", Reply::Nil),
        ("llen l", i(5)),
        ("lpop l", b("x")),
        ("rpop l", b("c")),
        ("rpop l 2", arr(&["b", "a"])),
        ("lpop nope", Reply::Nil),
        ("lpop nope 2", Reply::Nil),
        ("rpush r a b a c a", i(5)),
        ("lrem r -2 a", i(2)),
        ("lrange r 0 -1", arr(&["a", "b", "c"])),
        ("lrem r 0 a", i(1)),
        ("rpush t 1 2 3 4 5", i(5)),
        ("ltrim t 1 -2", ok()),
        ("lrange t 0 -1", arr(&["2", "3", "4"])),
        ("ltrim t 5 10", ok()),
        ("exists t", i(0)),
        ("lpop l 5", arr(&["y"])),
        ("exists l", i(0)),
        ("lpop r -1", e("ERR value is out of range, must be positive")),
      ],
    );
  }

  #[test]
  fn sets_and_sorted_sets() {
    let s = store();
    check(
      &s,
      &[
        ("sadd s b a b", i(2)),
        ("sadd s c a", i(1)),
        ("scard s", i(3)),
        ("sismember s a", i(1)),
        ("sismember s z", i(0)),
        ("smembers s", arr(&["a", "b", "c"])),
        ("srem s a z", i(1)),
        ("smembers nope", arr(&[])),
        ("srem s b c", i(2)),
        ("type s", b("none")),
        ("zadd z 1 a 2.5 b 2 c", i(3)),
        ("zadd z NX 9 a 3 d", i(1)),
        ("zadd z XX 5 a 7 e", i(0)),
        ("zadd z XX CH 1 a", i(1)),
        ("zrange z 0 -1", arr(&["a", "c", "b", "d"])),
        ("zrange z 0 1 WITHSCORES", arr(&["a", "1", "c", "2"])),
        ("zrevrange z 0 1 withscores", arr(&["d", "3", "b", "2.5"])),
        ("zrange z 0 0 REV", arr(&["d"])),
        ("zscore z b", b("2.5")),
        ("zscore z c", b("2")),
        ("zscore z nope", Reply::Nil),
        ("zincrby z 1.5 c", b("3.5")),
        ("zincrby z -1 new", b("-1")),
        ("zcard z", i(5)),
        ("zrem z new a zz", i(2)),
        ("zrange z 0 -1", arr(&["b", "d", "c"])),
        ("zadd z x a", e("ERR value is not a valid float")),
        ("zadd z 1 a 2", e("ERR syntax error")),
        ("zrange nope 0 -1", arr(&[])),
        ("zadd z NX XX 1 a", e("ERR XX and NX options at the same time are not compatible")),
      ],
    );
  }

  #[test]
  fn keyspace_and_server() {
    let s = store();
    for k in ["user:1", "user:2", "user:10", "job:a", "jab"] {
      run(&s, &format!("set {k} v"));
    }
    run(&s, "hset user:h f v");
    assert_eq!(sorted(run(&s, "keys user:?")), arr(&["user:1", "user:2", "user:h"]));
    assert_eq!(sorted(run(&s, "keys j[oa]*")), arr(&["jab", "job:a"]));
    assert_eq!(sorted(run(&s, "keys user:[^1]*")), arr(&["user:2", "user:h"]));
    assert_eq!(sorted(run(&s, "keys user:[0-1]*")), arr(&["user:1", "user:10"]));
    assert!(glob(b"a\\*b", b"a*b") && !glob(b"a\\*b", b"axb"));
    let Reply::Array(page) = run(&s, "scan 0 MATCH user:* COUNT 100 TYPE string") else { panic!("SCAN reply") };
    assert_eq!(page[0], b("0"));
    assert_eq!(sorted(page[1].clone()), arr(&["user:1", "user:10", "user:2"]));
    check(
      &s,
      &[
        ("dbsize", i(6)),
        ("type user:h", b("hash")),
        ("type jab", b("string")),
        ("exists jab jab nope", i(2)),
        ("del jab nope job:a", i(2)),
        ("unlink user:h", i(1)),
        ("publish ch msg", i(0)),
      ],
    );
    let info = run(&s, "info");
    let text = String::from_utf8_lossy(info.as_bytes().expect("INFO is a bulk string")).into_owned();
    assert!(text.starts_with("# Server\r\nredis_mode:memory\r\n") && text.contains("db0:keys=3,"), "{text}");
    assert!(matches!(run(&s, "time"), Reply::Array(t) if t.len() == 2));
    check(&s, &[("flushall", ok()), ("dbsize", i(0)), ("get user:1", Reply::Nil)]);
  }

  #[test]
  fn wrongtype() {
    let s = store();
    check(&s, &[("set str v", ok()), ("rpush list v", i(1))]);
    for line in [
      "get list",
      "incr list",
      "append list x",
      "getdel list",
      "hset str f v",
      "hget str f",
      "hgetall list",
      "lpush str x",
      "lrange str 0 -1",
      "lpop str",
      "sadd str x",
      "smembers list",
      "zadd str 1 x",
      "zrange list 0 1",
      "zscore str x",
    ] {
      assert_eq!(run(&s, line), e(WRONG), "{line}");
    }
    // MGET answers nil for other kinds; failed commands change nothing.
    check(&s, &[("mget str list", Reply::Array(vec![b("v"), Reply::Nil])), ("lrange list 0 -1", arr(&["v"]))]);
  }

  #[test]
  fn byte_bound_evicts() {
    let max = 10_000;
    let s = MemoryStore::new(max, None);
    let value = "x".repeat(100);
    for n in 0..2_000 {
      run(&s, &format!("set key:{n} {value}"));
    }
    s.cache.run_pending_tasks();
    let stats = s.stats();
    assert!(stats.size_bytes <= max && stats.evictions > 0, "{stats:?}");
    assert!(stats.item_count > 0 && stats.item_count < 2_000, "{stats:?}");
    run(&s, "get key:1999");
    run(&s, "get nothing");
    let stats = s.stats();
    assert_eq!((stats.hits + stats.misses, stats.max_bytes), (2, max));
  }

  #[test]
  fn concurrent_read_modify_write() {
    let s = Arc::new(store());
    let workers: Vec<_> = (0..4)
      .map(|_| {
        let s = s.clone();
        std::thread::spawn(move || {
          for _ in 0..500 {
            run(&s, "incr n");
            run(&s, "rpush l x");
          }
        })
      })
      .collect();
    for w in workers {
      w.join().expect("worker thread");
    }
    check(&s, &[("get n", b("2000")), ("llen l", i(2000))]);
  }
}
