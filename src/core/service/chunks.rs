//! A tick's commands cut into batches for `Service::submit`. A batch
//! settles when its last reply is in: heavy commands (MGET of many keys,
//! large values, scripts) go out in several batches, so the first replies
//! settle, and their callers send again, while Redis works on the rest.

use crate::core::command::Command;
use crate::core::served::Settle;

/// Weight (arguments, see `weight`) per batch.
pub const CHUNK_WEIGHT: usize = 128;

/// Argument bytes that weigh as much as one argument: a tick of 16 KiB SETs
/// goes out as chunks of 7 that settle apart (their callers send again
/// while Redis reads the rest: SET 16 KiB at 16 in flight 44k -> 60k/s).
const CHUNK_UNIT_BYTES: usize = 1024;

/// Scripts run long on the server, and Redis answers all the commands it
/// read at once only after running them all: each goes in a chunk and a
/// write of its own, so Redis starts on the first while the rest arrive
/// (one write for a tick of scripts measured 0.5x ioredis' throughput).
/// The one place that knows which commands are scripts (the command
/// table's script flag replaces it).
pub fn is_script(cmd: &Command) -> bool {
  cmd.has(crate::core::commands::SCRIPT)
}

/// A command's share of a chunk: its arguments and their size; a script
/// fills one.
fn weight(cmd: &Command) -> usize {
  if is_script(cmd) {
    CHUNK_WEIGHT
  } else {
    let bytes: usize = cmd.args.iter().map(|a| if let fred::prelude::Value::Bytes(b) = a { b.len() } else { 0 }).sum();
    cmd.args.len().max(1) + bytes / CHUNK_UNIT_BYTES
  }
}

/// Collects a tick's commands, each with its caller's tag `T`, into
/// batches; `settle` turns a full batch's tags into the callback that
/// hands each caller its result.
pub struct Chunks<T, F: FnMut(Vec<T>) -> Settle> {
  batches: Vec<(Vec<Command>, Settle)>,
  cmds: Vec<Command>,
  tags: Vec<T>,
  weight: usize,
  settle: F,
}

impl<T, F: FnMut(Vec<T>) -> Settle> Chunks<T, F> {
  /// `expected`: about how many commands the tick holds.
  pub fn new(expected: usize, settle: F) -> Self {
    let room = expected.min(CHUNK_WEIGHT);
    Chunks { batches: Vec::new(), cmds: Vec::with_capacity(room), tags: Vec::with_capacity(room), weight: 0, settle }
  }

  pub fn push(&mut self, cmd: Command, tag: T) {
    if self.weight >= CHUNK_WEIGHT {
      self.cut();
    }
    self.weight += weight(&cmd);
    self.tags.push(tag);
    self.cmds.push(cmd);
  }

  fn cut(&mut self) {
    let room = self.cmds.len();
    let cmds = std::mem::replace(&mut self.cmds, Vec::with_capacity(room));
    let tags = std::mem::replace(&mut self.tags, Vec::with_capacity(room));
    self.weight = 0;
    self.batches.push((cmds, (self.settle)(tags)));
  }

  /// The batches, in order, for `Service::submit`.
  pub fn into_batches(mut self) -> Vec<(Vec<Command>, Settle)> {
    if !self.cmds.is_empty() {
      // The last batch: taken as it is, no room kept for another.
      let tags = std::mem::take(&mut self.tags);
      self.batches.push((std::mem::take(&mut self.cmds), (self.settle)(tags)));
    }
    self.batches
  }
}

#[cfg(test)]
mod tests {
  use super::*;
  use fred::prelude::Value;

  fn chunked(cmds: Vec<Command>) -> Vec<usize> {
    let mut chunks = Chunks::new(cmds.len(), |tags: Vec<usize>| -> Settle {
      let _ = tags;
      Box::new(|_| {})
    });
    for (i, cmd) in cmds.into_iter().enumerate() {
      chunks.push(cmd, i);
    }
    chunks.into_batches().iter().map(|(cmds, _)| cmds.len()).collect()
  }

  fn get(i: usize) -> Command {
    Command::new("GET", vec![Value::from(format!("k{i}"))])
  }

  #[test]
  fn light_commands_share_a_batch_up_to_the_weight() {
    // GET k weighs 1: 128 per batch.
    assert_eq!(chunked((0..300).map(get).collect()), vec![128, 128, 44]);
  }

  #[test]
  fn each_script_gets_a_batch_of_its_own() {
    let eval = || Command::new("EVALSHA", vec![Value::from("abc"), Value::from(0)]);
    assert_eq!(chunked(vec![eval(), eval(), get(1)]), vec![1, 1, 1]);
    assert!(is_script(&Command::new("fcall_ro", Vec::new())));
    assert!(!is_script(&Command::new("GET", Vec::new())));
  }

  #[test]
  fn large_values_weigh_by_their_size() {
    let set =
      |i: usize| Command::new("SET", vec![Value::from(format!("k{i}")), Value::Bytes(vec![0u8; 16 * 1024].into())]);
    // 2 arguments + 16 units = 18 each: 8 fill a batch (7 reach 126).
    assert_eq!(chunked((0..16).map(set).collect()), vec![8, 8]);
  }
}
