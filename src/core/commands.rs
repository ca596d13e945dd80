//! The command table: what the core knows about each Redis command, one row
//! per command. Every decision that depends on a command's name (fallback,
//! journal and replay, the pipelined lanes, replicas, cluster routing,
//! blocking, the memory store, the JS facade's methods) reads it here.
//!
//! A command not in the table is a write of unknown shape: its first
//! argument is its key, it is journalled in an outage and never repeated
//! after a connection drop, and the memory store does not answer it.

use fred::prelude::Value;

/// Changes no data: never journalled, safe to repeat after a lost
/// connection; a keyed read may be answered by a replica.
pub const READ: u16 = 1;
/// Changes data (documentation and the facade; anything not `READ` is
/// treated as a write).
pub const WRITE: u16 = 1 << 1;
/// A write that leaves the same data when run twice: after a lost
/// connection it may be journalled (and so replayed) even if it might have
/// run.
pub const IDEMPOTENT: u16 = 1 << 2;
/// Uses or changes the connection's state (database, transaction, watched
/// keys, subscriptions, identity): never on a shared pipelined connection.
pub const STATEFUL: u16 = 1 << 3;
/// Runs a server-side script (EVAL, FCALL and their read-only forms).
pub const SCRIPT: u16 = 1 << 4;
/// Publish/subscribe.
pub const PUBSUB: u16 = 1 << 5;
/// May change keys it does not name (FLUSHDB, SWAPDB, SELECT, MOVE, ...).
pub const ANY_KEY: u16 = 1 << 6;
/// The JS service offers a method of this name (lib/commands.js).
pub const METHOD: u16 = 1 << 7;

/// Where the keys are, counted as Redis' COMMAND INFO counts (1 is the
/// first argument after the name).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Keys {
  /// No key (server-wide, connection or keyless commands): any node answers.
  None,
  /// From `first` to `last` (negative: from the end, -1 the last) every `step`.
  Range { first: u8, last: i8, step: u8 },
  /// `before` keys, then the number of keys at `at`, then those keys
  /// (EVAL script numkeys key...; ZUNIONSTORE dest numkeys key...).
  NumKeys { at: u8, before: u8 },
  /// XREAD/XREADGROUP: after `STREAMS`, the first half of the arguments.
  Streams,
}

/// How long a blocking command may hold its connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Block {
  Never,
  /// The last argument, in seconds (BLPOP ... timeout).
  LastSeconds,
  /// The first argument, in seconds (BLMPOP timeout ...).
  FirstSeconds,
  /// Only with a `BLOCK milliseconds` option (XREAD).
  BlockOption,
  /// The last argument, in milliseconds (WAIT).
  LastMillis,
}

/// Which bulk strings of a reply are values the service wrote (and so
/// may be compressed: src/core/compression).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ValueReply {
  None,
  /// Every bulk string, in nested arrays too (GET, MGET, LRANGE, LPOP with a count).
  All,
  /// Every second element from the second, and everything inside it
  /// (HGETALL's field, value pairs; BLPOP's key, value; BLMPOP's key, [values]).
  Odd,
  /// A scan's cursor, [field, value, ...]: the values (HSCAN).
  ScanPairs,
}

/// Argument counts the memory store accepts (`max` `N`: any number).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Arity {
  pub min: usize,
  pub max: usize,
}

/// No upper bound on the argument count.
pub const N: usize = usize::MAX;

#[derive(Debug)]
pub struct CommandInfo {
  /// Lowercase, as the facade sends it.
  pub name: &'static str,
  pub flags: u16,
  pub keys: Keys,
  pub block: Block,
  /// The memory store answers it (src/core/memory.rs), with these counts.
  pub memory: Option<Arity>,
  /// The arguments that are values (stored as given: compressed when the
  /// service compresses), counted as `keys` counts; `Keys::None`: none.
  pub values: Keys,
  /// Which parts of its reply are such values.
  pub reply: ValueReply,
}

/// How the facade's generated method takes its arguments (lib/commands.js).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
  /// `name(key, ...rest)`.
  Keyed,
  /// `name(...keys)`: every argument a key (`del('a', 'b') == del(['a', 'b'])`).
  Keys,
  /// Blocking, arguments as ioredis takes them: `blpop('a', 'b', 5) == blpop(['a', 'b'], 5)`.
  Blocking,
}

impl CommandInfo {
  pub const fn has(&self, flag: u16) -> bool {
    self.flags & flag != 0
  }

  /// It may hold its connection until data arrives (see `Block`).
  pub const fn may_block(&self) -> bool {
    !matches!(self.block, Block::Never)
  }

  /// A keyed read: a replica may answer it (read replicas, cluster `scaleReads`).
  pub fn replica_safe(&self) -> bool {
    self.has(READ) && self.keys != Keys::None
  }

  /// The facade's generated method for it, if it has one.
  pub fn method(&self) -> Option<Method> {
    if !self.has(METHOD) {
      None
    } else if self.may_block() {
      Some(Method::Blocking)
    } else if self.keys == (Keys::Range { first: 1, last: -1, step: 1 }) {
      Some(Method::Keys)
    } else {
      Some(Method::Keyed)
    }
  }

  /// The indices (into the arguments after the name) of the keys of a
  /// call with `args`; `None` when they cannot be told (an unreadable
  /// number of keys).
  pub fn key_indices(&self, args: &[Value]) -> Option<KeyIndices> {
    let len = args.len();
    let (before, from, to, step) = match self.keys {
      Keys::None => (0, 0, 0, 1),
      Keys::Range { first, last, step } => range(first, last, step, len),
      Keys::NumKeys { at, before } => {
        let n = args.get(at as usize - 1).and_then(count)?;
        let from = at as usize;
        (before as usize, from, from.saturating_add(n).min(len), 1)
      }
      Keys::Streams => match args.iter().position(|a| is_word(a, "streams")) {
        Some(i) => (0, i + 1, i + 1 + (len - i - 1) / 2, 1),
        None => (0, 0, 0, 1),
      },
    };
    Some((0..before.min(len)).chain((from..to.max(from)).step_by(step)))
  }

