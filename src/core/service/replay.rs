//! Replaying the outage journal exactly once. Each batch goes to Redis as
//! one script that runs only the writes whose sequence number is above the
//! marker key's, then sets the marker to the last: a batch whose outcome is
//! unknown (the connection died after sending, a timeout) is held and sent
//! again, and Redis skips what already ran, in whatever order the copies
//! arrive. A durable journal's markers are named after its file's id, so a
//! new process replaying what a killed one left skips what it had run.

use std::collections::HashMap;
use std::sync::Mutex;

use fred::prelude::Value;

use crate::core::command::Command;
use crate::core::config::Topology;
use crate::core::error::{Error, ErrorKind, Sent};
use crate::core::journal::JournalEntry;
use crate::core::service::backend::Backend;
use crate::core::service::Service;
use crate::core::topology::cluster::{slot_of, slot_of_value};

/// KEYS[1] the marker; ARGV: marker TTL (ms), then per command its
/// sequence number, argument count, name and arguments. `pcall`: one
/// refused write (say WRONGTYPE) does not stop the rest, as it would not
/// in a pipeline.
const SCRIPT: &str = "local done = tonumber(redis.call('GET', KEYS[1]) or '0') or 0 \
local last = nil \
local i = 2 \
while i <= #ARGV do \
  local n = tonumber(ARGV[i + 1]) \
  if tonumber(ARGV[i]) > done then \
    redis.pcall(unpack(ARGV, i + 2, i + 1 + n)) \
    last = ARGV[i] \
  end \
  i = i + n + 2 \
end \
if last then redis.call('SET', KEYS[1], last, 'PX', ARGV[1]) end \
return 1";

/// How long Redis keeps a marker: a batch held longer than this (Redis
/// unreachable again for 10 minutes right after an unanswered replay) may
/// run twice.
const MARKER_TTL_MS: i64 = 600_000;

/// A durable journal's markers outlive a process that died mid-replay
/// until its successor has replayed (a day: it may be restarted late).
const DURABLE_MARKER_TTL_MS: i64 = 24 * 3600 * 1000;

/// Writes per script outside a cluster (a cluster replays one at a time:
/// a script's keys must share a slot).
const BATCH: usize = 200;

type Batch = Vec<(JournalEntry<Command>, Command)>;

/// This service's replay marker keys.
pub(super) struct ReplayMarkers {
  /// Tells this journal's markers from any other's: the process, or the
  /// durable journal's file.
  id: String,
  /// Cluster: a hash tag per slot, found once.
  tags: Mutex<HashMap<u16, String>>,
}

impl ReplayMarkers {
  /// `durable`: the durable journal's id.
  pub(super) fn new(durable: Option<u64>) -> Self {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    let id = match durable {
      Some(id) => format!("j{id:016x}"),
      None => format!("{:x}-{nanos:x}", std::process::id()),
    };
    ReplayMarkers { id, tags: Mutex::new(HashMap::new()) }
  }

  /// The marker key; in a cluster, one in the slot of `key`.
  fn key(&self, slot: Option<u16>) -> String {
    match slot {
      None => format!("resilis:replay:{}", self.id),
      Some(slot) => format!("resilis:replay:{}:{{{}}}", self.id, self.tag_for(slot)),
    }
  }

  fn tag_for(&self, slot: u16) -> String {
    let mut tags = self.tags.lock().unwrap_or_else(|e| e.into_inner());
    tags
      .entry(slot)
      .or_insert_with(|| {
        // Every slot is hit within a few tens of thousands of candidates.
        (0u32..).map(|n| n.to_string()).find(|t| slot_of(t.as_bytes()) == slot).unwrap_or_default()
      })
      .clone()
  }
}

enum Outcome {
  Landed,
  NotSent,
  Unknown,
  /// The script was refused (no EVAL permission, scripting disabled).
  Refused,
}

/// Redis refused to run scripts at all: no EVAL permission, an unknown
/// command, scripting disabled. Only then is the plain pipeline used.
fn scripts_refused(e: &Error) -> bool {
  let m = e.message.to_ascii_uppercase();
  e.kind == ErrorKind::Reply && (m.starts_with("NOPERM") || m.contains("UNKNOWN COMMAND") || m.contains("DISABLED"))
}

/// Redis answered without running the script (it is loading its data, or
/// busy with another script): nothing ran, the batch goes again as it is.
fn not_run(e: &Error) -> bool {
  e.kind == ErrorKind::Reply && (e.message.starts_with("LOADING") || e.message.starts_with("BUSY"))
}

