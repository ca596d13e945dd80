//! JS arguments -> core commands. A submitted batch is one flat JS array
//! (`[id, flags, name, argc, ...args]` repeated), read with one napi call
//! per element and no intermediate JS objects.

use bytes::{Bytes, BytesMut};
use fred::prelude::Value;
use napi::bindgen_prelude::{Array, Buffer, FromNapiValue, Unknown, ValueType};
use napi::{sys, JsValue};

use crate::core::command::{Command, Name};
use crate::core::copies::COPIES;
use crate::core::error::Error;
use crate::core::limits::oversized_arg;

/// Where a batch's string arguments are written: one growing buffer, each
/// argument a shared slice of it, instead of one allocation per argument.
pub struct Arena {
  buf: BytesMut,
  /// `maxValueBytes`: a larger Buffer is refused before it is copied.
  max_value: u64,
}

impl Arena {
  pub fn new(max_value: u64) -> Self {
    Arena { buf: BytesMut::new(), max_value }
  }

  /// Copies a JS string's UTF-8 bytes in (one copy out of V8).
  unsafe fn string(&mut self, env: sys::napi_env, v: sys::napi_value) -> Result<Bytes, Error> {
    // The UTF-16 length is O(1) in V8 and bounds the UTF-8 length (x3):
    // one pass over the string instead of measuring it first.
    let mut units = 0usize;
    let status = sys::napi_get_value_string_utf16(env, v, std::ptr::null_mut(), 0, &mut units);
    if status != sys::Status::napi_ok {
      return Err(Error::argument("could not read a string argument"));
    }
    let room = units * 3 + 1;
    if self.buf.capacity() - self.buf.len() < room {
      self.buf.reserve(room.max(16 * 1024));
    }
    let spare = self.buf.spare_capacity_mut();
    let mut written = 0usize;
    let status = sys::napi_get_value_string_utf8(env, v, spare.as_mut_ptr().cast(), room, &mut written);
    if status != sys::Status::napi_ok {
      return Err(Error::argument("could not read a string argument"));
    }
    // SAFETY: napi wrote `written` initialised bytes (plus a NUL we drop).
    self.buf.set_len(self.buf.len() + written);
    COPIES.from_js(written);
    Ok(self.buf.split().freeze())
  }
}

/// Converts one JS argument. Strings are written once into the batch's
/// arena; Buffers are copied once; numbers are formatted by Redis' rules
/// (integers without a decimal point).
pub fn to_value(v: Unknown<'_>, position: usize, arena: &mut Arena) -> Result<Value, Error> {
  let kind = v.get_type().map_err(|e| Error::argument(e.reason.clone()))?;
  match kind {
    ValueType::String => Ok(Value::Bytes(unsafe { arena.string(v.value().env, v.raw()) }?)),
    ValueType::Number => {
      let n = unsafe { f64::from_napi_value(v.value().env, v.raw()) }.map_err(|e| Error::argument(e.reason.clone()))?;
      if n.is_finite() && n.fract() == 0.0 && n.abs() < 9.007_199_254_740_992e15 {
        Ok(Value::Integer(n as i64))
      } else if n.is_nan() {
        Err(Error::argument(format!("argument {position} is NaN; pass a number, string or Buffer")))
      } else {
        Ok(Value::Double(n))
      }
    }
    ValueType::Object => {
      let buf = unsafe { Buffer::from_napi_value(v.value().env, v.raw()) }
        .map_err(|_| Error::argument(format!("argument {position} is an object; pass a string, number or Buffer")))?;
      if buf.len() as u64 > arena.max_value {
        // Not copied: a value Redis cannot take costs no allocation.
        return Err(oversized_arg(position, buf.len() as u64, arena.max_value));
      }
      COPIES.from_js(buf.len());
      Ok(Value::Bytes(Bytes::copy_from_slice(&buf)))
    }
    ValueType::BigInt => {
      Err(Error::argument(format!("argument {position} is a BigInt; pass it as a string (String(value))")))
    }
    other => {
      Err(Error::argument(format!("argument {position} is {}; pass a string, number or Buffer", type_name(other))))
    }
  }
}

fn type_name(t: ValueType) -> &'static str {
  match t {
    ValueType::Undefined => "undefined",
    ValueType::Null => "null",
    ValueType::Boolean => "a boolean",
    ValueType::Symbol => "a symbol",
    ValueType::Function => "a function",
    ValueType::External => "an external",
    _ => "of an unsupported type",
  }
}

/// `array[index]` as a command's argument at `position` (1-based).
pub fn arg_at(array: &Array<'_>, index: u32, position: usize, arena: &mut Arena) -> Result<Value, Error> {
  match array.get::<Unknown>(index) {
    Ok(Some(v)) => to_value(v, position, arena),
    _ => Err(Error::argument(format!("argument {position} is missing"))),
  }
}

/// The command from its arguments as converted, in order: every one is
/// consumed, and the first bad one fails the command, named after it.
pub fn command_from(name: Name, args: impl ExactSizeIterator<Item = Result<Value, Error>>) -> Result<Command, Error> {
  let mut values = Vec::with_capacity(args.len());
  let mut first_error = None;
  for arg in args {
    match arg {
      Ok(v) => values.push(v),
      Err(e) => {
        first_error.get_or_insert(e);
      }
    }
  }
  match first_error {
    Some(mut e) => {
      e.message = format!("{}: {}", name.text, e.message);
      Err(e)
    }
    None => Ok(Command::named(name, values)),
  }
}

/// Reads one command at `*pos`: `name, argc, ...args`. On a bad argument
/// the whole command is skipped and the error returned.
pub fn read_command(batch: &Array<'_>, pos: &mut u32, arena: &mut Arena) -> Result<Command, Error> {
  let name: String =
    batch.get::<String>(*pos).ok().flatten().ok_or_else(|| Error::argument("command name must be a string"))?;
  let argc: u32 = batch.get::<u32>(*pos + 1).ok().flatten().unwrap_or(0);
  let start = *pos + 2;
  *pos = start + argc;
  command_from(
    Command::name_from(name.as_bytes()),
    (start..start + argc).map(|i| arg_at(batch, i, (i - start + 1) as usize, arena)),
  )
}