  /// The indices of the value arguments of a call with `args` (see `values`).
  pub fn value_indices(&self, args: &[Value]) -> std::iter::StepBy<std::ops::Range<usize>> {
    let (_, from, to, step) = match self.values {
      Keys::Range { first, last, step } => range(first, last, step, args.len()),
      _ => (0, 0, 0, 1),
    };
    (from..to.max(from)).step_by(step)
  }
}

/// A `Keys::Range` over `len` arguments as (before, from, to, step).
fn range(first: u8, last: i8, step: u8, len: usize) -> (usize, usize, usize, usize) {
  let to = if last < 0 { (len as isize + last as isize + 1).max(0) as usize } else { last as usize };
  (0, first as usize - 1, to.min(len), step as usize)
}

pub type KeyIndices = std::iter::Chain<std::ops::Range<usize>, std::iter::StepBy<std::ops::Range<usize>>>;

/// A number-of-keys argument.
fn count(v: &Value) -> Option<usize> {
  match v {
    Value::Bytes(b) => std::str::from_utf8(b).ok()?.trim().parse().ok(),
    Value::String(s) => s.trim().parse().ok(),
    Value::Integer(i) => usize::try_from(*i).ok(),
    _ => None,
  }
}

fn is_word(v: &Value, word: &str) -> bool {
  match v {
    Value::Bytes(b) => b.eq_ignore_ascii_case(word.as_bytes()),
    Value::String(s) => s.eq_ignore_ascii_case(word),
    _ => false,
  }
}

/// The row for a command name in any case; no allocation (it runs several
/// times for every command).
pub fn lookup(name: &str) -> Option<&'static CommandInfo> {
  lookup_bytes(name.as_bytes())
}

pub fn lookup_bytes(name: &[u8]) -> Option<&'static CommandInfo> {
  let mut slot = hash(name) & (SLOTS - 1);
  loop {
    let row = TABLE.get(usize::from(INDEX[slot]).checked_sub(1)?)?;
    if row.name.as_bytes().eq_ignore_ascii_case(name) {
      return Some(row);
    }
    slot = (slot + 1) & (SLOTS - 1);
  }
}

/// Open addressing over the rows, built at compile time: a lookup hashes
/// the name once and mostly compares one row (a binary search compared
/// eight, at 60 ns a lookup).
const SLOTS: usize = 1024;
static INDEX: [u8; SLOTS] = index();

/// FNV-1a of the lowercase name.
const fn hash(name: &[u8]) -> usize {
  let mut h: u32 = 0x811c_9dc5;
  let mut i = 0;
  while i < name.len() {
    h = (h ^ name[i].to_ascii_lowercase() as u32).wrapping_mul(0x0100_0193);
    i += 1;
  }
  h as usize
}

// Row indexes fit the index's u8 entries, and the table stays at most a quarter full.
const _: () = assert!(ROWS < 255 && ROWS * 4 <= SLOTS);

/// Slot -> row index + 1 (0: empty).
const fn index() -> [u8; SLOTS] {
  let mut index = [0u8; SLOTS];
  let mut row = 0;
  while row < ROWS {
    let mut slot = hash(ROWS_SORTED[row].name.as_bytes()) & (SLOTS - 1);
    while index[slot] != 0 {
      slot = (slot + 1) & (SLOTS - 1);
    }
    index[slot] = (row + 1) as u8;
    row += 1;
  }
  index
}

/// Every row, sorted by name.
pub fn all() -> &'static [CommandInfo] {
  &TABLE
}

/// The flag of a row, or false for a command not in the table.
pub fn has(name: &str, flag: u16) -> bool {
  lookup(name).is_some_and(|c| c.has(flag))
}

const fn c(name: &'static str, flags: u16, keys: Keys) -> CommandInfo {
  CommandInfo { name, flags, keys, block: Block::Never, memory: None, values: Keys::None, reply: ValueReply::None }
}

const fn k(first: u8, last: i8, step: u8) -> Keys {
  Keys::Range { first, last, step }
}

impl CommandInfo {
  const fn blocks(self, block: Block) -> CommandInfo {
    CommandInfo { block, ..self }
  }

  const fn memory(self, min: usize, max: usize) -> CommandInfo {
    CommandInfo { memory: Some(Arity { min, max }), ..self }
  }

  /// Its arguments from `first` to `last` every `step` are values.
  const fn values(self, first: u8, last: i8, step: u8) -> CommandInfo {
    CommandInfo { values: Keys::Range { first, last, step }, ..self }
  }

  const fn replies(self, reply: ValueReply) -> CommandInfo {
    CommandInfo { reply, ..self }
  }
}

static TABLE: [CommandInfo; ROWS] = ROWS_SORTED;

/// The number of rows: `row` is below it.
pub const ROW_COUNT: usize = ROWS;

/// A row's position in the table (0..ROW_COUNT), for per-command state kept
/// in arrays instead of maps keyed by name.
pub fn row(info: &'static CommandInfo) -> usize {
  (info as *const CommandInfo as usize - TABLE.as_ptr() as usize) / std::mem::size_of::<CommandInfo>()
}

