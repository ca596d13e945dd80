//! The Upstash REST wire format, without I/O: a command as a JSON array of
//! strings (or, when an argument is not UTF-8, as percent-encoded path
//! segments with the last argument as the raw body), and a reply as
//! `{ "result": ... }` or `{ "error": ... }` with every string base64
//! (`Upstash-Encoding: base64`) except a top-level `"OK"`.

use std::borrow::Cow;

use bytes::Bytes;
use fred::prelude::Value;
use serde_json::Value as Json;

use crate::core::command::Command;
use crate::core::commands;
use crate::core::error::{Error, ErrorKind, Result};
use crate::core::reply::Reply;
use crate::core::resp::double_arg;

/// `ERR_RESILIS_UNSUPPORTED` naming the command, for what REST cannot do.
pub fn unsupported(cmd: &Command) -> Option<Error> {
  let why = if cmd.is_blocking() {
    "a blocking command holds its connection until data arrives; a REST request cannot wait on one"
  } else if cmd.has(commands::STATEFUL) {
    // A connection of its own, which REST does not have: each request may
    // take another connection, and nothing is pushed back.
    "it needs a connection of its own (REST requests share none; use multi() for a transaction, a TCP provider for pub/sub)"
  } else {
    return None;
  };
  Some(unsupported_named(&cmd.upper_name(), why))
}

pub fn unsupported_named(name: &str, why: &str) -> Error {
  Error::new(ErrorKind::Unsupported, format!("{name} is not supported by the Upstash REST provider: {why}"))
}

/// One argument's bytes, spelled as on the RESP wire.
fn arg_bytes(v: &Value) -> Cow<'_, [u8]> {
  match v {
    Value::Bytes(b) => Cow::Borrowed(b),
    Value::String(s) => Cow::Borrowed(s.as_bytes()),
    Value::Integer(i) => Cow::Owned(i.to_string().into_bytes()),
    Value::Double(d) => Cow::Owned(double_arg(*d).into_bytes()),
    Value::Boolean(b) => Cow::Borrowed(if *b { b"1" } else { b"0" }),
    _ => Cow::Borrowed(b""),
  }
}

/// True when every argument can travel as a JSON string (valid UTF-8).
pub fn is_text(cmd: &Command) -> bool {
  cmd.args.iter().all(|a| std::str::from_utf8(&arg_bytes(a)).is_ok())
}

/// `["NAME","arg",...]` appended to `out`; the caller checked `is_text`.
pub fn write_json(cmd: &Command, out: &mut Vec<u8>) {
  out.push(b'[');
  write_str(out, &cmd.name);
  for a in &cmd.args {
    out.push(b',');
    write_str(out, std::str::from_utf8(&arg_bytes(a)).unwrap_or_default());
  }
  out.push(b']');
}

fn write_str(out: &mut Vec<u8>, s: &str) {
  // serde_json's escaping into a Vec cannot fail.
  let _ = serde_json::to_writer(&mut *out, s);
}

/// `[[...],[...]]` for `/pipeline` and `/multi-exec`.
pub fn batch_body(cmds: &[Command]) -> Vec<u8> {
  let mut out = Vec::with_capacity(16 + cmds.len() * 32);
  out.push(b'[');
  for (i, cmd) in cmds.iter().enumerate() {
    if i > 0 {
      out.push(b',');
    }
    write_json(cmd, &mut out);
  }
  out.push(b']');
  out
}

/// The binary-safe form of one command (Upstash's "JSON or Binary Value"):
/// `/name/arg1/.../argN-1` percent-encoded, the last argument as the raw
/// request body (the server appends the body as the last argument).
pub fn binary_request(cmd: &Command) -> (String, Bytes) {
  let mut path = String::with_capacity(64);
  path.push('/');
  percent_encode(cmd.name.as_bytes(), &mut path);
  let (last, head) = match cmd.args.split_last() {
    Some((last, head)) => (arg_bytes(last).into_owned(), head),
    None => (Vec::new(), &cmd.args[..]),
  };
  for a in head {
    path.push('/');
    percent_encode(&arg_bytes(a), &mut path);
  }
  (path, Bytes::from(last))
}

fn percent_encode(bytes: &[u8], out: &mut String) {
  const HEX: &[u8; 16] = b"0123456789ABCDEF";
  for &b in bytes {
    if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
      out.push(b as char);
    } else {
      out.push('%');
      out.push(HEX[(b >> 4) as usize] as char);
      out.push(HEX[(b & 15) as usize] as char);
    }
  }
}

/// One `{ result }` / `{ error }` object: an error is a Redis error reply
/// (`ERR_RESILIS_REPLY`, as over TCP).
pub fn slot(v: &Json) -> Result<Reply> {
  if let Some(e) = v.get("error") {
    let msg = e.as_str().map(str::to_string).unwrap_or_else(|| e.to_string());
    return Err(Error::new(ErrorKind::Reply, msg));
  }
  match v.get("result") {
    Some(Json::String(s)) if s == "OK" => Ok(Reply::ok()),
    Some(r) => Ok(value(r)),
    None => Err(malformed("a reply with neither result nor error")),
  }
}

pub fn malformed(what: &str) -> Error {
  Error::new(ErrorKind::Connection, format!("the Upstash REST endpoint sent {what}"))
    .with_sent(crate::core::error::Sent::Unknown)
}

