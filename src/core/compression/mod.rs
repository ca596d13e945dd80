//! Value compression (`compression: { algorithm, minBytes }`): the value
//! arguments of a batch's commands are compressed before anything else
//! sees them, and the value replies decompressed just before the batch's
//! callback, both in `Service::submit`'s pipeline. Everything between
//! (near cache, breakers, fallback store, journal, replay, every
//! transport) holds the bytes Redis holds. Which arguments and which
//! replies are values is the command table's `values` and `reply`.
//!
//! Reading always checks for the header (codec.rs), with or without the
//! option: a compressed value never reaches a caller as other bytes.

pub mod codec;

use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use fred::prelude::Value;

use crate::core::command::Command;
use crate::core::commands::ValueReply;
use crate::core::error::{Error, ErrorKind, Result};
use crate::core::reply::Reply;
pub use codec::Algorithm;

/// `minBytes` when the option does not say.
pub const DEFAULT_MIN_BYTES: u64 = 1024;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Compression {
  pub algorithm: Algorithm,
  /// Values of at least this many bytes are compressed (when that makes them smaller).
  pub min_bytes: usize,
}

/// A service's values: compressed on the way out when `compression` is
/// set, decoded on the way in always.
#[derive(Debug)]
pub struct Values {
  compression: Option<Compression>,
  /// The most bytes a header may claim (`maxValueBytes`).
  max_len: usize,
  counts: Counts,
}

/// For getStats().compression: relaxed counters, one add per value.
#[derive(Debug, Default)]
struct Counts {
  compressed: AtomicU64,
  bytes_in: AtomicU64,
  bytes_out: AtomicU64,
  decompressed: AtomicU64,
  refused: AtomicU64,
}

impl Values {
  pub fn new(compression: Option<Compression>, max_value_bytes: u64) -> Values {
    Values { compression, max_len: usize::try_from(max_value_bytes).unwrap_or(usize::MAX), counts: Counts::default() }
  }

  /// `null` without the option; else the settings and what was done.
  pub fn stats_json(&self) -> serde_json::Value {
    let Some(c) = self.compression else { return serde_json::Value::Null };
    let n = |a: &AtomicU64| a.load(Ordering::Relaxed);
    serde_json::json!({
      "algorithm": c.algorithm.name(),
      "minBytes": c.min_bytes,
      "compressed": n(&self.counts.compressed),
      "bytesIn": n(&self.counts.bytes_in),
      "bytesOut": n(&self.counts.bytes_out),
      "decompressed": n(&self.counts.decompressed),
      "refused": n(&self.counts.refused),
    })
  }

  pub fn compression(&self) -> Option<Compression> {
    self.compression
  }

  /// Compresses the value arguments of `cmds` in place.
  pub fn encode(&self, cmds: &mut [Command]) {
    let Some(c) = self.compression else { return };
    for cmd in cmds {
      let Some(info) = cmd.info() else { continue };
      for i in info.value_indices(&cmd.args) {
        let (framed, len) = match &cmd.args[i] {
          Value::Bytes(b) => (encode_value(c, b), b.len()),
          Value::String(s) => (encode_value(c, s.as_bytes()), s.len()),
          _ => (None, 0),
        };
        if let Some(framed) = framed {
          self.counts.compressed.fetch_add(1, Ordering::Relaxed);
          self.counts.bytes_in.fetch_add(len as u64, Ordering::Relaxed);
          self.counts.bytes_out.fetch_add(framed.len() as u64, Ordering::Relaxed);
          cmd.args[i] = Value::Bytes(Bytes::from(framed));
        }
      }
    }
  }

  /// Decodes the value replies of `out`, one per command of `cmds`; a
  /// value that cannot be read turns its command's result into a
  /// `Decode` error.
  pub fn decode(&self, cmds: &[Command], out: &mut [Result<Reply>]) {
    for (cmd, result) in cmds.iter().zip(out.iter_mut()) {
      self.decode_one(cmd, result);
    }
  }

  pub fn decode_one(&self, cmd: &Command, result: &mut Result<Reply>) {
    let reply = match result {
      // The common case, checked before the table is: a single plain value.
      Ok(Reply::Bytes(b)) if !codec::is_framed(b) => return,
      Ok(reply @ (Reply::Bytes(_) | Reply::Array(_) | Reply::Map(_))) => reply,
      _ => return,
    };
    let shape = cmd.info().map_or(ValueReply::None, |i| i.reply);
    if shape == ValueReply::None {
      return;
    }
    if let Err(e) = self.decode_reply(shape, reply) {
      self.counts.refused.fetch_add(1, Ordering::Relaxed);
      *result = Err(e.in_reply_of(&cmd.name));
    }
  }

