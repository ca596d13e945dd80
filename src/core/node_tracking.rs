//! The near cache in cluster mode: one broadcast-tracking connection per
//! cluster node (`tracking.rs`, `Mode::Broadcast`), kept in step with
//! `CLUSTER NODES`. Every write on any node is reported to us whichever
//! connection read the key, so reads may be cached whatever carried them
//! (a lane, fred, a re-sent redirection) and a slot that moves needs no
//! special care. Replicas are tracked too: one promoted by a failover is
//! already reporting when it takes its first write.
//!
//! Cached reads are allowed only while every listed node's connection is
//! receiving; a node that appears, goes, or drops its connection flushes
//! the cache (`NearCache::set_broadcast_live`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::core::client::RedisClients;
use crate::core::config::Endpoint;
use crate::core::lane::LaneSettings;
use crate::core::near_cache::NearCache;
use crate::core::tracking::{self, Mode};

/// How often the node list is asked for.
const NODES_EVERY: Duration = Duration::from_secs(1);
/// How often liveness is re-checked (a dropped connection turns the cache
/// off at once by itself; this only turns it back on).
const CHECK_EVERY: Duration = Duration::from_millis(50);

struct Node {
  task: tokio::task::JoinHandle<()>,
  up: Arc<AtomicBool>,
}

fn endpoint_of(addr: &str) -> Option<Endpoint> {
  let (host, port) = addr.rsplit_once(':')?;
  Some(Endpoint { host: host.trim_start_matches('[').trim_end_matches(']').to_string(), port: port.parse().ok()? })
}

pub struct NodeTracking {
  near: Arc<NearCache>,
  /// Auth and name for every node's connection (the endpoint is replaced).
  base: LaneSettings,
  nodes: Mutex<HashMap<String, Node>>,
}

impl NodeTracking {
  pub fn new(near: Arc<NearCache>, base: LaneSettings) -> NodeTracking {
    NodeTracking { near, base, nodes: Mutex::new(HashMap::new()) }
  }

  fn nodes(&self) -> std::sync::MutexGuard<'_, HashMap<String, Node>> {
    self.nodes.lock().unwrap_or_else(|p| p.into_inner())
  }

  /// The cluster's nodes now (`host:port`): connections start for new
  /// ones and stop for gone ones; any change flushes.
  pub fn sync(&self, addrs: &[String]) {
    let mut nodes = self.nodes();
    let before = nodes.len();
    nodes.retain(|addr, node| {
      let keep = addrs.contains(addr);
      if !keep {
        node.task.abort();
      }
      keep
    });
    let mut changed = nodes.len() != before;
    for addr in addrs {
      if nodes.contains_key(addr) {
        continue;
      }
      let Some(endpoint) = endpoint_of(addr) else { continue };
      let mut settings = self.base.clone();
      settings.endpoint = endpoint;
      let up = Arc::new(AtomicBool::new(false));
      let task = tokio::spawn(tracking::run(settings, self.near.clone(), Mode::Broadcast(up.clone())));
      nodes.insert(addr.clone(), Node { task, up });
      changed = true;
    }
    drop(nodes);
    if changed {
      self.near.set_broadcast_live(false);
    }
    self.check();
  }

  /// Turns cached reads on once every node's connection is receiving.
  fn check(&self) {
    let nodes = self.nodes();
    let all_up = !nodes.is_empty() && nodes.values().all(|n| n.up.load(Ordering::Acquire));
    drop(nodes);
    if all_up != self.near.live() {
      self.near.set_broadcast_live(all_up);
    }
  }

  pub fn stop(&self) {
    for (_, node) in self.nodes().drain() {
      node.task.abort();
    }
    self.near.set_broadcast_live(false);
  }
}

/// Keeps the node list current, turns caching back on when every node is
/// receiving, and ticks the cache's TTL epoch. Runs until aborted.
pub async fn run(tracking: Arc<NodeTracking>, clients: Arc<RedisClients>, limit: Duration) {
  let mut next_nodes = Instant::now();
  let mut next_tick = Instant::now() + tracking.near.tick_every();
  loop {
    let now = Instant::now();
    if now >= next_nodes {
      next_nodes = now + NODES_EVERY;
      if let Ok(lines) = clients.cluster_nodes(limit).await {
        let addrs: Vec<String> = lines
          .into_iter()
          .filter(|n| !n.failed && !n.address.is_empty() && !n.address.ends_with(":0"))
          .map(|n| n.address)
          .collect();
        if !addrs.is_empty() {
          tracking.sync(&addrs);
        }
      }
    }
    if now >= next_tick {
      tracking.near.tick();
      next_tick = now + tracking.near.tick_every();
    }
    tracking.check();
    tokio::time::sleep(CHECK_EVERY).await;
  }
}
