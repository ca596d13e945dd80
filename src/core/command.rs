//! One Redis command as the core receives it from any caller.

use std::borrow::Cow;

use bytes::Bytes;
use fred::prelude::Value;
use fred::types::{ClusterHash, CustomCommand};

use crate::core::commands::{self, Block, CommandInfo};

#[derive(Clone, Debug)]
pub struct Command {
  /// As the caller spelled it (Redis is case-insensitive); a name of the
  /// command table in lowercase is static (`Command::name_from`), not one
  /// allocation each.
  pub name: Cow<'static, str>,
  pub args: Vec<Value>,
  /// Its row in the command table, looked up once: the flags are asked
  /// several times per command on the call path.
  info: Option<&'static CommandInfo>,
}

/// An argument as it arrives from JS: the binding builds these without
/// re-encoding (strings stay UTF-8 bytes, Buffers are copied once).
pub fn bytes_arg(b: Bytes) -> Value {
  Value::Bytes(b)
}

/// A command's name as the caller sent it, with its command-table row
/// (`Command::name_from`: one lookup serves both).
pub struct Name {
  pub text: Cow<'static, str>,
  info: Option<&'static CommandInfo>,
}

impl Command {
  pub fn new(name: impl Into<Cow<'static, str>>, args: Vec<Value>) -> Self {
    let name = name.into();
    let info = commands::lookup(&name);
    Command { name, args, info }
  }

  /// A name read from the caller's bytes, looked up once: a table name
  /// spelled as the table spells it is borrowed, any other one copied
  /// (invalid UTF-8 becomes U+FFFD).
  pub fn name_from(bytes: &[u8]) -> Name {
    let info = commands::lookup_bytes(bytes);
    let text = match info {
      Some(c) if c.name.as_bytes() == bytes => Cow::Borrowed(c.name),
      _ => Cow::Owned(String::from_utf8_lossy(bytes).into_owned()),
    };
    Name { text, info }
  }

  /// A command from a name `name_from` read (no second lookup).
  pub fn named(name: Name, args: Vec<Value>) -> Self {
    Command { name: name.text, args, info: name.info }
  }