/// Sorted by name (a test checks), for readers.
#[rustfmt::skip]
const ROWS_SORTED: [CommandInfo; ROWS] = [
  c("acl", 0, Keys::None),
  c("append", WRITE | METHOD, k(1, 1, 1)).memory(2, 2),
  c("auth", STATEFUL, Keys::None),
  c("bgsave", 0, Keys::None),
  c("bitcount", READ | METHOD, k(1, 1, 1)),
  c("bitop", WRITE, k(2, -1, 1)),
  c("bitpos", READ, k(1, 1, 1)),
  c("blmove", WRITE | METHOD, k(1, 2, 1)).blocks(Block::LastSeconds).replies(ValueReply::All),
  c("blmpop", WRITE | METHOD, Keys::NumKeys { at: 2, before: 0 }).blocks(Block::FirstSeconds).replies(ValueReply::Odd),
  c("blpop", WRITE | METHOD, k(1, -2, 1)).blocks(Block::LastSeconds).replies(ValueReply::Odd),
  c("brpop", WRITE | METHOD, k(1, -2, 1)).blocks(Block::LastSeconds).replies(ValueReply::Odd),
  c("brpoplpush", WRITE | METHOD, k(1, 2, 1)).blocks(Block::LastSeconds).replies(ValueReply::All),
  c("bzmpop", WRITE | METHOD, Keys::NumKeys { at: 2, before: 0 }).blocks(Block::FirstSeconds),
  c("bzpopmax", WRITE | METHOD, k(1, -2, 1)).blocks(Block::LastSeconds),
  c("bzpopmin", WRITE | METHOD, k(1, -2, 1)).blocks(Block::LastSeconds),
  c("client", STATEFUL | METHOD, Keys::None),
  c("cluster", 0, Keys::None),
  c("command", 0, Keys::None),
  c("config", 0, Keys::None),
  c("copy", WRITE, k(1, 2, 1)),
  c("dbsize", READ, Keys::None).memory(0, 0),
  c("debug", 0, Keys::None),
  c("decr", WRITE | METHOD, k(1, 1, 1)).memory(1, 1),
  c("decrby", WRITE | METHOD, k(1, 1, 1)).memory(2, 2),
  c("del", WRITE | IDEMPOTENT | METHOD, k(1, -1, 1)).memory(1, N),
  c("discard", STATEFUL, Keys::None),
  c("dump", READ | METHOD, k(1, 1, 1)),
  c("echo", READ, Keys::None).memory(1, 1),
  c("eval", WRITE | SCRIPT | METHOD, Keys::NumKeys { at: 2, before: 0 }),
  c("eval_ro", SCRIPT, Keys::NumKeys { at: 2, before: 0 }),
  c("evalsha", WRITE | SCRIPT | METHOD, Keys::NumKeys { at: 2, before: 0 }),
  c("evalsha_ro", SCRIPT, Keys::NumKeys { at: 2, before: 0 }),
  c("exec", STATEFUL, Keys::None),
  c("exists", READ | METHOD, k(1, -1, 1)).memory(1, N),
  c("expire", WRITE | IDEMPOTENT | METHOD, k(1, 1, 1)).memory(2, 3),
  c("expireat", WRITE | METHOD, k(1, 1, 1)).memory(2, 3),
  c("expiretime", READ, k(1, 1, 1)),
  c("fcall", WRITE | SCRIPT, Keys::NumKeys { at: 2, before: 0 }),
  c("fcall_ro", SCRIPT, Keys::NumKeys { at: 2, before: 0 }),
  c("flushall", WRITE | ANY_KEY, Keys::None).memory(0, 1),
  c("flushdb", WRITE | ANY_KEY, Keys::None).memory(0, 1),
  c("function", 0, Keys::None),
  c("geodist", READ, k(1, 1, 1)),
  c("geohash", READ, k(1, 1, 1)),
  c("geopos", READ, k(1, 1, 1)),
  c("geosearch", READ, k(1, 1, 1)),
  c("get", READ | METHOD, k(1, 1, 1)).memory(1, 1).replies(ValueReply::All),
  c("getbit", READ | METHOD, k(1, 1, 1)),
  c("getdel", WRITE | METHOD, k(1, 1, 1)).memory(1, 1).replies(ValueReply::All),
  c("getex", WRITE, k(1, 1, 1)).replies(ValueReply::All),
  c("getrange", READ | METHOD, k(1, 1, 1)),
  c("getset", WRITE | METHOD, k(1, 1, 1)).memory(2, 2).values(2, 2, 1).replies(ValueReply::All),
  c("hdel", WRITE | IDEMPOTENT | METHOD, k(1, 1, 1)).memory(2, N),
  c("hello", STATEFUL, Keys::None),
  c("hexists", READ | METHOD, k(1, 1, 1)).memory(2, 2),
  c("hget", READ | METHOD, k(1, 1, 1)).memory(2, 2).replies(ValueReply::All),
  c("hgetall", READ | METHOD, k(1, 1, 1)).memory(1, 1).replies(ValueReply::Odd),
  c("hincrby", WRITE | METHOD, k(1, 1, 1)).memory(3, 3),
  c("hincrbyfloat", WRITE | METHOD, k(1, 1, 1)),
  c("hkeys", READ | METHOD, k(1, 1, 1)).memory(1, 1),
  c("hlen", READ | METHOD, k(1, 1, 1)).memory(1, 1),
  c("hmget", READ | METHOD, k(1, 1, 1)).memory(2, N).replies(ValueReply::All),
  c("hmset", WRITE | IDEMPOTENT | METHOD, k(1, 1, 1)).memory(3, N).values(3, -1, 2),
  c("hrandfield", READ, k(1, 1, 1)),
  c("hscan", READ | METHOD, k(1, 1, 1)).replies(ValueReply::ScanPairs),
  c("hset", WRITE | IDEMPOTENT | METHOD, k(1, 1, 1)).memory(3, N).values(3, -1, 2),
  c("hsetnx", WRITE | IDEMPOTENT | METHOD, k(1, 1, 1)).memory(3, 3).values(3, 3, 1),
  c("hstrlen", READ | METHOD, k(1, 1, 1)),
  c("hvals", READ | METHOD, k(1, 1, 1)).memory(1, 1).replies(ValueReply::All),
  c("incr", WRITE | METHOD, k(1, 1, 1)).memory(1, 1),
  c("incrby", WRITE | METHOD, k(1, 1, 1)).memory(2, 2),
  c("incrbyfloat", WRITE | METHOD, k(1, 1, 1)).memory(2, 2),
  c("info", READ | METHOD, Keys::None).memory(0, N),
  c("keys", READ, Keys::None).memory(1, 1),
  c("lastsave", 0, Keys::None),
  c("latency", 0, Keys::None),
  c("lindex", READ | METHOD, k(1, 1, 1)).memory(2, 2).replies(ValueReply::All),
  c("linsert", WRITE | METHOD, k(1, 1, 1)).values(3, 4, 1),
  c("llen", READ | METHOD, k(1, 1, 1)).memory(1, 1),
  c("lmove", WRITE, k(1, 2, 1)).replies(ValueReply::All),
  c("lmpop", WRITE, Keys::NumKeys { at: 1, before: 0 }).replies(ValueReply::Odd),
  c("lpop", WRITE | METHOD, k(1, 1, 1)).memory(1, 2).replies(ValueReply::All),
  c("lpos", READ | METHOD, k(1, 1, 1)).values(2, 2, 1),
  c("lpush", WRITE | METHOD, k(1, 1, 1)).memory(2, N).values(2, -1, 1),
  c("lpushx", WRITE | METHOD, k(1, 1, 1)).values(2, -1, 1),
  c("lrange", READ | METHOD, k(1, 1, 1)).memory(3, 3).replies(ValueReply::All),
  c("lrem", WRITE | METHOD, k(1, 1, 1)).memory(3, 3).values(3, 3, 1),
  c("lset", WRITE | METHOD, k(1, 1, 1)).values(3, 3, 1),
  c("ltrim", WRITE | IDEMPOTENT | METHOD, k(1, 1, 1)).memory(3, 3),
  c("mget", READ | METHOD, k(1, -1, 1)).memory(1, N).replies(ValueReply::All),
  c("migrate", WRITE | ANY_KEY, k(3, 3, 1)),
  c("monitor", STATEFUL, Keys::None),
  c("move", WRITE | ANY_KEY, k(1, 1, 1)),
  c("mset", WRITE | IDEMPOTENT | METHOD, k(1, -1, 2)).memory(2, N).values(2, -1, 2),
  c("msetnx", WRITE, k(1, -1, 2)).values(2, -1, 2),
  c("multi", STATEFUL, Keys::None),
  c("object", READ | METHOD, k(2, 2, 1)),
  c("persist", WRITE | IDEMPOTENT | METHOD, k(1, 1, 1)).memory(1, 1),
  c("pexpire", WRITE | IDEMPOTENT | METHOD, k(1, 1, 1)).memory(2, 3),
  c("pexpireat", WRITE | METHOD, k(1, 1, 1)).memory(2, 3),
  c("pexpiretime", READ, k(1, 1, 1)),
  c("pfadd", WRITE | METHOD, k(1, 1, 1)),
  c("pfcount", READ | METHOD, k(1, -1, 1)),
  c("ping", READ | METHOD, Keys::None).memory(0, 1),
  c("psetex", WRITE | IDEMPOTENT | METHOD, k(1, 1, 1)).memory(3, 3).values(3, 3, 1),
  c("psubscribe", STATEFUL | PUBSUB, Keys::None),
  c("psync", STATEFUL, Keys::None),
  c("pttl", READ | METHOD, k(1, 1, 1)).memory(1, 1),
  c("publish", PUBSUB | METHOD, Keys::None).memory(2, 2),
  c("pubsub", PUBSUB, Keys::None),
  c("punsubscribe", STATEFUL | PUBSUB, Keys::None),
  c("quit", STATEFUL, Keys::None),
  c("randomkey", READ, Keys::None),
  c("readonly", 0, Keys::None),
  c("readwrite", 0, Keys::None),
  c("rename", WRITE | METHOD, k(1, 2, 1)),
  c("renamenx", WRITE | METHOD, k(1, 2, 1)),
  c("reset", STATEFUL, Keys::None),
  c("restore", WRITE | ANY_KEY, k(1, 1, 1)),
  c("rpop", WRITE | METHOD, k(1, 1, 1)).memory(1, 2).replies(ValueReply::All),
  c("rpoplpush", WRITE, k(1, 2, 1)).replies(ValueReply::All),
  c("rpush", WRITE | METHOD, k(1, 1, 1)).memory(2, N).values(2, -1, 1),
  c("rpushx", WRITE | METHOD, k(1, 1, 1)).values(2, -1, 1),
  c("sadd", WRITE | IDEMPOTENT | METHOD, k(1, 1, 1)).memory(2, N),
  c("save", 0, Keys::None),
  c("scan", READ | METHOD, Keys::None).memory(1, N),
  c("scard", READ | METHOD, k(1, 1, 1)).memory(1, 1),
  c("script", 0, Keys::None),
  c("sdiff", READ | METHOD, k(1, -1, 1)),
  c("sdiffstore", WRITE, k(1, -1, 1)),
  c("select", STATEFUL | ANY_KEY, Keys::None),
  c("set", WRITE | IDEMPOTENT | METHOD, k(1, 1, 1)).memory(2, N).values(2, 2, 1).replies(ValueReply::All),
  c("setbit", WRITE | METHOD, k(1, 1, 1)),
  c("setex", WRITE | IDEMPOTENT | METHOD, k(1, 1, 1)).memory(3, 3).values(3, 3, 1),
  c("setnx", WRITE | METHOD, k(1, 1, 1)).memory(2, 2).values(2, 2, 1),
  c("setrange", WRITE | METHOD, k(1, 1, 1)),
  c("shutdown", STATEFUL, Keys::None),
  c("sinter", READ | METHOD, k(1, -1, 1)),
  c("sintercard", READ, Keys::NumKeys { at: 1, before: 0 }),
  c("sinterstore", WRITE, k(1, -1, 1)),
  c("sismember", READ | METHOD, k(1, 1, 1)).memory(2, 2),
  c("slowlog", 0, Keys::None),
  c("smembers", READ | METHOD, k(1, 1, 1)).memory(1, 1),
  c("smismember", READ | METHOD, k(1, 1, 1)),
  c("smove", WRITE, k(1, 2, 1)),
  c("spop", WRITE | METHOD, k(1, 1, 1)),
  c("spublish", PUBSUB, k(1, 1, 1)),
  c("srandmember", READ | METHOD, k(1, 1, 1)),
  c("srem", WRITE | IDEMPOTENT | METHOD, k(1, 1, 1)).memory(2, N),
  c("sscan", READ | METHOD, k(1, 1, 1)),
  c("ssubscribe", STATEFUL | PUBSUB, k(1, -1, 1)),
  c("strlen", READ | METHOD, k(1, 1, 1)).memory(1, 1),
  c("subscribe", STATEFUL | PUBSUB, Keys::None),
  c("substr", READ, k(1, 1, 1)),
  c("sunion", READ | METHOD, k(1, -1, 1)),
  c("sunionstore", WRITE, k(1, -1, 1)),
  c("sunsubscribe", STATEFUL | PUBSUB, k(1, -1, 1)),
  c("swapdb", WRITE | ANY_KEY, Keys::None),
  c("sync", STATEFUL, Keys::None),
  c("time", READ, Keys::None).memory(0, 0),
  c("touch", WRITE | METHOD, k(1, -1, 1)),
  c("ttl", READ | METHOD, k(1, 1, 1)).memory(1, 1),
  c("type", READ | METHOD, k(1, 1, 1)).memory(1, 1),
  c("unlink", WRITE | IDEMPOTENT | METHOD, k(1, -1, 1)).memory(1, N),
  c("unsubscribe", STATEFUL | PUBSUB, Keys::None),
  c("unwatch", STATEFUL, Keys::None),
  c("wait", 0, Keys::None).blocks(Block::LastMillis),
  c("waitaof", 0, Keys::None).blocks(Block::LastMillis),
  c("watch", STATEFUL | METHOD, k(1, -1, 1)),
  c("xadd", WRITE | METHOD, k(1, 1, 1)),
  c("xdel", WRITE | METHOD, k(1, 1, 1)),
  c("xlen", READ | METHOD, k(1, 1, 1)),
  c("xrange", READ | METHOD, k(1, 1, 1)),
  c("xread", METHOD, Keys::Streams).blocks(Block::BlockOption),
  c("xreadgroup", WRITE | METHOD, Keys::Streams).blocks(Block::BlockOption),
  c("xrevrange", READ | METHOD, k(1, 1, 1)),
  c("xtrim", WRITE | METHOD, k(1, 1, 1)),
  c("zadd", WRITE | METHOD, k(1, 1, 1)).memory(3, N),
  c("zcard", READ | METHOD, k(1, 1, 1)).memory(1, 1),
  c("zcount", READ | METHOD, k(1, 1, 1)),
  c("zdiffstore", WRITE, Keys::NumKeys { at: 2, before: 1 }),
  c("zincrby", WRITE | METHOD, k(1, 1, 1)).memory(3, 3),
  c("zinterstore", WRITE, Keys::NumKeys { at: 2, before: 1 }),
  c("zlexcount", READ, k(1, 1, 1)),
  c("zmscore", READ | METHOD, k(1, 1, 1)),
  c("zpopmax", WRITE | METHOD, k(1, 1, 1)),
  c("zpopmin", WRITE | METHOD, k(1, 1, 1)),
  c("zrandmember", READ, k(1, 1, 1)),
  c("zrange", READ | METHOD, k(1, 1, 1)).memory(3, N),
  c("zrangebylex", READ, k(1, 1, 1)),
  c("zrangebyscore", READ | METHOD, k(1, 1, 1)),
  c("zrank", READ | METHOD, k(1, 1, 1)),
  c("zrem", WRITE | IDEMPOTENT | METHOD, k(1, 1, 1)).memory(2, N),
  c("zremrangebyrank", WRITE | METHOD, k(1, 1, 1)),
  c("zremrangebyscore", WRITE | METHOD, k(1, 1, 1)),
  c("zrevrange", READ | METHOD, k(1, 1, 1)).memory(3, 4),
  c("zrevrangebylex", READ, k(1, 1, 1)),
  c("zrevrangebyscore", READ | METHOD, k(1, 1, 1)),
  c("zrevrank", READ | METHOD, k(1, 1, 1)),
  c("zscan", READ | METHOD, k(1, 1, 1)),
  c("zscore", READ | METHOD, k(1, 1, 1)).memory(2, 2),
  c("zunionstore", WRITE, Keys::NumKeys { at: 2, before: 1 }),
];

