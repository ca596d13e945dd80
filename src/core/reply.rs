//! A Redis reply as the core hands it to the binding. Bulk strings keep
//! the `Bytes` fred parsed them into, so no value is copied on the way out
//! until the binding writes it into a JS string or Buffer.

use bytes::Bytes;
use fred::prelude::Value;
use fred::types::Resp3Frame;

use crate::core::error::{Error, ErrorKind};

#[derive(Clone, Debug, PartialEq)]
pub enum Reply {
  Nil,
  Int(i64),
  Double(f64),
  Bool(bool),
  /// Bulk or status string, possibly not UTF-8.
  Bytes(Bytes),
  Array(Vec<Reply>),
  /// RESP3 maps, flattened to key, value, key, value (RESP2's shape).
  Map(Vec<Reply>),
  /// An error reply nested inside an array (EXEC, EVAL results).
  Error(String),
}

impl Reply {
  pub fn ok() -> Reply {
    Reply::Bytes(Bytes::from_static(b"OK"))
  }

  #[allow(clippy::should_implement_trait)] // infallible: `FromStr` would add a Result no caller needs
  pub fn from_str(s: &str) -> Reply {
    Reply::Bytes(Bytes::copy_from_slice(s.as_bytes()))
  }

  /// A top-level error frame becomes `Err`; nested ones stay in place.
  pub fn from_frame(frame: Resp3Frame) -> Result<Reply, Error> {
    match frame {
      Resp3Frame::SimpleError { data, .. } => Err(Error::new(ErrorKind::Reply, data.to_string())),
      Resp3Frame::BlobError { data, .. } => {
        Err(Error::new(ErrorKind::Reply, String::from_utf8_lossy(&data).into_owned()))
      }
      other => Ok(Reply::from_nested_frame(other)),
    }
  }

  fn from_nested_frame(frame: Resp3Frame) -> Reply {
    match frame {
      Resp3Frame::Null => Reply::Nil,
      Resp3Frame::SimpleString { data, .. }
      | Resp3Frame::BlobString { data, .. }
      | Resp3Frame::VerbatimString { data, .. }
      | Resp3Frame::BigNumber { data, .. } => Reply::Bytes(data),
      Resp3Frame::SimpleError { data, .. } => Reply::Error(data.to_string()),
      Resp3Frame::BlobError { data, .. } => Reply::Error(String::from_utf8_lossy(&data).into_owned()),
      Resp3Frame::Number { data, .. } => Reply::Int(data),
      Resp3Frame::Double { data, .. } => Reply::Double(data),
      Resp3Frame::Boolean { data, .. } => Reply::Bool(data),
      Resp3Frame::Array { data, .. } | Resp3Frame::Push { data, .. } => {
        Reply::Array(data.into_iter().map(Reply::from_nested_frame).collect())
      }
      Resp3Frame::Set { data, .. } => Reply::Array(data.into_iter().map(Reply::from_nested_frame).collect()),
      Resp3Frame::Map { data, .. } => {
        let mut out = Vec::with_capacity(data.len() * 2);
        for (k, v) in data {
          out.push(Reply::from_nested_frame(k));
          out.push(Reply::from_nested_frame(v));
        }
        Reply::Map(out)
      }
      Resp3Frame::ChunkedString(data) => Reply::Bytes(data),
      Resp3Frame::Hello { .. } => Reply::Nil,
    }
  }

  /// fred's parsed `Value` (pipelines and transactions hand these back).
  pub fn from_value(value: Value) -> Reply {
    match value {
      Value::Null => Reply::Nil,
      Value::Integer(i) => Reply::Int(i),
      Value::Double(d) => Reply::Double(d),
      Value::Boolean(b) => Reply::Bool(b),
      Value::String(s) => Reply::Bytes(s.into_inner()),
      Value::Bytes(b) => Reply::Bytes(b),
      Value::Queued => Reply::from_str("QUEUED"),
      Value::Array(items) => Reply::Array(items.into_iter().map(Reply::from_value).collect()),
      Value::Map(map) => {
        let mut out = Vec::with_capacity(map.len() * 2);
        for (k, v) in map.inner() {
          out.push(Reply::Bytes(k.into_bytes()));
          out.push(Reply::from_value(v));
        }
        Reply::Map(out)
      }
    }
  }

  pub fn as_bytes(&self) -> Option<&[u8]> {
    match self {
      Reply::Bytes(b) => Some(b),
      _ => None,
    }
  }
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn nested_errors_stay_in_place() {
    let frame = Resp3Frame::Array {
      data: vec![
        Resp3Frame::Number { data: 1, attributes: None },
        Resp3Frame::SimpleError { data: "WRONGTYPE x".into(), attributes: None },
      ],
      attributes: None,
    };
    let reply = Reply::from_frame(frame).expect("array is not an error");
    assert_eq!(reply, Reply::Array(vec![Reply::Int(1), Reply::Error("WRONGTYPE x".into())]));
  }

  #[test]
  fn top_level_error_is_err() {
    let frame = Resp3Frame::SimpleError { data: "ERR bad".into(), attributes: None };
    let err = Reply::from_frame(frame).expect_err("error frame");
    assert_eq!(err.kind, ErrorKind::Reply);
    assert_eq!(err.message, "ERR bad");
  }
}
