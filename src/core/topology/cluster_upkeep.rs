//! The cluster lanes' upkeep, on tokio: the slot map from `CLUSTER SLOTS`
//! (asked of any reachable node), a lane per master, and a loop that keeps
//! at it every 200 ms while a slot has no live master lane (a killed
//! master, until its replica is promoted; every second after the first
//! 10 s). Healthy nodes' lanes are left alone.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use fred::prelude::Value;

use crate::core::command::Command;
use crate::core::error::{Error, ErrorKind, Result, Sent};
use crate::core::lane::{self, Done, Lane};
use crate::core::reply::Reply;
use crate::core::topology::cluster_lanes::ClusterLanes;
use crate::core::topology::gather::settle;
use crate::core::topology::slot_map::{endpoint_of, SlotMap};

/// Between two upkeep rounds while a master is missing; after
/// `PATIENT_ROUNDS` of them (a master gone for good), `RETRY_SLOWLY`.
const RETRY_EVERY: Duration = Duration::from_millis(200);
const PATIENT_ROUNDS: u32 = 50;
const RETRY_SLOWLY: Duration = Duration::from_secs(1);

impl ClusterLanes {
  /// The first map and lanes, within the connect timeout. Failing here is
  /// not an error: fred carries the commands until the lanes are up.
  pub async fn start(self: &Arc<Self>) {
    self.closed.store(false, Ordering::Release);
    let limit = self.base.connect_timeout;
    let _ = tokio::time::timeout(limit, async {
      self.refresh().await;
      self.open_missing().await;
    })
    .await;
    if !self.complete() {
      self.kick();
    }
  }

  /// Asks for an upkeep round (coalesced: one loop at a time).
  pub fn kick(self: &Arc<Self>) {
    self.wanted.store(true, Ordering::Release);
    if self.closed.load(Ordering::Acquire) || self.maintaining.swap(true, Ordering::AcqRel) {
      return;
    }
    let router = self.clone();
    self.runtime.spawn(async move { router.maintain().await });
  }

  async fn maintain(self: Arc<Self>) {
    let mut rounds = 0u32;
    loop {
      rounds = rounds.saturating_add(1);
      self.wanted.store(false, Ordering::Release);
      if self.closed.load(Ordering::Acquire) {
        break;
      }
      self.refresh().await;
      self.open_missing().await;
      if !self.complete() {
        tokio::time::sleep(if rounds < PATIENT_ROUNDS { RETRY_EVERY } else { RETRY_SLOWLY }).await;
      } else if self.wanted.load(Ordering::Acquire) {
        // More MOVED replies came meanwhile: one more round, not a busy loop.
        tokio::time::sleep(Duration::from_millis(20)).await;
      } else {
        break;
      }
    }
    self.maintaining.store(false, Ordering::Release);
    if self.wanted.load(Ordering::Acquire) && !self.closed.load(Ordering::Acquire) {
      self.kick();
    }
  }

  /// Every slot has a master with an open lane.
  fn complete(&self) -> bool {
    let Ok(routes) = self.routes.read() else { return false };
    routes.map.uncovered() == 0 && routes.map.masters().iter().all(|m| routes.lanes.get(m).is_some_and(|l| l.is_open()))
  }

  /// Replaces the map with the first node's answer (nodes with a live lane
  /// first, then the other known masters, then the seeds). Lanes to nodes
  /// that no longer own slots are retired once the map is whole.
  async fn refresh(&self) {
    let candidates: Vec<String> = {
      let Ok(routes) = self.routes.read() else { return };
      let (mut live, mut rest): (Vec<String>, Vec<String>) =
        routes.map.masters().into_iter().partition(|m| routes.lanes.get(m).is_some_and(|l| l.is_open()));
      rest.extend(self.seeds.iter().cloned());
      live.extend(rest);
      live.dedup();
      live
    };
    for addr in candidates {
      if self.closed.load(Ordering::Acquire) {
        return;
      }
      let Ok(map) = self.cluster_slots(&addr).await else { continue };
      if map.uncovered() == crate::core::topology::slot_map::SLOTS {
        continue;
      }
      let retired: Vec<Arc<Lane>> = match self.routes.write() {
        Ok(mut routes) => {
          let whole = map.uncovered() == 0;
          let masters = map.masters();
          routes.map = map;
          if whole {
            let gone: Vec<String> = routes.lanes.keys().filter(|a| !masters.contains(a)).cloned().collect();
            gone.iter().filter_map(|a| routes.lanes.remove(a)).collect()
          } else {
            Vec::new()
          }
        }
        Err(_) => Vec::new(),
      };
      // Commands in flight on them still finish.
      retired.iter().for_each(|l| l.retire());
      return;
    }
  }