const ROWS: usize = 202;

#[cfg(test)]
mod tests {
  use std::collections::BTreeSet;

  use super::*;

  fn names(pred: impl Fn(&CommandInfo) -> bool) -> BTreeSet<String> {
    TABLE.iter().filter(|c| pred(c)).map(|c| c.name.to_string()).collect()
  }

  fn set(list: &[&str]) -> BTreeSet<String> {
    list.iter().map(|n| n.to_ascii_lowercase()).collect()
  }

  #[test]
  fn each_row_knows_its_position() {
    for (at, info) in TABLE.iter().enumerate() {
      assert_eq!(row(info), at);
    }
    assert!(lookup("GET").map(row).is_some_and(|r| r < ROW_COUNT));
  }

  #[test]
  fn rows_are_sorted_lowercase_and_found_in_any_case() {
    for w in TABLE.windows(2) {
      assert!(w[0].name < w[1].name, "{} before {}", w[0].name, w[1].name);
    }
    for row in &TABLE {
      assert_eq!(row.name, row.name.to_ascii_lowercase());
      assert!(std::ptr::eq(lookup(row.name).unwrap(), row));
      assert!(std::ptr::eq(lookup(&row.name.to_ascii_uppercase()).unwrap(), row));
      assert!(!(row.has(READ) && row.has(WRITE)), "{} both reads and writes", row.name);
      if let Keys::Range { first, step, .. } = row.keys {
        assert!(first >= 1 && step >= 1, "{}", row.name);
      }
    }
    assert_eq!(lookup("GeT").map(|c| c.name), Some("get"));
    for missing in ["", "ge", "gets", "getx", "zzz", "get\0", "évalsha"] {
      assert!(lookup(missing).is_none(), "{missing:?}");
    }
  }

