//! Cluster helpers: multi-key commands whose keys live in several slots are
//! split into one command per slot and the replies merged back in the
//! caller's order (MGET values in place, MSET one OK, DEL/UNLINK/EXISTS/
//! TOUCH counts summed); wording of redirection and CLUSTERDOWN failures.

use std::collections::BTreeMap;
use std::time::Duration;

use fred::prelude::Value;

use crate::core::command::Command;
use crate::core::error::{Error, ErrorKind, Result};
use crate::core::reply::Reply;

#[derive(Clone, Debug)]
pub struct ClusterOptions {
  pub scale_reads: bool,
  pub cluster_down_delay: Duration,
  pub cluster_down_retries: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Merge {
  /// MGET: one value per key, in the caller's order.
  Values,
  /// MSET: OK when every part said OK.
  AllOk,
  /// DEL, UNLINK, EXISTS, TOUCH: the counts summed.
  Sum,
}

/// One command per slot: the original positions (of keys) and the command.
#[derive(Debug)]
pub struct Part {
  pub positions: Vec<usize>,
  pub cmd: Command,
}

pub fn slot_of(key: &[u8]) -> u16 {
  fred::util::redis_keyslot(key)
}

/// The slot of a key argument as Redis will see it (numbers as their digits).
pub fn slot_of_value(v: &Value) -> u16 {
  match v {
    Value::Bytes(b) => slot_of(b),
    Value::String(s) => slot_of(s.as_bytes()),
    Value::Integer(i) => slot_of(i.to_string().as_bytes()),
    Value::Double(d) => slot_of(d.to_string().as_bytes()),
    _ => 0,
  }
}

fn arg_bytes(v: &Value) -> Option<Vec<u8>> {
  match v {
    Value::Bytes(b) => Some(b.to_vec()),
    Value::String(s) => Some(s.as_bytes().to_vec()),
    Value::Integer(i) => Some(i.to_string().into_bytes()),
    Value::Double(d) => Some(d.to_string().into_bytes()),
    _ => None,
  }
}

fn merge_kind(name: &str) -> Option<(Merge, usize)> {
  let n = name.to_ascii_uppercase();
  match n.as_str() {
    "MGET" => Some((Merge::Values, 1)),
    "MSET" => Some((Merge::AllOk, 2)),
    "DEL" | "UNLINK" | "EXISTS" | "TOUCH" => Some((Merge::Sum, 1)),
    _ => None,
  }
}

/// `None` when the command is not a splittable multi-key command or all
/// its keys share one slot (it goes as it is).
pub fn split(cmd: &Command) -> Option<(Merge, Vec<Part>)> {
  let (merge, stride) = merge_kind(&cmd.name)?;
  if cmd.args.len() < 2 * stride || !cmd.args.len().is_multiple_of(stride) {
    return None;
  }
  let mut by_slot: BTreeMap<u16, Part> = BTreeMap::new();
  let mut order: Vec<u16> = Vec::new();
  for (i, chunk) in cmd.args.chunks(stride).enumerate() {
    let key = arg_bytes(&chunk[0])?;
    let slot = slot_of(&key);
    let part = by_slot.entry(slot).or_insert_with(|| {
      order.push(slot);
      Part { positions: Vec::new(), cmd: Command::new(cmd.name.clone(), Vec::new()) }
    });
    part.positions.push(i);
    part.cmd.args.extend(chunk.iter().cloned());
  }
  if by_slot.len() < 2 {
    return None;
  }
  let parts = order.into_iter().filter_map(|s| by_slot.remove(&s)).collect();
  Some((merge, parts))
}

/// The parts' replies (in the order of `parts`) as one reply.
pub fn merge(merge: Merge, parts: &[Part], replies: Vec<Result<Reply>>) -> Result<Reply> {
  match merge {
    Merge::Values => {
      let total = parts.iter().map(|p| p.positions.len()).sum();
      let mut out: Vec<Reply> = vec![Reply::Nil; total];
      for (part, reply) in parts.iter().zip(replies) {
        match reply? {
          Reply::Array(items) if items.len() == part.positions.len() => {
            for (pos, item) in part.positions.iter().zip(items) {
              if let Some(slot) = out.get_mut(*pos) {
                *slot = item;
              }
            }
          }
          other => {
            return Err(Error::new(
              ErrorKind::Internal,
              format!("MGET part answered {other:?}, not an array of its keys"),
            ))
          }
        }
      }
      Ok(Reply::Array(out))
    }
    Merge::AllOk => {
      for reply in replies {
        reply?;
      }
      Ok(Reply::ok())
    }
    Merge::Sum => {
      let mut sum = 0i64;
      for reply in replies {
        match reply? {
          Reply::Int(n) => sum += n,
          other => return Err(Error::new(ErrorKind::Internal, format!("a counting part answered {other:?}"))),
        }
      }
      Ok(Reply::Int(sum))
    }
  }
}

/// fred's "Max attempts reached." (its ASK path) and "Too many
/// redirections." in a cluster: name the redirection loop and the slot. It
/// is the cluster answering MOVED/ASK, not Redis being unreachable, so it is
/// a reply error (the fallback store must not answer in its place), and the
/// command did not run.
pub fn explain_routing(e: Error, cmd_slot: Option<u16>) -> Error {
  let lower = e.message.to_ascii_lowercase();
  if lower.contains("max attempts reached") || lower.contains("too many redirections") {
    let slot = cmd_slot.map(|s| format!(" for slot {s}")).unwrap_or_default();
    return Error::new(
      ErrorKind::Reply,
      format!(
        "too many MOVED/ASK redirections{slot}: the cluster keeps redirecting the command (a slot migration in progress or a misconfigured slot); {}",
        e.message
      ),
    )
    .with_sent(crate::core::error::Sent::No);
  }
  e
}

pub fn is_cluster_down(e: &Error) -> bool {
  e.kind == ErrorKind::Reply && e.message.starts_with("CLUSTERDOWN")
}

#[cfg(test)]
mod tests {
  use super::*;

