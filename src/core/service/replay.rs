//! Replaying the outage journal exactly once. Each batch goes to Redis as
//! one script that first checks and sets a marker key to the batch's token:
//! a batch whose outcome is unknown (the connection died after sending, a
//! timeout) is held and sent again under the same token, and Redis skips it
//! if it already ran, in whatever order the two copies arrive.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use fred::prelude::Value;

use crate::core::client::RedisClients;
use crate::core::command::Command;
use crate::core::config::Topology;
use crate::core::error::{ErrorKind, Sent};
use crate::core::journal::JournalEntry;
use crate::core::service::Service;
use crate::core::topology::cluster::{slot_of, slot_of_value};

/// KEYS[1] the marker; ARGV: token, marker TTL (ms), then per command its
/// argument count, name and arguments. `pcall`: one refused write (say
/// WRONGTYPE) does not stop the rest, as it would not in a pipeline.
const SCRIPT: &str = "if redis.call('GET', KEYS[1]) == ARGV[1] then return 0 end \
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) \
local i = 3 \
while i <= #ARGV do \
  local n = tonumber(ARGV[i]) \
  redis.pcall(unpack(ARGV, i + 1, i + n)) \
  i = i + n + 1 \
end \
return 1";

/// How long Redis keeps a marker: a batch held longer than this (Redis
/// unreachable again for 10 minutes right after an unanswered replay) may
/// run twice.
const MARKER_TTL_MS: i64 = 600_000;

/// Writes per script outside a cluster (a cluster replays one at a time:
/// a script's keys must share a slot).
const BATCH: usize = 200;

type Batch = Vec<(JournalEntry<Command>, Command)>;

/// This service's replay tokens and marker keys.
pub(super) struct ReplayMarkers {
  /// Tells this process's markers from any other's.
  id: String,
  next_token: AtomicU64,
  /// Cluster: a hash tag per slot, found once.
  tags: Mutex<HashMap<u16, String>>,
}

impl ReplayMarkers {
  pub(super) fn new() -> Self {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    ReplayMarkers { id: format!("{:x}-{nanos:x}", std::process::id()), next_token: AtomicU64::new(1), tags: Mutex::new(HashMap::new()) }
  }

  fn token(&self) -> u64 {
    self.next_token.fetch_add(1, Ordering::Relaxed)
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

impl Service {
  /// Replays journalled writes in order; false if Redis failed midway (the
  /// rest stays journalled, a batch in doubt is held under its token).
  pub(super) async fn replay(&self, clients: &RedisClients) -> bool {
    let fallback = self.resilience.fallback();
    let per_script = if self.in_cluster() { 1 } else { BATCH };
    loop {
      let (batch, token) = match fallback.take_held_replay() {
        Some(held) => held,
        None => {
          let batch = fallback.take_replay(per_script);
          if batch.is_empty() {
            return true;
          }
          (batch, self.replay_markers.token())
        },
      };
      let outcome = self.replay_script(clients, &batch, token).await;
      let (entries, cmds): (Vec<_>, Vec<_>) = batch.into_iter().unzip();
      match outcome {
        Outcome::Landed => fallback.mark_replayed(entries.len()),
        Outcome::NotSent => {
          fallback.requeue(entries);
          return false;
        },
        Outcome::Unknown => {
          fallback.hold(entries, token);
          return false;
        },
        Outcome::Refused => {
          if !self.replay_plain(clients, entries, cmds).await {
            return false;
          }
        },
      }
    }
  }

  fn in_cluster(&self) -> bool {
    matches!(self.config.topology, Topology::Cluster { .. })
  }

  async fn replay_script(&self, clients: &RedisClients, batch: &Batch, token: u64) -> Outcome {
    let key_slot = batch.first().and_then(|(_, c)| c.slot_key()).map(slot_of_value).filter(|_| self.in_cluster());
    let mut args = vec![Value::from(SCRIPT), Value::Integer(1), Value::from(self.replay_markers.key(key_slot))];
    args.push(Value::from(token.to_string()));
    args.push(Value::Integer(MARKER_TTL_MS));
    for (_, cmd) in batch {
      args.push(Value::Integer(cmd.args.len() as i64 + 1));
      args.push(Value::from(&*cmd.name));
      args.extend(cmd.args.iter().cloned());
    }
    match clients.send(Command::new("EVAL", args)).await {
      Ok(_) => Outcome::Landed,
      Err(e) if matches!(e.kind, ErrorKind::Timeout | ErrorKind::Connection) => {
        if e.sent == Sent::No { Outcome::NotSent } else { Outcome::Unknown }
      },
      Err(_) => Outcome::Refused,
    }
  }

  /// Without scripts: a plain pipeline, at least once (a write whose reply
  /// was lost goes again).
  async fn replay_plain(&self, clients: &RedisClients, entries: Vec<JournalEntry<Command>>, cmds: Vec<Command>) -> bool {
    let fallback = self.resilience.fallback();
    let results = clients.pipeline(cmds).await;
    match results.iter().position(|r| r.as_ref().is_err_and(|e| matches!(e.kind, ErrorKind::Timeout | ErrorKind::Connection))) {
      None => {
        fallback.mark_replayed(entries.len());
        true
      },
      Some(i) => {
        fallback.mark_replayed(i);
        fallback.requeue(entries.into_iter().skip(i).collect());
        false
      },
    }
  }
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn a_cluster_marker_shares_its_key_slot() {
    let markers = ReplayMarkers::new();
    for key in ["user:1", "{tag}x", "a}b{", "", "queue:{orders}:items"] {
      let slot = slot_of(key.as_bytes());
      assert_eq!(slot_of(markers.key(Some(slot)).as_bytes()), slot, "marker for {key:?}");
    }
    assert_ne!(markers.key(None), ReplayMarkers::new().key(None).replace(&markers.id, "other"));
    assert_ne!(markers.token(), markers.token());
    // A numeric key (`set(123, v)`) hashes as its digits.
    let slot = slot_of_value(&Value::Integer(123));
    assert_eq!(slot, slot_of(b"123"));
    assert_eq!(slot_of(markers.key(Some(slot)).as_bytes()), slot);
  }
}
