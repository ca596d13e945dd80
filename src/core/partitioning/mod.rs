//! Placement of keys over independent Redis servers (issue 20): which node
//! owns a key. Pure functions over a node list; the JS facade
//! (`lib/partitioning.js`) does the connections and the migration.
//!
//! Consistent placement is rendezvous (highest random weight) hashing: a key
//! goes to the node whose `mix(hash(key) ^ hash(node))` is largest. Chosen
//! over a ring with virtual nodes and over jump hashing by the figures in
//! `tests::figures` (README "Partitioning"): the best spread, and a join or
//! leave moves only the keys that must move, for any node, not only the last.

pub mod hash;
pub mod range;

use crate::core::error::Error;
pub use hash::{hash_slot_key, key_hash, node_hash};
pub use range::{Bound, Range};

/// The placement rule of one partitioned deployment.
#[derive(Debug, Clone)]
pub enum Placement {
  /// Rendezvous hashing over `nodes` (their names as given).
  Consistent { nodes: Vec<String>, seeds: Vec<u64> },
  /// Explicit ranges, each naming a node by its index in `nodes`.
  Range { nodes: Vec<String>, ranges: Vec<Range> },
}

impl Placement {
  pub fn consistent(nodes: Vec<String>) -> Result<Self, Error> {
    check_nodes(&nodes)?;
    let seeds = nodes.iter().map(|n| node_hash(n)).collect();
    Ok(Placement::Consistent { nodes, seeds })
  }

  pub fn range(nodes: Vec<String>, ranges: Vec<Range>) -> Result<Self, Error> {
    check_nodes(&nodes)?;
    if ranges.is_empty() {
      return Err(Error::argument("partitioning: strategy 'range' needs at least one range"));
    }
    for r in &ranges {
      if r.node >= nodes.len() {
        return Err(Error::argument("partitioning: a range names a node that is not in `nodes`"));
      }
    }
    Ok(Placement::Range { nodes, ranges })
  }

  pub fn nodes(&self) -> &[String] {
    match self {
      Placement::Consistent { nodes, .. } | Placement::Range { nodes, .. } => nodes,
    }
  }

  /// The index (in `nodes()`) of the node that owns `key`; `None` when no
  /// range covers it.
  pub fn owner(&self, key: &[u8]) -> Option<usize> {
    match self {
      Placement::Consistent { seeds, .. } => Some(rendezvous(key_hash(key), seeds)),
      Placement::Range { ranges, .. } => range::owner(ranges, hash_slot_key(key)),
    }
  }
}

fn check_nodes(nodes: &[String]) -> Result<(), Error> {
  if nodes.is_empty() {
    return Err(Error::argument("partitioning: at least one node is needed"));
  }
  for (i, n) in nodes.iter().enumerate() {
    if n.is_empty() {
      return Err(Error::argument("partitioning: a node name is empty"));
    }
    if nodes[..i].contains(n) {
      return Err(Error::argument(format!("partitioning: node {n} is listed twice")));
    }
  }
  Ok(())
}

/// The index of the largest score; ties (astronomically rare) go to the first.
pub fn rendezvous(key: u64, seeds: &[u64]) -> usize {
  let mut best = 0;
  let mut best_score = 0u64;
  for (i, s) in seeds.iter().enumerate() {
    let score = hash::mix(key ^ s);
    if i == 0 || score > best_score {
      best = i;
      best_score = score;
    }
  }
  best
}

#[cfg(test)]
mod tests;
