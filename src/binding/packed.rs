//! The packed batch JS sends once a tick (lib/dispatcher.js `send`): every
//! string argument, command names included, concatenated into one JS
//! string; per command `id, flags, count, len...` in a Uint32Array, where a
//! `len` with the top bit set is not a string but `others[index]` (numbers,
//! Buffers, bad values; `others` is left out when there are none). A
//! tick's strings cost three napi calls, instead of about four per
//! argument with a flat JS array.

use bytes::{Bytes, BytesMut};
use fred::prelude::Value;
use napi::bindgen_prelude::Array;
use napi::sys;

use crate::binding::args::{arg_at, command_from, Arena};
use crate::core::command::Command;
use crate::core::copies::COPIES;
use crate::core::error::{Error, ErrorKind};

/// The top bit of a length: the argument is `others[len & !OTHER]`.
pub const OTHER: u32 = 0x8000_0000;

/// The concatenated strings as UTF-8, cut by the UTF-16 lengths JS knows.
pub struct Text {
  bytes: Bytes,
  /// One byte per UTF-16 unit: lengths are byte counts.
  ascii: bool,
  at: usize,
}

impl Text {
  /// Copies the JS string out of V8 once.
  ///
  /// # Safety
  /// `env` and `v` come from the current napi call.
  pub unsafe fn read(env: sys::napi_env, v: sys::napi_value) -> Result<Text, Error> {
    // The UTF-16 length is O(1) in V8 and bounds the UTF-8 length (x3).
    let mut units = 0usize;
    if sys::napi_get_value_string_utf16(env, v, std::ptr::null_mut(), 0, &mut units) != sys::Status::napi_ok {
      return Err(Error::argument("the batch's text is not a string"));
    }
    let room = units * 3 + 1;
    let mut buf = BytesMut::with_capacity(room);
    let mut written = 0usize;
    let spare = buf.spare_capacity_mut();
    if sys::napi_get_value_string_utf8(env, v, spare.as_mut_ptr().cast(), room, &mut written) != sys::Status::napi_ok {
      return Err(Error::argument("could not read the batch's text"));
    }
    // SAFETY: napi wrote `written` initialised bytes (plus a NUL left out).
    buf.set_len(written);
    COPIES.from_js(written);
    Ok(Text { bytes: buf.freeze(), ascii: written == units, at: 0 })
  }

  /// The next string: `units` UTF-16 code units' worth of UTF-8.
  pub fn take(&mut self, units: usize) -> Option<Bytes> {
    let start = self.at;
    let end = if self.ascii { start.checked_add(units)? } else { utf8_end(&self.bytes, start, units)? };
    if end > self.bytes.len() {
      return None;
    }
    self.at = end;
    Some(self.bytes.slice(start..end))
  }
}

/// Where `units` UTF-16 units starting at `at` end in UTF-8: a 4-byte
/// sequence is a surrogate pair (two units), any other one unit (V8
/// writes a lone surrogate as the 3-byte U+FFFD).
fn utf8_end(b: &[u8], mut at: usize, units: usize) -> Option<usize> {
  let mut counted = 0;
  while counted < units {
    let (width, n) = match *b.get(at)? {
      0..=0x7f => (1, 1),
      0xc0..=0xdf => (2, 1),
      0xe0..=0xef => (3, 1),
      _ => (4, 2),
    };
    at += width;
    counted += n;
  }
  Some(at)
}

/// One command of the batch: its promise's id, whether it wants Buffers,
/// and the command or why it cannot be sent.
pub struct Entry {
  pub id: u32,
  pub flags: u32,
  pub cmd: Result<Command, Error>,
}

fn malformed() -> Error {
  Error::new(ErrorKind::Internal, "a malformed command batch")
}

/// Reads every command of a packed batch and hands each to `each`, in
/// order; strings and Buffers kept aside are copied into one arena for
/// the whole batch.
pub fn read_batch(
  text: &mut Text,
  ints: &[u32],
  others: Option<&Array<'_>>,
  max_value: u64,
  mut each: impl FnMut(Entry),
) {
  let mut arena = Arena::new(max_value);
  let mut i = 0;
  while i + 3 <= ints.len() {
    let (id, flags, count) = (ints[i], ints[i + 1], ints[i + 2] as usize);
    i += 3;
    let Some(lens) = ints.get(i..i + count).filter(|l| !l.is_empty()) else {
      each(Entry { id, flags, cmd: Err(malformed()) });
      break;
    };
    i += count;
    each(Entry { id, flags, cmd: read_command(text, lens, others, &mut arena) });
  }
}

/// `lens[0]` is the name, the rest the arguments. A bad argument fails
/// the command (the others of the batch go on).
fn read_command(
  text: &mut Text,
  lens: &[u32],
  others: Option<&Array<'_>>,
  arena: &mut Arena,
) -> Result<Command, Error> {
  let name = text.take(lens[0] as usize).ok_or_else(malformed)?;
  let name = Command::name_from(&name);
  let args = lens[1..].iter().enumerate().map(|(at, &len)| {
    if len & OTHER == 0 {
      text.take(len as usize).map(Value::Bytes).ok_or_else(malformed)
    } else {
      others.ok_or_else(malformed).and_then(|others| arg_at(others, len & !OTHER, at + 1, arena))
    }
  });
  command_from(name, args)
}

#[cfg(test)]
mod tests {
  use super::*;

  fn text(s: &str) -> Text {
    let units = s.encode_utf16().count();
    Text { bytes: Bytes::copy_from_slice(s.as_bytes()), ascii: units == s.len(), at: 0 }
  }

  #[test]
  fn cuts_by_utf16_lengths() {
    let mut t = text("GETkey:1é€😀xyz");
    assert_eq!(t.take(3).as_deref(), Some(&b"GET"[..]));
    assert_eq!(t.take(5).as_deref(), Some(&b"key:1"[..]));
    // é (2 bytes, 1 unit), € (3 bytes, 1 unit), 😀 (4 bytes, 2 units)
    assert_eq!(t.take(4).as_deref(), Some("é€😀".as_bytes()));
    assert_eq!(t.take(3).as_deref(), Some(&b"xyz"[..]));
    assert_eq!(t.take(1), None);
    let mut a = text("abc");
    assert_eq!(a.take(4), None);
    assert_eq!(a.take(0).as_deref(), Some(&b""[..]));
  }
}