  // The lists the table replaced, as they were (issue 18): the table must
  // say what each of them said. Deliberate changes are named.

  /// src/core/fallback.rs READS: never journalled, not forgotten.
  const OLD_FALLBACK_READS: [&str; 44] = [
    "get",
    "mget",
    "strlen",
    "getrange",
    "exists",
    "ttl",
    "pttl",
    "type",
    "hget",
    "hgetall",
    "hmget",
    "hlen",
    "hexists",
    "hkeys",
    "hvals",
    "hstrlen",
    "lrange",
    "llen",
    "lindex",
    "smembers",
    "sismember",
    "smismember",
    "scard",
    "srandmember",
    "zrange",
    "zrevrange",
    "zscore",
    "zcard",
    "zrank",
    "zrevrank",
    "zcount",
    "zrangebyscore",
    "zrevrangebyscore",
    "scan",
    "sscan",
    "hscan",
    "zscan",
    "keys",
    "ping",
    "echo",
    "dbsize",
    "time",
    "info",
    "randomkey",
  ];
  /// src/core/topology/mod.rs READS: safe on a replica.
  const OLD_REPLICA_READS: [&str; 63] = [
    "GET",
    "MGET",
    "GETRANGE",
    "STRLEN",
    "EXISTS",
    "TTL",
    "PTTL",
    "EXPIRETIME",
    "PEXPIRETIME",
    "TYPE",
    "DUMP",
    "HGET",
    "HGETALL",
    "HMGET",
    "HKEYS",
    "HVALS",
    "HLEN",
    "HEXISTS",
    "HSTRLEN",
    "HSCAN",
    "HRANDFIELD",
    "LRANGE",
    "LLEN",
    "LINDEX",
    "LPOS",
    "SMEMBERS",
    "SISMEMBER",
    "SMISMEMBER",
    "SCARD",
    "SRANDMEMBER",
    "SSCAN",
    "SINTER",
    "SUNION",
    "SDIFF",
    "SINTERCARD",
    "ZRANGE",
    "ZREVRANGE",
    "ZRANGEBYSCORE",
    "ZREVRANGEBYSCORE",
    "ZRANGEBYLEX",
    "ZREVRANGEBYLEX",
    "ZSCORE",
    "ZMSCORE",
    "ZRANK",
    "ZREVRANK",
    "ZCARD",
    "ZCOUNT",
    "ZLEXCOUNT",
    "ZSCAN",
    "ZRANDMEMBER",
    "GETBIT",
    "BITCOUNT",
    "BITPOS",
    "PFCOUNT",
    "GEOPOS",
    "GEODIST",
    "GEOHASH",
    "GEOSEARCH",
    "XRANGE",
    "XREVRANGE",
    "XLEN",
    "OBJECT",
    "SUBSTR",
  ];
  /// src/core/resilience.rs IDEMPOTENT.
  const OLD_IDEMPOTENT: [&str; 17] = [
    "set", "setex", "psetex", "mset", "del", "unlink", "hset", "hmset", "hdel", "expire", "pexpire", "persist", "sadd",
    "srem", "zrem", "ltrim", "hsetnx",
  ];
  /// src/core/lane.rs STATEFUL (`carries`).
  const OLD_STATEFUL: [&str; 20] = [
    "select",
    "auth",
    "hello",
    "quit",
    "reset",
    "client",
    "watch",
    "unwatch",
    "multi",
    "exec",
    "discard",
    "subscribe",
    "psubscribe",
    "ssubscribe",
    "unsubscribe",
    "punsubscribe",
    "monitor",
    "sync",
    "psync",
    "shutdown",
  ];
  /// src/core/topology/cluster_lanes.rs SERVER_WIDE, and the names command.rs
  /// sent to any node: keyless.
  const OLD_KEYLESS: [&str; 25] = [
    "flushall",
    "flushdb",
    "dbsize",
    "keys",
    "scan",
    "randomkey",
    "wait",
    "cluster",
    "config",
    "debug",
    "script",
    "function",
    "info",
    "lastsave",
    "save",
    "bgsave",
    "slowlog",
    "latency",
    "acl",
    "command",
    "readonly",
    "readwrite",
    "publish",
    "ping",
    "time",
  ];
  /// src/binding/dispatch.rs `is_script`.
  const OLD_SCRIPTS: [&str; 6] = ["evalsha", "eval", "fcall", "evalsha_ro", "eval_ro", "fcall_ro"];
  /// command.rs `for_each_written_key`: may change anything.
  const OLD_ANY_KEY: [&str; 7] = ["flushdb", "flushall", "swapdb", "select", "move", "restore", "migrate"];
  /// command.rs STATIC_NAMES: borrowed, not copied.
  const OLD_STATIC_NAMES: [&str; 24] = [
    "get", "set", "mget", "mset", "del", "exists", "expire", "pexpire", "ttl", "pttl", "incr", "incrby", "decr",
    "hget", "hset", "hgetall", "hdel", "lpush", "rpush", "lpop", "rpop", "sadd", "evalsha", "eval",
  ];
  /// src/core/memory.rs COMMANDS (name, min, max arguments).
  #[rustfmt::skip]
  const OLD_MEMORY: [(&str, usize, usize); 70] = [
    ("PING", 0, 1), ("ECHO", 1, 1), ("GET", 1, 1), ("SET", 2, N), ("GETDEL", 1, 1), ("GETSET", 2, 2),
    ("SETNX", 2, 2), ("SETEX", 3, 3), ("PSETEX", 3, 3), ("MGET", 1, N), ("MSET", 2, N), ("DEL", 1, N),
    ("UNLINK", 1, N), ("EXISTS", 1, N), ("EXPIRE", 2, 3), ("PEXPIRE", 2, 3), ("EXPIREAT", 2, 3),
    ("PEXPIREAT", 2, 3), ("TTL", 1, 1), ("PTTL", 1, 1), ("PERSIST", 1, 1), ("TYPE", 1, 1), ("INCR", 1, 1),
    ("INCRBY", 2, 2), ("DECR", 1, 1), ("DECRBY", 2, 2), ("INCRBYFLOAT", 2, 2), ("APPEND", 2, 2),
    ("STRLEN", 1, 1), ("HSET", 3, N), ("HMSET", 3, N), ("HSETNX", 3, 3), ("HGET", 2, 2), ("HMGET", 2, N),
    ("HGETALL", 1, 1), ("HDEL", 2, N), ("HEXISTS", 2, 2), ("HINCRBY", 3, 3), ("HKEYS", 1, 1), ("HVALS", 1, 1),
    ("HLEN", 1, 1), ("LPUSH", 2, N), ("RPUSH", 2, N), ("LPOP", 1, 2), ("RPOP", 1, 2), ("LRANGE", 3, 3),
    ("LTRIM", 3, 3), ("LLEN", 1, 1), ("LINDEX", 2, 2), ("LREM", 3, 3), ("SADD", 2, N), ("SREM", 2, N),
    ("SMEMBERS", 1, 1), ("SISMEMBER", 2, 2), ("SCARD", 1, 1), ("ZADD", 3, N), ("ZRANGE", 3, N),
    ("ZREVRANGE", 3, 4), ("ZSCORE", 2, 2), ("ZREM", 2, N), ("ZCARD", 1, 1), ("ZINCRBY", 3, 3), ("KEYS", 1, 1),
    ("SCAN", 1, N), ("DBSIZE", 0, 0), ("FLUSHALL", 0, 1), ("FLUSHDB", 0, 1), ("PUBLISH", 2, 2), ("INFO", 0, N),
    ("TIME", 0, 0),
  ];
  /// lib/commands.js KEYED, MULTI_KEY, BLOCKING, and the methods lib/multi.js added.
  const OLD_JS_KEYED: [&str; 91] = [
    "get",
    "getdel",
    "getset",
    "append",
    "strlen",
    "getrange",
    "setrange",
    "incr",
    "incrby",
    "incrbyfloat",
    "decr",
    "decrby",
    "expire",
    "pexpire",
    "expireat",
    "pexpireat",
    "ttl",
    "pttl",
    "persist",
    "type",
    "rename",
    "renamenx",
    "setnx",
    "setex",
    "psetex",
    "hget",
    "hdel",
    "hexists",
    "hincrby",
    "hincrbyfloat",
    "hkeys",
    "hvals",
    "hlen",
    "hmget",
    "hsetnx",
    "hstrlen",
    "lpush",
    "rpush",
    "lpushx",
    "rpushx",
    "lpop",
    "rpop",
    "lrange",
    "ltrim",
    "llen",
    "lindex",
    "lset",
    "lrem",
    "linsert",
    "sadd",
    "srem",
    "smembers",
    "sismember",
    "smismember",
    "scard",
    "spop",
    "srandmember",
    "zrange",
    "zrevrange",
    "zscore",
    "zrem",
    "zcard",
    "zincrby",
    "zrank",
    "zrevrank",
    "zcount",
    "zrangebyscore",
    "zrevrangebyscore",
    "zremrangebyrank",
    "zremrangebyscore",
    "zpopmin",
    "zpopmax",
    "zmscore",
    "xadd",
    "xlen",
    "xrange",
    "xrevrange",
    "xdel",
    "xtrim",
    "pfadd",
    "pfcount",
    "getbit",
    "setbit",
    "bitcount",
    "dump",
    "touch",
    "object",
    "lpos",
    "hscan",
    "sscan",
    "zscan",
  ];
  const OLD_JS_CUSTOM: [&str; 13] =
    ["set", "mset", "hset", "hmset", "hgetall", "zadd", "publish", "eval", "evalsha", "ping", "info", "client", "scan"];
  const OLD_JS_MULTI_KEY: [&str; 8] = ["del", "unlink", "exists", "mget", "sinter", "sunion", "sdiff", "watch"];
  const OLD_JS_BLOCKING: [&str; 10] =
    ["blpop", "brpop", "brpoplpush", "blmove", "blmpop", "bzpopmin", "bzpopmax", "bzmpop", "xread", "xreadgroup"];

