//! RESP for our own connections: commands encoded straight into the write
//! buffer, replies parsed out of the read buffer without copying their
//! bytes (bulk strings are slices of the frozen frame). The fast lane
//! speaks RESP2; the near cache's invalidation connection speaks RESP3
//! (`HELLO 3`: maps, nulls, booleans, doubles and push frames too).

use bytes::{BufMut, Bytes, BytesMut};

use crate::core::copies::COPIES;
use crate::core::wire::{Wire, SHARED_MIN};
use fred::prelude::Value;

use crate::core::command::Command;
use crate::core::error::{Error, ErrorKind, Result};
use crate::core::reply::Reply;

/// Deeper nesting than this is treated as a broken stream.
const MAX_DEPTH: usize = 64;

/// `n` in decimal, on the stack: the digits are `buf[start..]`.
fn decimal(n: i64) -> ([u8; 20], usize) {
  let mut digits = [0u8; 20];
  let mut i = digits.len();
  let mut v = n.unsigned_abs();
  loop {
    i -= 1;
    digits[i] = b'0' + (v % 10) as u8;
    v /= 10;
    if v == 0 {
      break;
    }
  }
  if n < 0 {
    i -= 1;
    digits[i] = b'-';
  }
  (digits, i)
}

/// Where encoded commands go: a plain buffer, or a `Wire` that keeps
/// large arguments by reference.
pub trait Out {
  fn reserve_more(&mut self, n: usize);
  fn put(&mut self, bytes: &[u8]);
  /// An argument's own bytes (a `Wire` may share them instead of copying).
  fn put_arg(&mut self, bytes: &Bytes) {
    self.put(bytes);
  }
}

impl Out for BytesMut {
  fn reserve_more(&mut self, n: usize) {
    self.reserve(n);
  }
  fn put(&mut self, bytes: &[u8]) {
    self.put_slice(bytes);
  }
}

impl Out for Wire {
  fn reserve_more(&mut self, n: usize) {
    self.reserve(n);
  }
  fn put(&mut self, bytes: &[u8]) {
    Wire::put(self, bytes);
  }
  fn put_arg(&mut self, bytes: &Bytes) {
    if bytes.len() >= SHARED_MIN {
      COPIES.wire_by_reference(bytes.len());
      self.put_shared(bytes);
    } else {
      COPIES.into_wire(bytes.len());
      Wire::put(self, bytes);
    }
  }
}

fn put_len(out: &mut impl Out, prefix: u8, n: usize) {
  let (digits, start) = decimal(n as i64);
  let mut line = [0u8; 24];
  line[0] = prefix;
  let end = 1 + digits.len() - start;
  line[1..end].copy_from_slice(&digits[start..]);
  line[end..end + 2].copy_from_slice(b"\r\n");
  out.put(&line[..end + 2]);
}

fn put_bulk(out: &mut impl Out, data: &[u8]) {
  put_len(out, b'$', data.len());
  out.put(data);
  out.put(b"\r\n");
}

/// Appends one command as a RESP2 array of bulk strings.
pub fn encode(out: &mut impl Out, cmd: &Command) {
  let small = |v: &Value| !matches!(v, Value::Bytes(b) if b.len() >= SHARED_MIN);
  out.reserve_more(16 + cmd.name.len() + cmd.args.iter().filter(|a| small(a)).map(arg_len_hint).sum::<usize>());
  put_len(out, b'*', 1 + cmd.args.len());
  put_bulk(out, cmd.name.as_bytes());
  for arg in &cmd.args {
    match arg {
      Value::String(s) => put_bulk(out, s.as_bytes()),
      Value::Bytes(b) => {
        put_len(out, b'$', b.len());
        out.put_arg(b);
        out.put(b"\r\n");
      }
      Value::Integer(i) => {
        let (digits, start) = decimal(*i);
        put_bulk(out, &digits[start..]);
      }
      Value::Double(d) => put_bulk(out, double_arg(*d).as_bytes()),
      Value::Boolean(b) => put_bulk(out, if *b { b"1" } else { b"0" }),
      // The binding never produces these; send something Redis rejects
      // loudly rather than shifting the argument positions.
      _ => put_bulk(out, b""),
    }
  }
}

