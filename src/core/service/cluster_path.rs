//! Cluster commands on per-master lanes (topology/cluster_lanes.rs): which
//! services get them, and the fast path that plans a batch (breakers,
//! fallback) and sends its Redis part through them.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use crate::core::command::Command;
use crate::core::config::{Config, Topology};
use crate::core::lane::Done;
use crate::core::service::{lanes, redis_part, Service};
use crate::core::topology::cluster_lanes::{routable, ClusterLanes};

impl Service {
  /// The cluster's fast path (see `submit_fast`): the batch comes back when
  /// a command cannot be routed on the lanes or no lane is up yet.
  pub(super) fn submit_cluster(
    self: &Arc<Self>,
    router: &Arc<ClusterLanes>,
    cmds: Vec<Command>,
    done: Done,
  ) -> std::result::Result<(), (Vec<Command>, Done)> {
    if cmds.is_empty()
      || self.closed.load(Ordering::Acquire)
      || self.serving_from_memory()
      || !self.connected.load(Ordering::Acquire)
      || !router.any_open()
      || !cmds.iter().all(routable)
    {
      return Err((cmds, done));
    }
    // Broadcast tracking covers reads on any connection: the near cache
    // answers hits and stores replies here as on the fred path.
    let near = self.broadcast_near();
    if near.is_none() {
      self.note_writes(&cmds);
    }
    let plan = self.resilience.plan(&cmds, |cmd| near.as_ref().and_then(|n| n.before_plan(cmd)));
    if plan.redis_count() == 0 {
      let (out, _) = self.resilience.finish(plan, &cmds, Vec::new());
      done(out);
      self.after_batch(false);
      return Ok(());
    }
    let redis_cmds: Vec<Command> = redis_part(&plan, &cmds).cloned().collect();
    let tickets = lanes::tickets(near.as_ref(), redis_cmds.iter());
    let service = self.clone();
    router.send(
      redis_cmds,
      Box::new(move |results| {
        lanes::store_replies(near.as_ref(), tickets, &results);
        let (out, trouble) = service.resilience.finish(plan, &cmds, results);
        done(out);
        service.after_batch(trouble);
      }),
    );
    Ok(())
  }
}

/// Plain-TCP clusters without `scaleReads` route on lanes of their own;
/// TLS and replica reads stay on fred.
pub(super) fn cluster_lanes(config: &Config, runtime: Option<&tokio::runtime::Handle>) -> Option<Arc<ClusterLanes>> {
  let Topology::Cluster { nodes, scale_reads, max_redirections, retry_delay_on_cluster_down, .. } = &config.topology
  else {
    return None;
  };
  if !config.enabled || config.tls.enabled || *scale_reads {
    return None;
  }
  let mut base = lanes::connection_settings(config);
  base.endpoint = nodes.first()?.clone();
  // Redis Cluster has database 0 only: no SELECT.
  base.db = 0;
  let seeds = nodes.iter().map(|n| format!("{}:{}", n.host, n.port)).collect();
  Some(Arc::new(ClusterLanes::new(base, seeds, *retry_delay_on_cluster_down, *max_redirections, runtime?.clone())))
}