  fn decode_reply(&self, shape: ValueReply, reply: &mut Reply) -> std::result::Result<(), DecodeFailure> {
    match (shape, reply) {
      (ValueReply::None, _) => Ok(()),
      (ValueReply::All, Reply::Bytes(b)) => self.decode_bytes(b),
      (ValueReply::All, Reply::Array(items)) => items.iter_mut().try_for_each(|r| self.decode_reply(shape, r)),
      (ValueReply::Odd, Reply::Array(items) | Reply::Map(items)) => {
        items.iter_mut().skip(1).step_by(2).try_for_each(|r| self.decode_reply(ValueReply::All, r))
      }
      (ValueReply::ScanPairs, Reply::Array(items)) => match items.get_mut(1) {
        Some(pairs) => self.decode_reply(ValueReply::Odd, pairs),
        None => Ok(()),
      },
      _ => Ok(()),
    }
  }

  fn decode_bytes(&self, b: &mut Bytes) -> std::result::Result<(), DecodeFailure> {
    if let Some(value) = self.decode_value(b)? {
      *b = value;
    }
    Ok(())
  }

  /// The value a reply's bytes stand for: `None` when they are a plain
  /// value (no header), to be used as they are.
  pub fn decode_value(&self, b: &[u8]) -> std::result::Result<Option<Bytes>, DecodeFailure> {
    if !codec::is_framed(b) {
      return Ok(None);
    }
    let algorithm = codec::algorithm_of(b);
    if self.compression.is_none() && algorithm != Some(Algorithm::Stored) {
      return Err(DecodeFailure::NotConfigured(algorithm));
    }
    let value = codec::decompress(b, self.max_len).map_err(DecodeFailure::Codec)?;
    self.counts.decompressed.fetch_add(1, Ordering::Relaxed);
    Ok(Some(Bytes::from(value)))
  }
}

/// A value to send as it is (`None`) or framed: compressed when it has
/// `min_bytes` and shrinks; a value that would be taken for a header is
/// always framed (stored if it does not shrink), so it reads back as it was.
fn encode_value(c: Compression, value: &[u8]) -> Option<Vec<u8>> {
  let looks_framed = codec::is_framed(value);
  if value.len() >= c.min_bytes || looks_framed {
    if let Some(framed) = codec::compress(c.algorithm, value) {
      return Some(framed);
    }
  }
  looks_framed.then(|| codec::compress(Algorithm::Stored, value)).flatten()
}

/// Why a value reply could not be read.
#[derive(Debug)]
pub enum DecodeFailure {
  /// Compressed (with this algorithm), and this service has no `compression` option.
  NotConfigured(Option<Algorithm>),
  Codec(codec::DecodeError),
}

impl DecodeFailure {
  fn in_reply_of(self, command: &str) -> Error {
    let what = format!("the value {} returned", command.to_ascii_uppercase());
    let message = match self {
      DecodeFailure::NotConfigured(a) => format!(
        "{what} was compressed by resilis ({}); this service has no `compression` option, so it cannot read it \
        (set compression: {{ algorithm: 'lz4' | 'zstd' }}: a reader with either algorithm reads both)",
        a.map_or("unknown algorithm", Algorithm::name)
      ),
      DecodeFailure::Codec(e) => format!("{what} has resilis' compression header but cannot be read: {e}"),
    };
    Error::new(ErrorKind::Decode, message)
  }
}

#[cfg(test)]
mod tests {
  use super::*;

  fn cmd(name: &'static str, args: &[&[u8]]) -> Command {
    Command::new(name, args.iter().map(|a| Value::Bytes(Bytes::copy_from_slice(a))).collect())
  }

  fn arg(c: &Command, i: usize) -> &[u8] {
    match &c.args[i] {
      Value::Bytes(b) => b,
      other => panic!("{other:?}"),
    }
  }

  #[test]
  fn only_value_arguments_over_the_threshold_are_compressed() {
    let big = vec![b'x'; 2000];
    let small = b"tiny".to_vec();
    for algorithm in [Algorithm::Lz4, Algorithm::Zstd] {
      let values = Values::new(Some(Compression { algorithm, min_bytes: 100 }), 1 << 30);
      let mut cmds = vec![
        cmd("set", &[&big, &big, b"EX", b"10"]),
        cmd("mset", &[&big, &big, b"k", &small]),
        cmd("HSET", &[b"h", &big, &big, b"f", &big]),
        cmd("rpush", &[b"l", &big, &small]),
        cmd("append", &[b"k", &big]),
        cmd("sadd", &[b"s", &big]),
        cmd("linsert", &[b"l", b"BEFORE", &big, &big]),
      ];
      values.encode(&mut cmds);
      let framed = |c: &Command, i: usize| codec::is_framed(arg(c, i));
      assert!(!framed(&cmds[0], 0) && framed(&cmds[0], 1) && !framed(&cmds[0], 2), "SET: the value only");
      assert!(!framed(&cmds[1], 0) && framed(&cmds[1], 1) && arg(&cmds[1], 3) == small, "MSET: values over minBytes");
      assert!(!framed(&cmds[2], 1) && framed(&cmds[2], 2) && framed(&cmds[2], 4), "HSET: values, not fields");
      assert!(framed(&cmds[3], 1) && !framed(&cmds[3], 2));
      assert!(!framed(&cmds[4], 1), "APPEND is never compressed");
      assert!(!framed(&cmds[5], 1), "set members are not values");
      assert!(framed(&cmds[6], 2) && framed(&cmds[6], 3), "LINSERT's pivot is compressed as the items were");
      assert_eq!(codec::algorithm_of(arg(&cmds[0], 1)), Some(algorithm));
      let stats = values.stats_json();
      assert_eq!(stats["compressed"], 7, "{stats}");
      assert_eq!(stats["bytesIn"], 14_000);
      assert!(stats["bytesOut"].as_u64().unwrap() < 2000);
      assert_eq!(stats["algorithm"], algorithm.name());
    }
    assert_eq!(Values::new(None, 1).stats_json(), serde_json::Value::Null);
  }

