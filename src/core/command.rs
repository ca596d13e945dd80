//! One Redis command as the core receives it from any caller.

use std::borrow::Cow;

use bytes::Bytes;
use fred::prelude::Value;
use fred::types::{ClusterHash, CustomCommand};

#[derive(Clone, Debug)]
pub struct Command {
  /// As the caller spelled it (Redis is case-insensitive); the common
  /// names are static (`Command::name_from`), not one allocation each.
  pub name: Cow<'static, str>,
  pub args: Vec<Value>,
}

/// An argument as it arrives from JS: the binding builds these without
/// re-encoding (strings stay UTF-8 bytes, Buffers are copied once).
pub fn bytes_arg(b: Bytes) -> Value {
  Value::Bytes(b)
}

/// The names JS sends most, as lib/ spells them: one of these costs no
/// allocation per command.
const STATIC_NAMES: [&str; 24] = [
  "get", "set", "mget", "mset", "del", "exists", "expire", "pexpire", "ttl", "pttl", "incr", "incrby", "decr",
  "hget", "hset", "hgetall", "hdel", "lpush", "rpush", "lpop", "rpop", "sadd", "evalsha", "eval",
];

impl Command {
  pub fn new(name: impl Into<Cow<'static, str>>, args: Vec<Value>) -> Self {
    Command { name: name.into(), args }
  }

  /// A name read from the caller's bytes: a common one is borrowed from
  /// `STATIC_NAMES`, any other one copied (invalid UTF-8 becomes U+FFFD).
  pub fn name_from(bytes: &[u8]) -> Cow<'static, str> {
    match STATIC_NAMES.iter().find(|n| n.as_bytes() == bytes) {
      Some(n) => Cow::Borrowed(n),
      None => Cow::Owned(String::from_utf8_lossy(bytes).into_owned()),
    }
  }

  pub fn upper_name(&self) -> String {
    self.name.to_ascii_uppercase()
  }

  /// Which argument decides the cluster slot.
  fn cluster_hash(&self) -> ClusterHash {
    let n = &self.name;
    if n.eq_ignore_ascii_case("eval")
      || n.eq_ignore_ascii_case("evalsha")
      || n.eq_ignore_ascii_case("eval_ro")
      || n.eq_ignore_ascii_case("evalsha_ro")
      || n.eq_ignore_ascii_case("fcall")
    {
      // script, numkeys, key...: no key means any node.
      let numkeys = self.args.get(1).and_then(|v| match v {
        Value::Bytes(b) => std::str::from_utf8(b).ok()?.trim().parse::<u64>().ok(),
        other => other.as_u64(),
      });
      match numkeys {
        Some(0) | None => ClusterHash::Random,
        Some(_) => ClusterHash::Offset(2),
      }
    } else if n.eq_ignore_ascii_case("pubsub") {
      // A node counts only its own shard's subscribers: SHARDNUMSUB asks the channel's.
      let shard = matches!(self.args.first(), Some(Value::Bytes(b)) if b.eq_ignore_ascii_case(b"shardnumsub"))
        || matches!(self.args.first(), Some(Value::String(s)) if s.eq_ignore_ascii_case("shardnumsub"));
      if shard && self.args.len() > 1 { ClusterHash::Offset(1) } else { ClusterHash::Random }
    } else if n.eq_ignore_ascii_case("publish")
      || n.eq_ignore_ascii_case("ping")
      || n.eq_ignore_ascii_case("script")
      || n.eq_ignore_ascii_case("info")
      || n.eq_ignore_ascii_case("time")
    {
      ClusterHash::Random
    } else {
      ClusterHash::Offset(0)
    }
  }

  pub fn is_blocking(&self) -> bool {
    let n = self.name.as_bytes();
    n.len() > 1
      && (n[0] == b'b' || n[0] == b'B')
      && matches!(
        self.name.to_ascii_lowercase().as_str(),
        "blpop" | "brpop" | "brpoplpush" | "blmove" | "bzpopmin" | "bzpopmax" | "blmpop" | "bzmpop"
      )
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

  /// Calls `each` with every key a write may change; false when it may
  /// change anything (FLUSHDB, SWAPDB, ...; `each` is then not called).
  /// Over-naming is harmless: callers drop copies. No allocation: it runs
  /// for every write on the hot path.
  pub fn for_each_written_key(&self, mut each: impl FnMut(Bytes)) -> bool {
    let a = &self.args;
    let key = |v: &Value| match v {
      Value::String(s) => Some(s.inner().clone()),
      Value::Bytes(b) => Some(b.clone()),
      _ => None,
    };
    let is_any = |names: &[&str]| names.iter().any(|n| self.name.eq_ignore_ascii_case(n));
    if is_any(&["flushdb", "flushall", "swapdb", "select", "move", "restore", "migrate"]) {
      return false;
    }
    if is_any(&["eval", "evalsha", "eval_ro", "evalsha_ro", "fcall", "fcall_ro"]) {
      let n = a.get(1).and_then(key).and_then(|b| std::str::from_utf8(&b).ok()?.parse::<usize>().ok());
      let Some(n) = n else { return false };
      a.iter().skip(2).take(n).filter_map(key).for_each(each);
    } else if is_any(&["mset", "msetnx"]) {
      a.iter().step_by(2).filter_map(key).for_each(each);
    } else if is_any(&[
      // Every argument may be a key.
      "del", "unlink", "rename", "renamenx", "copy", "smove", "lmove", "rpoplpush", "sinterstore", "sunionstore",
      "sdiffstore", "zunionstore", "zinterstore", "zdiffstore", "bitop", "touch",
    ]) {
      a.iter().filter_map(key).for_each(each);
    } else if let Some(k) = a.first().and_then(key) {
      each(k);
    }
    true
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

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn blocking_and_hash() {
    let c = Command::new("blpop", vec![Value::from("q"), Value::from(0)]);
    assert!(c.is_blocking());
    let c = Command::new("get", vec![Value::from("k")]);
    assert!(!c.is_blocking());
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
    assert!(matches!(Command::name_from(b"get"), Cow::Borrowed("get")));
    assert!(matches!(Command::name_from(b"GETEX"), Cow::Owned(ref n) if n == "GETEX"));
    let e = Command::new("EVAL", vec![Value::from("return 1"), Value::from(1), Value::from("k")]);
    assert!(matches!(e.cluster_hash(), ClusterHash::Offset(2)));
    let arg = |s: &'static str| Value::Bytes(Bytes::from_static(s.as_bytes()));
    let e = Command::new("evalsha", vec![arg("abc"), arg("1"), arg("k")]);
    assert!(matches!(e.cluster_hash(), ClusterHash::Offset(2)), "numkeys given as a string");
    let p = Command::new("PUBSUB", vec![arg("SHARDNUMSUB"), arg("ch")]);
    assert_eq!(p.slot_key(), Some(&arg("ch")), "SHARDNUMSUB asks the channel's shard");
    assert!(Command::new("pubsub", vec![arg("NUMSUB"), arg("ch")]).slot_key().is_none());
  }
}
