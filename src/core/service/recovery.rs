//! Recovery from an outage: after a batch that saw connection trouble the
//! service checks whether Redis is gone (degraded mode); a loop probes Redis,
//! replays the outage journal in order and leaves degraded mode.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use crate::core::command::Command;
use crate::core::service::backend::Backend;
use crate::core::service::Service;

impl Service {
  /// After a batch: a connection failure may mean Redis is gone; outage
  /// writes wait in the journal for the recovery loop.
  pub(super) fn after_batch(self: &Arc<Self>, trouble: bool) {
    if trouble && self.redis_down() {
      self.resilience.enter_degraded("the connection to Redis was lost");
    }
    if (self.resilience.is_degraded() || !self.resilience.fallback().journal_is_empty())
      && !self.recovering.load(Ordering::Acquire)
    {
      self.start_recovery();
    }
  }

  /// Redis cannot be reached at all: no live connection of any kind.
  pub(super) fn redis_down(&self) -> bool {
    let fred_down = self.clients().map(|c| !c.is_connected()).unwrap_or(true);
    fred_down && self.live_lane().is_none() && !self.cluster.as_ref().is_some_and(|r| r.any_open())
  }

  /// At start: writes a previous process left in the durable journal go
  /// to Redis first, in order, before anything newer (the service serves
  /// degraded, journalling, until they are replayed).
  pub fn resume_journal(self: &Arc<Self>) {
    let left = self.resilience.fallback().journal_stats().pending;
    if left == 0 || !self.config.enabled {
      return;
    }
    self
      .resilience
      .enter_degraded(&format!("{left} writes left in the outage journal by a previous process are replayed first"));
    self.start_recovery();
  }

  pub(super) fn start_recovery(self: &Arc<Self>) {
    let Some(runtime) = &self.runtime else { return };
    if self.recovering.swap(true, Ordering::AcqRel) {
      return;
    }
    // Near-cache copies are not served while Redis is away.
    if let Some(near) = &self.near {
      near.flush();
    }
    let service = self.clone();
    runtime.spawn(async move {
      service.recover().await;
      service.recovering.store(false, Ordering::Release);
    });
  }

  /// Probes Redis until it answers, replays the outage journal, then
  /// serves from Redis again.
  pub(super) async fn recover(self: &Arc<Self>) {
    let (min, max) = (self.config.reconnect_min_delay, self.config.reconnect_max_delay);
    let mut pause = min;
    loop {
      tokio::time::sleep(pause).await;
      pause = (pause * 2).min(max);
      if self.state.closed() {
        return;
      }
      if !self.resilience.is_degraded() && self.resilience.fallback().journal_is_empty() {
        return;
      }
      let Ok(clients) = self.clients() else { return };
      if !self.probe(&clients).await {
        continue;
      }
      if !self.replay(&clients).await {
        continue;
      }
      if self.lane_settings.is_some() && self.live_lane().is_none() {
        self.open_lane().await;
      }
      if let Some(router) = &self.cluster {
        router.kick();
      }
      if self.resilience.fallback().journal_is_empty() {
        self.resilience.leave_degraded();
      }
    }
  }

  /// One PING within the connect timeout (fred reconnects on its own).
  pub(super) async fn probe(&self, clients: &Backend) -> bool {
    if !self.state.connected() {
      let _guard = self.connect_lock.lock().await;
      if self.connect_locked(clients).await.is_err() || self.serving_from_memory() {
        return false;
      }
    }
    let ping = clients.send(Command::new("PING", Vec::new()));
    let wait = self.config.connect_timeout.min(std::time::Duration::from_secs(2));
    matches!(tokio::time::timeout(wait, ping).await, Ok(Ok(_)))
  }
}