  #[test]
  fn the_table_says_what_the_old_lists_said() {
    let union = |a: &[&str], b: &[&str]| set(a).union(&set(b)).cloned().collect::<BTreeSet<_>>();
    // One notion of a read: the fallback's list and the replicas' list
    // disagreed only on commands the other did not name.
    assert_eq!(names(|c| c.has(READ)), union(&OLD_FALLBACK_READS, &OLD_REPLICA_READS));
    assert_eq!(names(CommandInfo::replica_safe), set(&OLD_REPLICA_READS));
    assert_eq!(names(|c| c.has(IDEMPOTENT)), set(&OLD_IDEMPOTENT));
    assert!(OLD_IDEMPOTENT.iter().all(|n| has(n, WRITE)));
    // SUNSUBSCRIBE joins its siblings (it was missing).
    assert_eq!(names(|c| c.has(STATEFUL)), union(&OLD_STATEFUL, &["sunsubscribe"]));
    assert_eq!(names(|c| c.has(SCRIPT)), set(&OLD_SCRIPTS));
    assert_eq!(names(|c| c.has(ANY_KEY)), set(&OLD_ANY_KEY));
    for n in OLD_KEYLESS {
      assert_eq!(lookup(n).map(|c| c.keys), Some(Keys::None), "{n}");
    }
    for n in OLD_STATIC_NAMES {
      assert!(lookup(n).is_some(), "{n}");
    }
    let memory: BTreeSet<_> =
      TABLE.iter().filter_map(|c| c.memory.map(|a| (c.name.to_ascii_uppercase(), a.min, a.max))).collect();
    let old: BTreeSet<_> = OLD_MEMORY.iter().map(|&(n, min, max)| (n.to_string(), min, max)).collect();
    assert_eq!(memory, old);
    let blocks = |b: Block| names(move |c| c.block == b);
    assert_eq!(blocks(Block::LastSeconds), set(&["blpop", "brpop", "brpoplpush", "blmove", "bzpopmin", "bzpopmax"]));
    assert_eq!(blocks(Block::FirstSeconds), set(&["blmpop", "bzmpop"]));
    assert_eq!(blocks(Block::BlockOption), set(&["xread", "xreadgroup"]));
    assert_eq!(blocks(Block::LastMillis), set(&["wait", "waitaof"]));
    // The facade's methods: TOUCH and PFCOUNT take any number of keys, as DEL does.
    let method = |m: Method| names(move |c| c.method() == Some(m));
    let moved = ["touch", "pfcount"];
    let keyed: BTreeSet<_> =
      union(&OLD_JS_KEYED, &OLD_JS_CUSTOM).into_iter().filter(|n| !moved.contains(&&**n)).collect();
    assert_eq!(method(Method::Keyed), keyed);
    assert_eq!(method(Method::Keys), union(&OLD_JS_MULTI_KEY, &moved));
    assert_eq!(method(Method::Blocking), set(&OLD_JS_BLOCKING));
  }