/// Redis' spelling of a double argument (inf as `+inf` / `-inf`).
pub(crate) fn double_arg(d: f64) -> String {
  if d.is_infinite() {
    if d > 0.0 {
      "+inf".into()
    } else {
      "-inf".into()
    }
  } else {
    d.to_string()
  }
}

fn arg_len_hint(v: &Value) -> usize {
  16 + match v {
    Value::String(s) => s.len(),
    Value::Bytes(b) => b.len(),
    _ => 24,
  }
}

/// Finds the end of the line starting at `pos` (index of `\r`).
fn line_end(b: &[u8], pos: usize) -> Option<usize> {
  let mut i = pos;
  while i + 1 < b.len() {
    if b[i] == b'\r' && b[i + 1] == b'\n' {
      return Some(i);
    }
    i += 1;
  }
  None
}

/// A header's decimal (lengths, integer replies): ASCII digits with an
/// optional sign, no UTF-8 validation, overflow refused.
fn parse_int(line: &[u8]) -> Result<i64> {
  let bad = || protocol_error("a length or integer that is not a number");
  let (negative, digits) = match line.split_first() {
    Some((b'-', rest)) => (true, rest),
    Some((b'+', rest)) => (false, rest),
    _ => (false, line),
  };
  if digits.is_empty() {
    return Err(bad());
  }
  let mut n: i64 = 0;
  for &d in digits {
    if !d.is_ascii_digit() {
      return Err(bad());
    }
    let digit = i64::from(d - b'0');
    n = n
      .checked_mul(10)
      .and_then(|n| if negative { n.checked_sub(digit) } else { n.checked_add(digit) })
      .ok_or_else(bad)?;
  }
  Ok(n)
}

fn protocol_error(what: &str) -> Error {
  Error::new(ErrorKind::Connection, format!("protocol error from Redis: {what}"))
}

/// The length of the complete frame at `pos`, or `None` when more bytes
/// are needed. Only headers are read: bulk payloads are skipped by length.
fn frame_end(b: &[u8], pos: usize, depth: usize) -> Result<Option<usize>> {
  if depth > MAX_DEPTH {
    return Err(protocol_error("nesting too deep"));
  }
  let Some(&kind) = b.get(pos) else { return Ok(None) };
  let Some(eol) = line_end(b, pos + 1) else { return Ok(None) };
  let after = eol + 2;
  match kind {
    b'+' | b'-' | b':' | b'_' | b'#' | b',' | b'(' => Ok(Some(after)),
    b'$' | b'!' | b'=' => {
      let n = parse_int(&b[pos + 1..eol])?;
      if n < 0 {
        return Ok(Some(after));
      }
      let end = after + n as usize + 2;
      Ok(if b.len() >= end { Some(end) } else { None })
    }
    b'*' | b'~' | b'>' | b'%' => {
      let n = parse_int(&b[pos + 1..eol])?;
      // A map's entries are pairs.
      let items = if kind == b'%' { n.max(0).saturating_mul(2) } else { n.max(0) };
      let mut at = after;
      for _ in 0..items {
        match frame_end(b, at, depth + 1)? {
          Some(next) => at = next,
          None => return Ok(None),
        }
      }
      Ok(Some(at))
    }
    _ => Err(protocol_error("an unknown frame type")),
  }
}

/// Builds the reply of a frame already known to be complete.
fn build(frame: &Bytes, pos: &mut usize) -> Reply {
  let b = &frame[..];
  let kind = b[*pos];
  let eol = line_end(b, *pos + 1).unwrap_or(b.len());
  let line = (*pos + 1, eol);
  *pos = eol + 2;
  match kind {
    b'+' => Reply::Bytes(frame.slice(line.0..line.1)),
    b'-' => Reply::Error(String::from_utf8_lossy(&b[line.0..line.1]).into_owned()),
    b':' => Reply::Int(parse_int(&b[line.0..line.1]).unwrap_or(0)),
    b'$' => {
      let n = parse_int(&b[line.0..line.1]).unwrap_or(-1);
      if n < 0 {
        return Reply::Nil;
      }
      let start = *pos;
      *pos = start + n as usize + 2;
      Reply::Bytes(frame.slice(start..start + n as usize))
    }
    b'*' | b'~' | b'>' => {
      let n = parse_int(&b[line.0..line.1]).unwrap_or(-1);
      if n < 0 {
        return Reply::Nil;
      }
      Reply::Array(build_items(frame, pos, n as usize))
    }
    _ => build_resp3(frame, pos, kind, line),
  }
}