/// A result value: strings are base64 (a string that is not, such as a
/// nested "OK", is taken as it is).
fn value(v: &Json) -> Reply {
  match v {
    Json::Null => Reply::Nil,
    Json::Bool(b) => Reply::Int(i64::from(*b)),
    Json::Number(n) => match n.as_i64() {
      Some(i) => Reply::Int(i),
      None => Reply::Double(n.as_f64().unwrap_or(f64::NAN)),
    },
    Json::String(s) => Reply::Bytes(match base64_decode(s) {
      Some(b) => Bytes::from(b),
      None => Bytes::copy_from_slice(s.as_bytes()),
    }),
    Json::Array(items) => Reply::Array(items.iter().map(value).collect()),
    Json::Object(_) => Reply::Bytes(Bytes::from(v.to_string())),
  }
}

/// Standard base64 with padding; `None` for anything else.
pub fn base64_decode(s: &str) -> Option<Vec<u8>> {
  let b = s.as_bytes();
  if !b.len().is_multiple_of(4) {
    return None;
  }
  let sextet = |c: u8| -> Option<u32> {
    Some(match c {
      b'A'..=b'Z' => c - b'A',
      b'a'..=b'z' => c - b'a' + 26,
      b'0'..=b'9' => c - b'0' + 52,
      b'+' => 62,
      b'/' => 63,
      _ => return None,
    } as u32)
  };
  let mut out = Vec::with_capacity(b.len() / 4 * 3);
  for (i, quad) in b.chunks(4).enumerate() {
    let last = i + 1 == b.len() / 4;
    let pad = quad.iter().rev().take_while(|&&c| c == b'=').count();
    if pad > 2 || (pad > 0 && !last) {
      return None;
    }
    let mut n = 0u32;
    for &c in &quad[..4 - pad] {
      n = (n << 6) | sextet(c)?;
    }
    n <<= 6 * pad as u32;
    let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
    out.extend_from_slice(&bytes[..3 - pad]);
  }
  Some(out)
}

#[cfg(test)]
mod tests {
  use super::*;

  fn cmd(name: &'static str, args: Vec<Value>) -> Command {
    Command::new(name, args)
  }

  #[test]
  fn a_command_is_a_json_array_of_strings() {
    let c =
      cmd("set", vec![Value::from("k\"ey"), Value::Integer(-12), Value::Double(1.5), Value::Double(f64::INFINITY)]);
    let mut out = Vec::new();
    write_json(&c, &mut out);
    assert_eq!(std::str::from_utf8(&out).unwrap(), r#"["set","k\"ey","-12","1.5","+inf"]"#);
    let body = batch_body(&[cmd("incr", vec![Value::from("n")]), cmd("ping", vec![])]);
    assert_eq!(std::str::from_utf8(&body).unwrap(), r#"[["incr","n"],["ping"]]"#);
  }

  #[test]
  fn non_utf8_arguments_go_in_the_path_and_body() {
    let c =
      cmd("set", vec![Value::Bytes(Bytes::from_static(b"k/\x00\xff")), Value::Bytes(Bytes::from_static(b"\x00\xffv"))]);
    assert!(!is_text(&c));
    let (path, body) = binary_request(&c);
    assert_eq!(path, "/set/k%2F%00%FF");
    assert_eq!(&body[..], b"\x00\xffv");
  }

  #[test]
  fn replies_decode_base64_and_keep_ok() {
    let parse = |s: &str| slot(&serde_json::from_str(s).unwrap());
    assert_eq!(parse(r#"{"result":"OK"}"#).unwrap(), Reply::ok());
    assert_eq!(parse(r#"{"result":"AP8B"}"#).unwrap(), Reply::Bytes(Bytes::from_static(b"\x00\xff\x01")));
    assert_eq!(parse(r#"{"result":null}"#).unwrap(), Reply::Nil);
    assert_eq!(parse(r#"{"result":42}"#).unwrap(), Reply::Int(42));
    assert_eq!(
      parse(r#"{"result":["YQ==",null,["Yg=="]]}"#).unwrap(),
      Reply::Array(vec![Reply::from_str("a"), Reply::Nil, Reply::Array(vec![Reply::from_str("b")])])
    );
    let e = parse(r#"{"error":"WRONGTYPE Operation against a key holding the wrong kind of value"}"#).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Reply);
    assert!(e.message.starts_with("WRONGTYPE"));
    assert_eq!(parse(r#"{}"#).unwrap_err().kind, ErrorKind::Connection);
  }

  #[test]
  fn base64_round_trips_every_padding() {
    assert_eq!(base64_decode("").unwrap(), b"");
    assert_eq!(base64_decode("YQ==").unwrap(), b"a");
    assert_eq!(base64_decode("YWI=").unwrap(), b"ab");
    assert_eq!(base64_decode("YWJj").unwrap(), b"abc");
    assert_eq!(base64_decode("+/8A").unwrap(), vec![0xfb, 0xff, 0x00]);
    assert!(base64_decode("OK").is_none());
    assert!(base64_decode("YQ==YQ==").is_none());
    assert!(base64_decode("Y!==").is_none());
  }

  #[test]
  fn rest_cannot_do_blocking_or_connection_state() {
    let blpop = cmd("blpop", vec![Value::from("q"), Value::from("0")]);
    let e = unsupported(&blpop).unwrap();
    assert_eq!(e.code(), "ERR_RESILIS_UNSUPPORTED");
    assert!(e.message.starts_with("BLPOP "));
    assert!(unsupported(&cmd("watch", vec![Value::from("k")])).is_some());
    assert!(unsupported(&cmd("SUBSCRIBE", vec![Value::from("c")])).is_some());
    assert!(unsupported(&cmd("get", vec![Value::from("k")])).is_none());
  }
}