  #[test]
  fn value_replies_are_decoded_by_shape_and_any_algorithm() {
    let big = vec![b'y'; 3000];
    let lz4 = Bytes::from(codec::compress(Algorithm::Lz4, &big).unwrap());
    let zstd = Bytes::from(codec::compress(Algorithm::Zstd, &big).unwrap());
    let reader = Values::new(Some(Compression { algorithm: Algorithm::Zstd, min_bytes: 1 }), 1 << 30);
    let b = |x: &Bytes| Reply::Bytes(x.clone());
    let plain = Reply::Bytes(Bytes::from_static(b"plain"));
    let big_r = Reply::Bytes(Bytes::from(big.clone()));
    let cases = [
      ("get", b(&lz4), big_r.clone()),
      ("get", plain.clone(), plain.clone()),
      (
        "mget",
        Reply::Array(vec![b(&lz4), Reply::Nil, b(&zstd)]),
        Reply::Array(vec![big_r.clone(), Reply::Nil, big_r.clone()]),
      ),
      // HGETALL: a field that looks framed is a field, left alone.
      ("hgetall", Reply::Map(vec![b(&lz4), b(&zstd)]), Reply::Map(vec![b(&lz4), big_r.clone()])),
      ("blpop", Reply::Array(vec![b(&zstd), b(&lz4)]), Reply::Array(vec![b(&zstd), big_r.clone()])),
      (
        "blmpop",
        Reply::Array(vec![plain.clone(), Reply::Array(vec![b(&lz4), b(&zstd)])]),
        Reply::Array(vec![plain.clone(), Reply::Array(vec![big_r.clone(), big_r.clone()])]),
      ),
      (
        "hscan",
        Reply::Array(vec![b(&lz4), Reply::Array(vec![plain.clone(), b(&zstd)])]),
        Reply::Array(vec![b(&lz4), Reply::Array(vec![plain.clone(), big_r.clone()])]),
      ),
      ("strlen", b(&lz4), b(&lz4)),
      ("set", Reply::ok(), Reply::ok()),
    ];
    for (name, reply, want) in cases {
      let mut out = vec![Ok(reply)];
      reader.decode(&[cmd(name, &[b"k"])], &mut out);
      assert_eq!(out.pop().unwrap().unwrap(), want, "{name}");
    }
    // Without the option: a clear error, never the compressed bytes.
    let plain_reader = Values::new(None, 1 << 30);
    let mut out = vec![Ok(Reply::Array(vec![plain.clone(), b(&lz4)]))];
    plain_reader.decode(&[cmd("lrange", &[b"l", b"0", b"-1"])], &mut out);
    let e = out.pop().unwrap().unwrap_err();
    assert_eq!(e.kind, ErrorKind::Decode);
    assert!(
      e.message.contains("LRANGE") && e.message.contains("lz4") && e.message.contains("compression"),
      "{}",
      e.message
    );
    // A corrupt value is a decode error too.
    let mut bad = lz4.to_vec();
    let last = bad.len() - 1;
    bad[last] ^= 1;
    let mut out = vec![Ok(Reply::Bytes(Bytes::from(bad)))];
    reader.decode(&[cmd("get", &[b"k"])], &mut out);
    assert!(out[0].as_ref().is_err_and(|e| e.kind == ErrorKind::Decode && e.message.contains("corrupt")));
  }

  #[test]
  fn a_value_that_looks_framed_round_trips() {
    let values = Values::new(Some(Compression { algorithm: Algorithm::Lz4, min_bytes: 1 << 20 }), 1 << 30);
    let mut tricky = codec::MAGIC.to_vec();
    tricky.extend_from_slice(b"\x01 not really");
    let mut cmds = vec![cmd("set", &[b"k", &tricky])];
    values.encode(&mut cmds);
    assert_eq!(codec::algorithm_of(arg(&cmds[0], 1)), Some(Algorithm::Stored));
    let mut out = vec![Ok(Reply::Bytes(Bytes::copy_from_slice(arg(&cmds[0], 1))))];
    Values::new(None, 1 << 30).decode(&[cmd("get", &[b"k"])], &mut out);
    assert_eq!(out.pop().unwrap().unwrap(), Reply::Bytes(Bytes::from(tricky)), "any reader unwraps a stored value");
  }
}