  /// `CLUSTER SLOTS` on a short-lived connection of its own (tokio-driven:
  /// it never touches the lanes the binding drives).
  async fn cluster_slots(&self, addr: &str) -> Result<SlotMap> {
    let endpoint =
      endpoint_of(addr).ok_or_else(|| Error::new(ErrorKind::Connection, format!("bad node address {addr}")))?;
    let mut settings = self.base.clone();
    settings.endpoint = endpoint.clone();
    settings.connect_timeout = settings.connect_timeout.min(Duration::from_secs(1));
    let probe = Lane::open(&settings).await?;
    lane::drive_with_tokio(probe.clone())?;
    let (tx, rx) = tokio::sync::oneshot::channel();
    let done: Done = Box::new(move |r| {
      let _ = tx.send(r);
    });
    let cmd = Command::new("CLUSTER", vec![Value::from("SLOTS")]);
    let sent = probe.submit(&[cmd], done).is_ok();
    let reply = match tokio::time::timeout(settings.connect_timeout, rx).await {
      Ok(Ok(mut r)) if sent => {
        r.pop().unwrap_or_else(|| Err(Error::new(ErrorKind::Internal, "no CLUSTER SLOTS reply")))
      }
      _ => Err(Error::new(ErrorKind::Timeout, "CLUSTER SLOTS timed out")),
    };
    probe.close();
    SlotMap::from_cluster_slots(&reply?, &endpoint)
  }

  /// Opens a lane to every master in the map that has none open.
  async fn open_missing(self: &Arc<Self>) {
    let missing: Vec<String> = {
      let Ok(routes) = self.routes.read() else { return };
      routes.map.masters().into_iter().filter(|m| !routes.lanes.get(m).is_some_and(|l| l.is_open())).collect()
    };
    let opens = missing.into_iter().map(|addr| self.clone().open_lane(addr));
    futures::future::join_all(opens).await;
  }

  /// `open_lane` in the background (a `MOVED` to a node we have no lane to).
  pub(crate) fn open_node(self: &Arc<Self>, addr: String) {
    let router = self.clone();
    self.runtime.spawn(async move { router.open_lane(addr).await });
  }

  /// Opens one node's lane; the items parked for it are routed again
  /// (they fail fast if it did not open). One open per address at a time.
  async fn open_lane(self: Arc<Self>, addr: String) {
    {
      let Ok(mut opening) = self.opening.lock() else { return };
      if opening.contains_key(&addr) {
        return;
      }
      opening.insert(addr.clone(), Vec::new());
    }
    let opened = match endpoint_of(&addr) {
      Some(endpoint) if !self.closed.load(Ordering::Acquire) => {
        let mut settings = self.base.clone();
        settings.endpoint = endpoint;
        Lane::open(&settings).await.ok()
      }
      _ => None,
    };
    if let Some(lane) = opened {
      let outside = self.outside.load(Ordering::Acquire);
      if outside || lane::drive_with_tokio(lane.clone()).is_ok() {
        if outside {
          if let Ok(mut undriven) = self.undriven.lock() {
            undriven.push(lane.clone());
          }
        }
        let old = self.routes.write().ok().and_then(|mut r| r.lanes.insert(addr.clone(), lane));
        if let Some(old) = old {
          old.retire();
        }
      }
    }
    let parked = self.opening.lock().ok().and_then(|mut o| o.remove(&addr)).unwrap_or_default();
    // The binding attaches the new lane on its next wake-up, then runs these.
    self.poke();
    if !parked.is_empty() {
      self.defer(parked);
    }
  }

  /// New lanes for the binding to attach on its thread.
  pub fn take_undriven(&self) -> Vec<Arc<Lane>> {
    self.undriven.lock().map(|mut u| std::mem::take(&mut *u)).unwrap_or_default()
  }

  /// At least one master lane can take commands.
  pub fn any_open(&self) -> bool {
    self.routes.read().map(|r| r.lanes.values().any(|l| l.is_open())).unwrap_or(false)
  }

  /// Closes every lane; waiting commands fail as closed.
  pub fn close(self: &Arc<Self>) {
    self.closed.store(true, Ordering::Release);
    let lanes: Vec<Arc<Lane>> =
      self.routes.write().map(|mut r| r.lanes.drain().map(|(_, l)| l).collect()).unwrap_or_default();
    lanes.iter().for_each(|l| l.close());
    let parked: Vec<_> = self.opening.lock().map(|mut o| o.drain().flat_map(|(_, v)| v).collect()).unwrap_or_default();
    let e = Error::closed().with_sent(Sent::No);
    settle(parked.into_iter().map(|i| (i.sink, Err::<Reply, _>(e.clone()))).collect());
    self.run_deferred();
  }
}