fn build_items(frame: &Bytes, pos: &mut usize, n: usize) -> Vec<Reply> {
  let mut items = Vec::with_capacity(n);
  for _ in 0..n {
    items.push(build(frame, pos));
  }
  items
}

/// RESP3's other types (`line` is the header's payload; `pos` is past it).
fn build_resp3(frame: &Bytes, pos: &mut usize, kind: u8, line: (usize, usize)) -> Reply {
  let text = &frame[line.0..line.1];
  match kind {
    b'#' => Reply::Bool(text == b"t"),
    b',' => Reply::Double(std::str::from_utf8(text).ok().and_then(|t| t.parse().ok()).unwrap_or(f64::NAN)),
    b'(' => Reply::Bytes(frame.slice(line.0..line.1)),
    b'%' => Reply::Map(build_items(frame, pos, parse_int(text).unwrap_or(0).max(0) as usize * 2)),
    b'!' | b'=' => {
      let n = parse_int(text).unwrap_or(0).max(0) as usize;
      let start = *pos;
      *pos = start + n + 2;
      let body = &frame[start..start + n];
      if kind == b'!' {
        Reply::Error(String::from_utf8_lossy(body).into_owned())
      } else {
        // Verbatim: a 3-letter format and ':' before the text.
        Reply::Bytes(frame.slice(start + n.min(4)..start + n))
      }
    }
    _ => Reply::Nil,
  }
}

/// Takes the next complete reply off the front of `buf`. The outer `Err`
/// is a broken stream; the inner one a top-level error reply.
pub fn next_reply(buf: &mut BytesMut) -> Result<Option<Result<Reply>>> {
  let Some(end) = frame_end(buf, 0, 0)? else { return Ok(None) };
  let frame = buf.split_to(end).freeze();
  let mut pos = 0;
  Ok(Some(match build(&frame, &mut pos) {
    Reply::Error(msg) => Err(Error::new(ErrorKind::Reply, msg)),
    reply => Ok(reply),
  }))
}

#[cfg(test)]
mod tests {
  use super::*;

  fn parse_all(input: &[u8]) -> Vec<Result<Reply>> {
    let mut buf = BytesMut::from(input);
    let mut out = Vec::new();
    while let Some(r) = next_reply(&mut buf).expect("valid stream") {
      out.push(r);
    }
    assert!(buf.is_empty(), "left over: {:?}", buf);
    out
  }

  #[test]
  fn header_integers_parse_strictly() {
    assert_eq!(parse_int(b"0").ok(), Some(0));
    assert_eq!(parse_int(b"-1").ok(), Some(-1));
    assert_eq!(parse_int(b"9223372036854775807").ok(), Some(i64::MAX));
    assert_eq!(parse_int(b"-9223372036854775808").ok(), Some(i64::MIN));
    for bad in [&b""[..], b"-", b"12a", b"9223372036854775808", b" 1", b"1.5"] {
      assert!(parse_int(bad).is_err(), "{:?}", bad);
    }
  }

  #[test]
  fn encodes_commands() {
    let mut buf = BytesMut::new();
    let cmd = Command::new("SET", vec![Value::from("k"), Value::Integer(-12), Value::Double(1.5)]);
    encode(&mut buf, &cmd);
    assert_eq!(&buf[..], b"*4\r\n$3\r\nSET\r\n$1\r\nk\r\n$3\r\n-12\r\n$3\r\n1.5\r\n");
    let mut buf = BytesMut::new();
    encode(
      &mut buf,
      &Command::new("zadd", vec![Value::Double(f64::INFINITY), Value::Bytes(Bytes::from_static(b"\r\n"))]),
    );
    assert_eq!(&buf[..], b"*3\r\n$4\r\nzadd\r\n$4\r\n+inf\r\n$2\r\n\r\n\r\n");
  }

