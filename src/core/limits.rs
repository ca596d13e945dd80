//! What Redis cannot take, refused before any I/O. Redis refuses a bulk
//! string over its `proto-max-bulk-len` (512 MB by default) by closing the
//! connection: sent, such a value would look like an outage (the other
//! commands on that connection fail with it) and, journalled, it would
//! never replay. So a command whose value, or whose arguments in all, are
//! over `maxValueBytes` rejects at once with `ERR_RESILIS_ARGUMENT`; the
//! connection, the breakers and the degraded state never see it.

use fred::prelude::Value;

use crate::core::command::Command;
use crate::core::error::{Error, Result};

/// Redis' default `proto-max-bulk-len`: the default of `maxValueBytes`.
pub const DEFAULT_MAX_VALUE_BYTES: u64 = 512 * 1024 * 1024;

/// The bytes an argument puts on the wire (its RESP header aside).
fn arg_len(v: &Value) -> usize {
  match v {
    Value::Bytes(b) => b.len(),
    Value::String(s) => s.len(),
    // Numbers are formatted: at most 24 characters.
    _ => 24,
  }
}

/// Argument `position` (1-based) is `len` bytes, over `limit`. The
/// binding says so before copying a Buffer out of JS (the command's name
/// is put in front by the caller).
pub fn oversized_arg(position: usize, len: u64, limit: u64) -> Error {
  Error::argument(format!(
    "argument {position} is {len} bytes, over maxValueBytes ({limit} bytes); Redis refuses bulk strings over its \
     proto-max-bulk-len (512 MB by default): raise maxValueBytes only for a server configured to take more"
  ))
}

/// Refuses a command with a value, or arguments in all, over `limit` bytes.
pub fn check_size(cmd: &Command, limit: u64) -> Result<()> {
  let mut total = cmd.name.len() as u64;
  for (i, arg) in cmd.args.iter().enumerate() {
    let len = arg_len(arg) as u64;
    if len > limit {
      let mut e = oversized_arg(i + 1, len, limit);
      e.message = format!("{}: {}", cmd.name, e.message);
      return Err(e);
    }
    total += len;
  }
  if total > limit {
    return Err(Error::argument(format!(
      "{}: its arguments are {total} bytes in all, over maxValueBytes ({limit} bytes); split the command",
      cmd.name
    )));
  }
  Ok(())
}

/// The first command of `cmds` over the limit, as its error.
pub fn check_all(cmds: &[Command], limit: u64) -> Result<()> {
  cmds.iter().try_for_each(|c| check_size(c, limit))
}

#[cfg(test)]
mod tests {
  use super::*;
  use bytes::Bytes;

  fn set(len: usize) -> Command {
    Command::new("set", vec![Value::from("k"), Value::Bytes(Bytes::from(vec![b'x'; len]))])
  }

  #[test]
  fn values_and_totals_over_the_limit_are_refused_with_size_and_limit() {
    assert!(check_size(&set(1000), 1000 + 4).is_ok());
    let e = check_size(&set(1001), 1000).err().map(|e| (e.code(), e.message)).unwrap_or_default();
    assert_eq!(e.0, "ERR_RESILIS_ARGUMENT");
    assert!(e.1.contains("argument 2 is 1001 bytes") && e.1.contains("(1000 bytes)"), "{}", e.1);
    let mset = Command::new(
      "mset",
      vec![Value::from("a"), Value::from("x".repeat(600)), Value::from("b"), Value::from("y".repeat(600))],
    );
    let e = check_size(&mset, 1000).err().map(|e| e.message).unwrap_or_default();
    assert!(e.contains("1206 bytes in all"), "{e}");
    assert!(check_all(&[set(10), mset], 1000).is_err());
    assert_eq!(DEFAULT_MAX_VALUE_BYTES, 536_870_912);
  }
}