  fn cmd(name: &str, args: &[&str]) -> Command {
    Command::new(name.to_string(), args.iter().map(|a| Value::from(*a)).collect())
  }

  #[test]
  fn one_slot_is_not_split() {
    assert!(split(&cmd("mget", &["{t}a", "{t}b"])).is_none());
    assert!(split(&cmd("get", &["a"])).is_none());
  }

  #[test]
  fn mget_split_and_merged_in_order() {
    let keys = ["a", "b", "c", "d", "e", "f"];
    let (merge_kind, parts) = split(&cmd("MGET", &keys)).expect("several slots");
    assert_eq!(merge_kind, Merge::Values);
    assert!(parts.len() > 1);
    let mut seen: Vec<usize> = parts.iter().flat_map(|p| p.positions.clone()).collect();
    seen.sort();
    assert_eq!(seen, vec![0, 1, 2, 3, 4, 5]);
    // Each part answers its own keys' names as values.
    let replies = parts
      .iter()
      .map(|p| {
        Ok(Reply::Array(p.cmd.args.iter().map(|a| Reply::from_str(&a.as_string().unwrap_or_default())).collect()))
      })
      .collect();
    let merged = merge(Merge::Values, &parts, replies).expect("merge");
    assert_eq!(merged, Reply::Array(keys.iter().map(|k| Reply::from_str(k)).collect()));
  }

  #[test]
  fn mset_pairs_stay_together_and_counts_sum() {
    let (_, parts) = split(&cmd("mset", &["a", "1", "b", "2", "c", "3"])).expect("split");
    for p in &parts {
      assert_eq!(p.cmd.args.len(), p.positions.len() * 2);
    }
    let (kind, parts) = split(&cmd("del", &["a", "b", "c"])).expect("split");
    let replies = parts.iter().map(|p| Ok(Reply::Int(p.positions.len() as i64))).collect();
    assert_eq!(merge(kind, &parts, replies).expect("sum"), Reply::Int(3));
  }

  #[test]
  fn redirection_errors_are_named() {
    let e = explain_routing(Error::new(ErrorKind::Connection, "Max attempts reached."), Some(42));
    assert!(e.message.contains("MOVED/ASK") && e.message.contains("slot 42"), "{}", e.message);
    assert_eq!(e.kind, ErrorKind::Reply);
    let e = explain_routing(Error::new(ErrorKind::Connection, "Too many redirections."), None);
    assert!(e.message.starts_with("too many MOVED/ASK redirections:"), "{}", e.message);
    let e = explain_routing(Error::new(ErrorKind::Connection, "refused"), Some(1));
    assert_eq!(e.message, "refused");
  }
}