  /// Its row in the command table (src/core/commands.rs).
  pub fn info(&self) -> Option<&'static CommandInfo> {
    self.info
  }

  /// A flag of its row; false for a command not in the table.
  pub fn has(&self, flag: u16) -> bool {
    self.info().is_some_and(|c| c.has(flag))
  }

  /// It changes no data: never journalled, safe to repeat.
  pub fn is_read(&self) -> bool {
    self.has(commands::READ)
  }

  /// It leaves the same data when run twice (reads and idempotent writes):
  /// after a lost connection it may be journalled (and so replayed) even if
  /// it might have run. Anything else that may have run is reported, never
  /// repeated.
  pub fn is_idempotent(&self) -> bool {
    self.info().is_some_and(|c| c.has(commands::READ) || c.has(commands::IDEMPOTENT))
  }

  pub fn upper_name(&self) -> String {
    self.name.to_ascii_uppercase()
  }

  /// Which argument decides the cluster slot: the first key; no key
  /// means any node. A command not in the table is keyed by its first
  /// argument.
  fn cluster_hash(&self) -> ClusterHash {
    if self.name.eq_ignore_ascii_case("pubsub") {
      // A node counts only its own shard's subscribers: SHARDNUMSUB asks the channel's.
      let shard = matches!(self.args.first(), Some(Value::Bytes(b)) if b.eq_ignore_ascii_case(b"shardnumsub"))
        || matches!(self.args.first(), Some(Value::String(s)) if s.eq_ignore_ascii_case("shardnumsub"));
      return if shard && self.args.len() > 1 { ClusterHash::Offset(1) } else { ClusterHash::Random };
    }
    let Some(info) = self.info() else { return ClusterHash::Offset(0) };
    match info.key_indices(&self.args).and_then(|mut keys| keys.next()) {
      Some(at) => ClusterHash::Offset(at),
      None => ClusterHash::Random,
    }
  }

  /// A command that may hold its connection until data arrives or its
  /// block time runs out (the table's `Block`): BLPOP and the other B* list
  /// and sorted-set pops, XREAD/XREADGROUP with BLOCK, WAIT and WAITAOF.
  pub fn is_blocking(&self) -> bool {
    self.block_time().is_some()
  }

  /// How long the command may block: `Some(None)` for ever (a block time
  /// of 0), `None` for a command that does not block. An unreadable block
  /// time counts as for ever: Redis will refuse it at once anyway.
  pub fn block_time(&self) -> Option<Option<std::time::Duration>> {
    use std::time::Duration;
    let block = self.info().map_or(Block::Never, |c| c.block);
    if block == Block::Never {
      return None;
    }
    let text = |v: &Value| match v {
      Value::Bytes(b) => std::str::from_utf8(b).ok().map(str::to_string),
      Value::String(s) => Some(s.to_string()),
      Value::Integer(i) => Some(i.to_string()),
      Value::Double(d) => Some(d.to_string()),
      _ => None,
    };
    let seconds = |v: Option<&Value>| {
      let s: f64 = v.and_then(text).and_then(|t| t.trim().parse().ok()).unwrap_or(0.0);
      (s.is_finite() && s > 0.0).then(|| Duration::from_secs_f64(s.min(1e9)))
    };
    let millis = |v: Option<&Value>| {
      let ms: u64 = v.and_then(text).and_then(|t| t.trim().parse().ok()).unwrap_or(0);
      (ms > 0).then(|| Duration::from_millis(ms))
    };
    match block {
      Block::Never => None,
      Block::LastSeconds => Some(seconds(self.args.last())),
      Block::FirstSeconds => Some(seconds(self.args.first())),
      Block::BlockOption => {
        let at = self.args.iter().position(|a| text(a).is_some_and(|t| t.eq_ignore_ascii_case("block")))?;
        Some(millis(self.args.get(at + 1)))
      }
      Block::LastMillis => Some(millis(self.args.last())),
    }
  }

  /// The fred command: any command, routed in a cluster by its key.
  pub fn to_custom(&self) -> CustomCommand {
    let hash = if self.args.is_empty() { ClusterHash::Random } else { self.cluster_hash() };
    CustomCommand::new(&*self.name, hash, self.is_blocking())
  }

  /// The argument that names the command's cluster slot; `None` for a
  /// keyless command (any node may run it).
  pub fn slot_key(&self) -> Option<&Value> {
    match self.cluster_hash() {
      ClusterHash::Offset(n) => self.args.get(n),
      _ => None,
    }
  }

  /// Calls `each` with every key a write may change (the table's key
  /// positions); false when it may change anything (FLUSHDB, SWAPDB, ...;
  /// `each` is then not called) or its keys cannot be told. Over-naming is
  /// harmless: callers drop copies. No allocation: it runs for every write
  /// on the hot path.
  pub fn for_each_written_key(&self, each: impl FnMut(Bytes)) -> bool {
    let a = &self.args;
    let key = |v: &Value| match v {
      Value::String(s) => Some(s.inner().clone()),
      Value::Bytes(b) => Some(b.clone()),
      _ => None,
    };
    let Some(info) = self.info() else {
      // Not in the table: its first argument is its key.
      a.first().and_then(key).into_iter().for_each(each);
      return true;
    };
    if info.has(commands::ANY_KEY) {
      return false;
    }
    let Some(keys) = info.key_indices(a) else { return false };
    keys.filter_map(|i| a.get(i).and_then(key)).for_each(each);
    true
  }

  /// The command as bytes, for the durable journal: the name, then each
  /// argument as a tag (0 bytes, 1 integer, 2 double) and its value.
  pub fn encode(&self, out: &mut Vec<u8>) {
    let put_bytes = |out: &mut Vec<u8>, b: &[u8]| {
      out.extend_from_slice(&(b.len() as u32).to_le_bytes());
      out.extend_from_slice(b);
    };
    put_bytes(out, self.name.as_bytes());
    out.extend_from_slice(&(self.args.len() as u32).to_le_bytes());
    for a in &self.args {
      match a {
        Value::Integer(i) => {
          out.push(1);
          out.extend_from_slice(&i.to_le_bytes());
        }
        Value::Double(d) => {
          out.push(2);
          out.extend_from_slice(&d.to_bits().to_le_bytes());
        }
        Value::Bytes(b) => {
          out.push(0);
          put_bytes(out, b);
        }
        Value::String(s) => {
          out.push(0);
          put_bytes(out, s.as_bytes());
        }
        // Arguments from JS are strings, Buffers and numbers only.
        other => {
          out.push(0);
          put_bytes(out, other.as_bytes().unwrap_or_default());
        }
      }
    }
  }

  /// The command `encode` wrote; `None` for anything else.
  pub fn decode(bytes: &[u8]) -> Option<Command> {
    let mut r = Reader { bytes, at: 0 };
    let name_len = r.u32()?;
    let name = Command::name_from(r.take(name_len)?);
    let argc = r.u32()?;
    let mut args = Vec::with_capacity(argc.min(1 << 16));
    for _ in 0..argc {
      args.push(match r.take(1)?[0] {
        0 => {
          let len = r.u32()?;
          Value::Bytes(Bytes::copy_from_slice(r.take(len)?))
        }
        1 => Value::Integer(i64::from_le_bytes(r.take(8)?.try_into().ok()?)),
        2 => Value::Double(f64::from_bits(u64::from_le_bytes(r.take(8)?.try_into().ok()?))),
        _ => return None,
      });
    }
    (r.at == bytes.len()).then(|| Command::named(name, args))
  }

  /// The key this command touches first, if any.
  pub fn first_key(&self) -> Option<&[u8]> {
    match self.args.first()? {
      Value::Bytes(b) => Some(b),
      Value::String(s) => Some(s.as_bytes()),
      _ => None,
    }
  }
}