  #[test]
  fn key_positions() {
    let keys = |name: &str, args: &[&str]| {
      let args: Vec<Value> = args.iter().map(|a| Value::from(*a)).collect();
      lookup(name).unwrap().key_indices(&args).map(|i| i.collect::<Vec<_>>())
    };
    assert_eq!(keys("get", &["k"]), Some(vec![0]));
    assert_eq!(keys("get", &[]), Some(vec![]));
    assert_eq!(keys("del", &["a", "b", "c"]), Some(vec![0, 1, 2]));
    assert_eq!(keys("mset", &["a", "1", "b", "2"]), Some(vec![0, 2]));
    assert_eq!(keys("blpop", &["a", "b", "0"]), Some(vec![0, 1]));
    assert_eq!(keys("blmove", &["a", "b", "LEFT", "RIGHT", "0"]), Some(vec![0, 1]));
    assert_eq!(keys("eval", &["return 1", "2", "a", "b", "x"]), Some(vec![2, 3]));
    assert_eq!(keys("evalsha", &["sha", "0", "x"]), Some(vec![]));
    assert_eq!(keys("eval", &["return 1", "many"]), None);
    assert_eq!(keys("eval", &["return 1", "5", "a"]), Some(vec![2]), "no more keys than arguments");
    assert_eq!(keys("zunionstore", &["d", "2", "a", "b", "WEIGHTS", "1", "2"]), Some(vec![0, 2, 3]));
    assert_eq!(keys("blmpop", &["0", "2", "a", "b", "LEFT"]), Some(vec![2, 3]));
    assert_eq!(keys("lmpop", &["2", "a", "b", "LEFT", "COUNT", "3"]), Some(vec![1, 2]));
    assert_eq!(keys("xread", &["COUNT", "1", "STREAMS", "s", "t", "0", "0"]), Some(vec![3, 4]));
    assert_eq!(keys("xreadgroup", &["GROUP", "g", "c", "streams", "s", ">"]), Some(vec![4]));
    assert_eq!(keys("object", &["ENCODING", "k"]), Some(vec![1]));
    assert_eq!(keys("bitop", &["AND", "d", "a", "b"]), Some(vec![1, 2, 3]));
    assert_eq!(keys("ping", &["hello"]), Some(vec![]));
    assert_eq!(lookup("get").and_then(CommandInfo::method), Some(Method::Keyed));
  }

