//! The seam between the request pipeline (`Service::submit`, service/submit.rs)
//! and what carries a batch to a backend. One enum, matched on the hot
//! path (no boxed trait objects, no virtual call): each variant takes a
//! planned batch (`Outbound`), sends the commands its plan gives to Redis
//! and hands their replies back to it, in order, exactly once. Which
//! variant a batch takes is decided in one place, `Service::route`.
//! Breakers, fallback, journal and replay sit above the seam (resilience.rs)
//! and apply to every variant alike.

pub mod cluster_lanes;
pub mod lanes;
pub mod memory;
pub mod remote;

use std::sync::Arc;

use crate::core::command::Command;
use crate::core::error::Result;
use crate::core::lane::Lane;
use crate::core::memory::MemoryStore;
use crate::core::reply::Reply;
use crate::core::service::Backend;
use crate::core::topology::cluster_lanes::ClusterLanes;

/// A planned batch on its way out: the commands its plan sends to Redis,
/// and what becomes of their replies (service/submit.rs). Generic, not
/// `dyn`: each transport's `send` is compiled for the one implementation.
pub trait Outbound: Send + 'static {
  /// The commands to send, in order.
  fn redis(&self) -> impl Iterator<Item = &Command>;
  /// One result per command of `redis()`, in its order.
  fn complete(self, results: Vec<Result<Reply>>);
}

pub enum Transport<'a> {
  /// Standalone (plain TCP or TLS): the pipelined lane (lane.rs), driven from
  /// Node's event loop or a tokio task.
  Lanes(Arc<Lane>),
  /// A cluster (plain TCP or TLS): a lane per master, split by slot
  /// (topology/cluster_lanes.rs).
  ClusterLanes(&'a Arc<ClusterLanes>),
  /// A client whose sends run as tasks on `runtime` (service/backend.rs):
  /// fred (client.rs: sentinel, read replicas, and every command the
  /// lanes refuse: blocking, connection state, keyless cluster commands),
  /// or the Upstash REST client (upstash/: one HTTP request per batch).
  Remote(Arc<Backend>, &'a tokio::runtime::Handle),
  /// The in-memory store as the whole backend (`REDIS_ENABLED=false`, or
  /// development with no Redis at the first connect).
  Memory(&'a MemoryStore),
}

impl Transport<'_> {
  /// Sends the batch's Redis part; its replies come back through
  /// `Outbound::complete` (now, from a lane's driver, or from a task).
  pub fn send<B: Outbound>(&self, batch: B) {
    match self {
      Transport::Lanes(lane) => lanes::send(lane, batch),
      Transport::ClusterLanes(router) => cluster_lanes::send(router, batch),
      Transport::Remote(clients, runtime) => remote::send(clients, runtime, batch),
      Transport::Memory(store) => memory::send(store, batch),
    }
  }

  /// The transports whose sends start on the caller's thread, in order
  /// (lanes, memory). `false`: later batches of the same tick must follow
  /// this one on the same transport to keep their order (see `submit`).
  pub fn in_order_now(&self) -> bool {
    matches!(self, Transport::Lanes(_) | Transport::ClusterLanes(_) | Transport::Memory(_))
  }
}