  #[test]
  fn parses_every_frame_type() {
    let out =
      parse_all(b"+OK\r\n:42\r\n$5\r\nhello\r\n$-1\r\n*2\r\n$1\r\na\r\n*1\r\n:-3\r\n*-1\r\n-ERR bad\r\n$0\r\n\r\n");
    assert_eq!(out.len(), 8);
    assert_eq!(out[0].as_ref().ok(), Some(&Reply::Bytes(Bytes::from_static(b"OK"))));
    assert_eq!(out[1].as_ref().ok(), Some(&Reply::Int(42)));
    assert_eq!(out[2].as_ref().ok(), Some(&Reply::Bytes(Bytes::from_static(b"hello"))));
    assert_eq!(out[3].as_ref().ok(), Some(&Reply::Nil));
    assert_eq!(
      out[4].as_ref().ok(),
      Some(&Reply::Array(vec![Reply::Bytes(Bytes::from_static(b"a")), Reply::Array(vec![Reply::Int(-3)])]))
    );
    assert_eq!(out[5].as_ref().ok(), Some(&Reply::Nil));
    let err = out[6].as_ref().err().map(|e| (e.kind, e.message.clone()));
    assert_eq!(err, Some((ErrorKind::Reply, "ERR bad".to_string())));
    assert_eq!(out[7].as_ref().ok(), Some(&Reply::Bytes(Bytes::new())));
  }

  #[test]
  fn parses_resp3_frames() {
    let out = parse_all(
      b"_\r\n#t\r\n,1.5\r\n(123456789012345678901\r\n%1\r\n+proto\r\n:3\r\n>2\r\n$10\r\ninvalidate\r\n*1\r\n$1\r\nk\r\n\
        ~1\r\n:1\r\n=8\r\ntxt:hi!!\r\n!5\r\nERR x\r\n>2\r\n$10\r\ninvalidate\r\n_\r\n",
    );
    let ok = |i: usize| out[i].as_ref().ok().cloned();
    assert_eq!(out.len(), 10);
    assert_eq!(ok(0), Some(Reply::Nil));
    assert_eq!(ok(1), Some(Reply::Bool(true)));
    assert_eq!(ok(2), Some(Reply::Double(1.5)));
    assert_eq!(ok(3), Some(Reply::Bytes(Bytes::from_static(b"123456789012345678901"))));
    assert_eq!(ok(4), Some(Reply::Map(vec![Reply::Bytes(Bytes::from_static(b"proto")), Reply::Int(3)])));
    let invalidate = Reply::Bytes(Bytes::from_static(b"invalidate"));
    assert_eq!(
      ok(5),
      Some(Reply::Array(vec![invalidate.clone(), Reply::Array(vec![Reply::Bytes(Bytes::from_static(b"k"))])]))
    );
    assert_eq!(ok(6), Some(Reply::Array(vec![Reply::Int(1)])));
    assert_eq!(ok(7), Some(Reply::Bytes(Bytes::from_static(b"hi!!"))));
    assert_eq!(out[8].as_ref().err().map(|e| e.message.clone()), Some("ERR x".to_string()));
    assert_eq!(ok(9), Some(Reply::Array(vec![invalidate, Reply::Nil])));
    // A map waits for both halves of its last entry.
    let mut partial = BytesMut::from(&b"%1\r\n+a\r\n"[..]);
    assert!(next_reply(&mut partial).expect("valid").is_none());
  }

  #[test]
  fn nested_errors_stay_in_place_and_binary_is_kept() {
    let out = parse_all(b"*2\r\n-WRONGTYPE x\r\n$3\r\n\x00\r\n\r\n");
    assert_eq!(
      out[0].as_ref().ok(),
      Some(&Reply::Array(vec![Reply::Error("WRONGTYPE x".into()), Reply::Bytes(Bytes::from_static(b"\x00\r\n"))]))
    );
  }

  #[test]
  fn waits_for_partial_frames_at_every_cut() {
    let stream: &[u8] = b"*3\r\n$5\r\nhello\r\n:1\r\n*1\r\n+x\r\n+OK\r\n";
    for cut in 0..stream.len() {
      let mut buf = BytesMut::from(&stream[..cut]);
      let mut got = Vec::new();
      while let Some(r) = next_reply(&mut buf).expect("valid") {
        got.push(r);
      }
      buf.extend_from_slice(&stream[cut..]);
      while let Some(r) = next_reply(&mut buf).expect("valid") {
        got.push(r);
      }
      assert_eq!(got.len(), 2, "cut at {cut}");
    }
  }

  #[test]
  fn broken_streams_are_errors() {
    assert!(next_reply(&mut BytesMut::from(&b"?what\r\n"[..])).is_err());
    assert!(next_reply(&mut BytesMut::from(&b"$abc\r\n"[..])).is_err());
  }
}