impl Service {
  /// Replays journalled writes in order; false if Redis failed midway (the
  /// rest stays journalled, a batch in doubt is held under its token).
  pub(super) async fn replay(&self, clients: &Backend) -> bool {
    let fallback = self.resilience.fallback();
    let per_script = if self.in_cluster() { 1 } else { BATCH };
    loop {
      let batch = match fallback.take_held_replay() {
        Some(held) => held,
        None => {
          let batch = fallback.take_replay(per_script);
          if batch.is_empty() {
            return true;
          }
          batch
        }
      };
      let outcome = self.replay_script(clients, &batch).await;
      let (entries, cmds): (Vec<_>, Vec<_>) = batch.into_iter().unzip();
      match outcome {
        Outcome::Landed => fallback.mark_replayed(&entries),
        Outcome::NotSent => {
          fallback.requeue(entries);
          return false;
        }
        Outcome::Unknown => {
          fallback.hold(entries);
          return false;
        }
        Outcome::Refused => {
          if !self.replay_plain(clients, entries, cmds).await {
            return false;
          }
        }
      }
    }
  }

  fn in_cluster(&self) -> bool {
    matches!(self.config.topology, Topology::Cluster { .. })
  }

  async fn replay_script(&self, clients: &Backend, batch: &Batch) -> Outcome {
    let key_slot = batch.first().and_then(|(_, c)| c.slot_key()).map(slot_of_value).filter(|_| self.in_cluster());
    let mut args = vec![Value::from(SCRIPT), Value::Integer(1), Value::from(self.replay_markers.key(key_slot))];
    let durable = self.resilience.fallback().durable_id().is_some();
    args.push(Value::Integer(if durable { DURABLE_MARKER_TTL_MS } else { MARKER_TTL_MS }));
    for (entry, cmd) in batch {
      args.push(Value::from(entry.seq.to_string()));
      args.push(Value::Integer(cmd.args.len() as i64 + 1));
      args.push(Value::from(&*cmd.name));
      args.extend(cmd.args.iter().cloned());
    }
    match clients.send(Command::new("EVAL", args)).await {
      Ok(_) => Outcome::Landed,
      Err(e) if e.sent == Sent::No || not_run(&e) => Outcome::NotSent,
      Err(e) if scripts_refused(&e) => Outcome::Refused,
      // Anything else (a lost connection, a timeout, a client-side failure
      // under a storm of killed connections) may or may not have run: held
      // and sent again under the marker. Taking it for a refusal would
      // replay it as a plain pipeline, whose errors of other kinds counted
      // whole batches as replayed that never reached Redis.
      Err(_) => Outcome::Unknown,
    }
  }

  /// Without scripts: a plain pipeline, at least once (a write whose reply
  /// was lost goes again).
  async fn replay_plain(&self, clients: &Backend, entries: Vec<JournalEntry<Command>>, cmds: Vec<Command>) -> bool {
    let fallback = self.resilience.fallback();
    let results = clients.pipeline(cmds).await;
    match results
      .iter()
      .position(|r| r.as_ref().is_err_and(|e| matches!(e.kind, ErrorKind::Timeout | ErrorKind::Connection)))
    {
      None => {
        fallback.mark_replayed(&entries);
        true
      }
      Some(i) => {
        let mut entries = entries;
        let rest = entries.split_off(i);
        // Put back first: a confirmation covers only what is not pending.
        fallback.requeue(rest);
        fallback.mark_replayed(&entries);
        false
      }
    }
  }
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn only_a_refusal_of_scripting_replays_without_the_marker() {
    let reply = |m: &str| Error::new(ErrorKind::Reply, m);
    assert!(scripts_refused(&reply("NOPERM User app has no permissions to run the 'eval' command")));
    assert!(scripts_refused(&reply("ERR unknown command 'EVAL', with args beginning with: ")));
    assert!(!scripts_refused(&reply("BUSY Redis is busy running a script. You can only call SCRIPT KILL")));
    assert!(not_run(&reply("BUSY Redis is busy running a script. You can only call SCRIPT KILL")));
    assert!(not_run(&reply("LOADING Redis is loading the dataset in memory")));
    // A client-side failure under killed connections is neither: held and sent again.
    let unknown = reply("Connection closed unexpectedly.");
    assert!(!scripts_refused(&unknown) && !not_run(&unknown));
    assert!(!scripts_refused(&Error::new(ErrorKind::Connection, "unknown command")));
  }

  #[test]
  fn a_cluster_marker_shares_its_key_slot() {
    let markers = ReplayMarkers::new(None);
    for key in ["user:1", "{tag}x", "a}b{", "", "queue:{orders}:items"] {
      let slot = slot_of(key.as_bytes());
      assert_eq!(slot_of(markers.key(Some(slot)).as_bytes()), slot, "marker for {key:?}");
    }
    assert_ne!(markers.key(None), ReplayMarkers::new(None).key(None).replace(&markers.id, "other"));
    assert_eq!(ReplayMarkers::new(Some(255)).key(None), "resilis:replay:j00000000000000ff");
    // A numeric key (`set(123, v)`) hashes as its digits.
    let slot = slot_of_value(&Value::Integer(123));
    assert_eq!(slot, slot_of(b"123"));
    assert_eq!(slot_of(markers.key(Some(slot)).as_bytes()), slot);
  }
}