  #[test]
  fn value_positions_and_replies() {
    let values = |name: &str, args: &[&str]| {
      let args: Vec<Value> = args.iter().map(|a| Value::from(*a)).collect();
      lookup(name).unwrap().value_indices(&args).collect::<Vec<_>>()
    };
    assert_eq!(values("set", &["k", "v", "EX", "10", "GET"]), vec![1]);
    assert_eq!(values("setex", &["k", "10", "v"]), vec![2]);
    assert_eq!(values("mset", &["a", "1", "b", "2"]), vec![1, 3]);
    assert_eq!(values("hset", &["h", "f", "v", "g", "w"]), vec![2, 4]);
    assert_eq!(values("hsetnx", &["h", "f", "v"]), vec![2]);
    assert_eq!(values("rpush", &["l", "a", "b"]), vec![1, 2]);
    assert_eq!(values("linsert", &["l", "BEFORE", "pivot", "v"]), vec![2, 3]);
    assert_eq!(values("lset", &["l", "0", "v"]), vec![2]);
    assert_eq!(values("set", &["k"]), Vec::<usize>::new(), "no more values than arguments");
    // Commands whose value is not a whole stored value are never compressed.
    for name in ["append", "setrange", "incr", "sadd", "zadd", "xadd", "publish", "eval", "hincrby", "getrange"] {
      assert_eq!(lookup(name).unwrap().values, Keys::None, "{name}");
    }
    let reply = |name: &str| lookup(name).unwrap().reply;
    assert_eq!(names(|c| c.reply == ValueReply::Odd), set(&["hgetall", "blpop", "brpop", "blmpop", "lmpop"]));
    assert_eq!(reply("hscan"), ValueReply::ScanPairs);
    for name in
      ["get", "mget", "getdel", "getex", "getset", "set", "hget", "hmget", "hvals", "lrange", "lindex", "lpop"]
    {
      assert_eq!(reply(name), ValueReply::All, "{name}");
    }
    for name in ["strlen", "getrange", "hkeys", "smembers", "zrange", "eval"] {
      assert_eq!(reply(name), ValueReply::None, "{name}");
    }
    // Every command that writes values has a read that decodes them.
    assert!(TABLE.iter().filter(|c| c.values != Keys::None).all(|c| c.has(WRITE) || c.name == "lpos"));
  }
}