/// Reads `Command::encode`'s bytes.
struct Reader<'a> {
  bytes: &'a [u8],
  at: usize,
}

impl<'a> Reader<'a> {
  fn take(&mut self, n: usize) -> Option<&'a [u8]> {
    let s = self.bytes.get(self.at..self.at.checked_add(n)?)?;
    self.at += n;
    Some(s)
  }

  fn u32(&mut self) -> Option<usize> {
    Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?) as usize)
  }
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn blocking_and_hash() {
    let c = Command::new("blpop", vec![Value::from("q"), Value::from(0)]);
    assert!(c.is_blocking());
    let c = Command::new("get", vec![Value::from("k")]);
    assert!(!c.is_blocking());
    let block = |name: &str, args: &[&str]| {
      Command::new(name.to_string(), args.iter().map(|a| Value::from(*a)).collect()).block_time()
    };
    let secs = |s: f64| Some(Some(std::time::Duration::from_secs_f64(s)));
    assert_eq!(block("BLPOP", &["a", "b", "2.5"]), secs(2.5));
    assert_eq!(block("brpoplpush", &["a", "b", "0"]), Some(None), "0 blocks for ever");
    assert_eq!(block("blmove", &["a", "b", "LEFT", "RIGHT", "1"]), secs(1.0));
    assert_eq!(block("BZMPOP", &["3", "1", "z", "MIN"]), secs(3.0));
    assert_eq!(block("xread", &["COUNT", "1", "BLOCK", "1500", "STREAMS", "s", "$"]), secs(1.5));
    assert_eq!(block("XREAD", &["STREAMS", "s", "0"]), None, "XREAD without BLOCK does not block");
    assert_eq!(block("wait", &["1", "100"]), secs(0.1));
    assert_eq!(block("lpop", &["a"]), None);
    assert_eq!(c.first_key(), Some(&b"k"[..]));
    let written = |name: &str, args: &[&str]| {
      let mut keys = Vec::new();
      let bounded = Command::new(name.to_string(), args.iter().map(|a| Value::from(*a)).collect())
        .for_each_written_key(|k| keys.push(String::from_utf8_lossy(&k).into_owned()));
      bounded.then_some(keys)
    };
    assert_eq!(written("MSET", &["a", "1", "b", "2"]), Some(vec!["a".into(), "b".into()]));
    assert_eq!(written("del", &["a", "b"]), Some(vec!["a".into(), "b".into()]));
    assert_eq!(written("EVALSHA", &["sha", "1", "k", "arg"]), Some(vec!["k".into()]));
    assert_eq!(written("hset", &["h", "f", "v"]), Some(vec!["h".into()]));
    assert_eq!(written("FLUSHDB", &[]), None);
    assert_eq!(written("eval", &["script", "x"]), None, "an unreadable numkeys may touch anything");
    assert!(matches!(Command::name_from(b"get").text, Cow::Borrowed("get")));
    let upper = Command::name_from(b"GETEX");
    assert!(matches!(upper.text, Cow::Owned(ref n) if n == "GETEX"));
    assert!(upper.info.is_some_and(|c| c.name == "getex"), "found in any case");
    assert!(Command::named(Command::name_from(b"NOSUCH"), vec![]).info().is_none());
    let e = Command::new("EVAL", vec![Value::from("return 1"), Value::from(1), Value::from("k")]);
    assert!(matches!(e.cluster_hash(), ClusterHash::Offset(2)));
    let arg = |s: &'static str| Value::Bytes(Bytes::from_static(s.as_bytes()));
    let e = Command::new("evalsha", vec![arg("abc"), arg("1"), arg("k")]);
    assert!(matches!(e.cluster_hash(), ClusterHash::Offset(2)), "numkeys given as a string");
    // The journal's encoding comes back whole; anything else does not decode.
    let c = Command::new(
      "SET",
      vec![
        arg("k"),
        Value::Bytes(Bytes::from(vec![0u8, 255, 13])),
        Value::from("PX"),
        Value::Integer(-5),
        Value::Double(1.5),
      ],
    );
    let mut bytes = Vec::new();
    c.encode(&mut bytes);
    let back = Command::decode(&bytes).map(|d| (d.name.to_string(), d.args));
    let want =
      vec![arg("k"), Value::Bytes(Bytes::from(vec![0u8, 255, 13])), arg("PX"), Value::Integer(-5), Value::Double(1.5)];
    assert_eq!(back, Some(("SET".to_string(), want)));
    assert!(Command::decode(&bytes[..bytes.len() - 1]).is_none());
    assert!(Command::decode(b"junk").is_none());
    let p = Command::new("PUBSUB", vec![arg("SHARDNUMSUB"), arg("ch")]);
    assert_eq!(p.slot_key(), Some(&arg("ch")), "SHARDNUMSUB asks the channel's shard");
    assert!(Command::new("pubsub", vec![arg("NUMSUB"), arg("ch")]).slot_key().is_none());
  }
}
