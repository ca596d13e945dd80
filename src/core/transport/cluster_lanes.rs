//! A plain-TCP cluster's lanes, one per master (topology/cluster_lanes.rs),
//! as a transport, and which services get them.

use std::sync::Arc;

use crate::core::config::{Config, Topology};
use crate::core::events::Events;
use crate::core::topology::cluster_lanes::ClusterLanes;
use crate::core::transport::{lanes::connection_settings, Outbound};

pub use crate::core::topology::cluster_lanes::routable;

/// The router splits the batch by slot and merges the replies back into
/// its order.
pub fn send<B: Outbound>(router: &Arc<ClusterLanes>, batch: B) {
  let cmds = batch.redis().cloned().collect();
  router.send(cmds, Box::new(move |results| batch.complete(results)));
}

/// Plain-TCP clusters without `scaleReads` route on lanes of their own;
/// TLS and replica reads stay on fred.
pub fn cluster_lanes(
  config: &Config,
  runtime: Option<&tokio::runtime::Handle>,
  events: &Events,
) -> Option<Arc<ClusterLanes>> {
  let Topology::Cluster { nodes, scale_reads, max_redirections, retry_delay_on_cluster_down, .. } = &config.topology
  else {
    return None;
  };
  if !config.enabled || config.tls.enabled || *scale_reads {
    return None;
  }
  let mut base = connection_settings(config);
  base.endpoint = nodes.first()?.clone();
  // Redis Cluster has database 0 only: no SELECT.
  base.db = 0;
  base.events = events.clone();
  let seeds = nodes.iter().map(|n| format!("{}:{}", n.host, n.port)).collect();
  Some(Arc::new(ClusterLanes::new(base, seeds, *retry_delay_on_cluster_down, *max_redirections, runtime?.clone())))
}
