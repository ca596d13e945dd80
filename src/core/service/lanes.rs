//! The fast lane's life inside a service (open, drive from outside, reopen,
//! retire) and the near cache bound to it (the tracking subscriber, lookups,
//! our own writes).

use std::sync::atomic::Ordering;
use std::sync::Arc;

use crate::core::command::Command;
use crate::core::config::{Config, Topology};
use crate::core::lane::{self, Lane, LaneSettings};
use crate::core::near_cache::NearCache;
use crate::core::node_tracking::{self, NodeTracking};
use crate::core::reply::Reply;
use crate::core::service::Service;
use crate::core::tracking;

impl Service {
  /// Starts the near cache's invalidation subscriber and waits (within
  /// the connect timeout) for its id, so the lane opens tracked to it.
  pub(super) async fn start_tracking(&self) {
    if let Some(nodes) = &self.node_tracking {
      // Cluster: broadcast tracking on every node, kept in step with CLUSTER NODES.
      let Some(clients) = self.clients().ok().and_then(|c| c.redis().cloned()) else { return };
      let Ok(mut slot) = self.tracker.lock() else { return };
      if slot.as_ref().is_some_and(|t| !t.is_finished()) {
        return;
      }
      *slot = Some(tokio::spawn(node_tracking::run(nodes.clone(), clients, self.config.connect_timeout)));
      return;
    }
    let (Some(near), Some(settings)) = (&self.near, &self.lane_settings) else { return };
    {
      let Ok(mut slot) = self.tracker.lock() else { return };
      if slot.as_ref().is_some_and(|t| !t.is_finished()) {
        return;
      }
      *slot = Some(tokio::spawn(tracking::run(settings.clone(), near.clone(), tracking::Mode::Redirect)));
    }
    let deadline = std::time::Instant::now() + self.config.connect_timeout;
    while near.redirect() == 0 && std::time::Instant::now() < deadline {
      tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
  }

  pub(super) fn stop_tracking(&self) {
    if let Some(task) = self.tracker.lock().ok().and_then(|mut slot| slot.take()) {
      task.abort();
    }
    if let Some(nodes) = &self.node_tracking {
      nodes.stop();
    }
    if let Some(near) = &self.near {
      near.set_redirect(0);
    }
  }

  /// Our own writes on the async paths drop their near-cache keys.
  pub(super) fn note_writes(&self, cmds: &[Command]) {
    if let Some(near) = &self.near {
      cmds.iter().for_each(|c| near.note_write(c));
    }
  }

  /// Cluster mode: the near cache, when reads may be cached now (every
  /// node's broadcast tracking is up).
  pub(super) fn broadcast_near(&self) -> Option<Arc<NearCache>> {
    self.node_tracking.as_ref()?;
    self.near.clone().filter(|n| n.live() && !self.resilience.is_degraded())
  }

  /// GET's near-cache hit, answered on the JS thread with no I/O.
  pub fn near_get(&self, key: &[u8]) -> Option<Reply> {
    let near = self.near.as_ref()?;
    if self.resilience.is_degraded() {
      return None;
    }
    let hit = if self.node_tracking.is_some() {
      if near.live() {
        near.lookup_string(key)
      } else {
        None
      }
    } else {
      let lane = self.live_lane()?;
      if !near.usable(lane.serial(), lane.tracking()) {
        return None;
      }
      near.lookup_string(key)
    };
    // The cache holds Redis' bytes: a compressed value is decompressed
    // here; one that cannot be read is a miss, and the GET then says why.
    match hit? {
      Reply::Bytes(b) => match self.values.decode_value(&b) {
        Ok(None) => Some(Reply::Bytes(b)),
        Ok(Some(value)) => Some(Reply::Bytes(value)),
        Err(_) => None,
      },
      other => Some(other),
    }
  }

  /// The near cache's epoch (see near_cache.rs), for the JS copies.
  pub fn near_epoch(&self) -> Option<&std::sync::atomic::AtomicU32> {
    self.near.as_ref().map(|n| n.epoch_cell())
  }

  pub fn near_cache_enabled(&self) -> bool {
    self.near.is_some()
  }

  /// Opens the fast lane where the topology allows one. A lane that cannot
  /// open is not an error: fred carries every command meanwhile.
  pub(super) async fn open_lane(&self) {
    let Some(base) = &self.lane_settings else { return };
    let mut settings = base.clone();
    if let Some(near) = &self.near {
      if near.redirect() == 0 {
        self.start_tracking().await;
      }
      settings.tracking_redirect = Some(near.redirect()).filter(|id| *id != 0);
    }
    let settings = &settings;
    if let Ok(lane) = Lane::open(settings).await {
      if let Some(near) = &self.near {
        let near = near.clone();
        lane.on_death(Box::new(move || near.flush()));
      }
      if !self.lanes_driven_outside.load(Ordering::Acquire) && lane::drive_with_tokio(lane.clone()).is_err() {
        return;
      }
      if let Ok(mut slot) = self.lane.write() {
        if let Some(old) = slot.replace(lane) {
          old.retire();
        }
      }
    }
  }

  /// Corks the fast lane for a tick's several batches (see `Lane::cork`);
  /// the caller uncorks the lane returned.
  pub fn cork_lane(&self) -> Option<Arc<Lane>> {
    let lane = self.live_lane()?;
    lane.cork();
    Some(lane)
  }

  /// Lanes carrying commands now (the standalone one, or one per master).
  pub(super) fn open_lanes(&self) -> usize {
    match &self.cluster {
      Some(router) => router.open_lanes(),
      None => usize::from(self.live_lane().is_some()),
    }
  }

  pub(super) fn live_lane(&self) -> Option<Arc<Lane>> {
    let slot = self.lane.read().ok()?;
    slot.as_ref().filter(|l| l.is_open() && l.is_driven()).cloned()
  }

  /// The binding drives lanes itself: `undriven_lanes` hands each new one
  /// over, and `poke` (any thread) asks its thread to come and take them
  /// and to run `run_deferred`.
  pub fn drive_lanes_outside(&self, poke: Box<dyn Fn() + Send + Sync>) {
    self.lanes_driven_outside.store(true, Ordering::Release);
    if let Some(router) = &self.cluster {
      router.drive_outside(poke);
    }
  }

  /// Freshly opened lanes (the standalone one, cluster masters') waiting
  /// for their driver.
  pub fn undriven_lanes(&self) -> Vec<Arc<Lane>> {
    let mut lanes: Vec<Arc<Lane>> = self.cluster.as_ref().map(|r| r.take_undriven()).unwrap_or_default();
    if let Ok(slot) = self.lane.read() {
      lanes.extend(slot.as_ref().filter(|l| l.is_alive() && !l.is_driven()).cloned());
    }
    lanes
  }

  /// On the binding's thread, after attaching new lanes: cluster commands
  /// waiting to be sent again (redirected, retried, parked for a new lane).
  pub fn run_deferred(&self) {
    if let Some(router) = &self.cluster {
      router.run_deferred();
    }
  }

  /// One reopen attempt at a time, spaced out while Redis is away.
  pub(super) fn reopen_lane(self: &Arc<Self>) {
    let Some(runtime) = &self.runtime else { return };
    let alive = self.lane.read().map(|slot| slot.as_ref().is_some_and(|l| l.is_open())).unwrap_or(false);
    if alive || self.lane_reopening.swap(true, Ordering::AcqRel) {
      return;
    }
    let service = self.clone();
    runtime.spawn(async move {
      service.open_lane().await;
      if service.live_lane().is_none() {
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
      }
      service.lane_reopening.store(false, Ordering::Release);
    });
  }

  pub(super) fn close_lane(&self) {
    if let Some(lane) = self.lane.write().ok().and_then(|mut slot| slot.take()) {
      lane.close();
    }
  }
}

/// Cluster with `nearCache`: broadcast tracking per node.
pub(super) fn node_tracking(
  config: &Config,
  near: Option<&Arc<NearCache>>,
  base: &LaneSettings,
) -> Option<Arc<NodeTracking>> {
  let near = near?;
  if !config.enabled || !matches!(config.topology, Topology::Cluster { .. }) {
    return None;
  }
  Some(Arc::new(NodeTracking::new(near.clone(), base.clone())))
}
