//! Read replicas of a standalone primary (`REDIS_READ_REPLICAS`): fred only
//! routes to replicas in a cluster, so this routing is ours. Reads go to a
//! randomly chosen healthy replica, one fred client each; a replica that
//! fails a read is left alone for a while and the read goes to the primary.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use fred::interfaces::ClientLike;
use fred::prelude::{Config as FredConfig, ReconnectPolicy, Server, ServerConfig, Value};
use fred::types::config::{ConnectionConfig, PerformanceConfig};

use crate::core::command::Command;
use crate::core::config::Endpoint;
use crate::core::error::{ErrorKind, Result};
use crate::core::reply::Reply;

/// How long a replica that failed a read is skipped.
const BENCH: Duration = Duration::from_secs(5);

struct Replica {
  endpoint: Endpoint,
  client: fred::clients::Client,
  /// Milliseconds since `ReadReplicas::epoch` until which it is skipped.
  unhealthy_until: AtomicU64,
}

pub struct ReadReplicas {
  replicas: Vec<Replica>,
  epoch: Instant,
  counter: AtomicU64,
}

/// The `r`-th pick among the usable replicas, or `None` when none is usable.
pub fn choose(usable: &[bool], r: u64) -> Option<usize> {
  let n = usable.iter().filter(|u| **u).count();
  if n == 0 {
    return None;
  }
  let nth = (r % n as u64) as usize;
  usable.iter().enumerate().filter(|(_, u)| **u).nth(nth).map(|(i, _)| i)
}

impl ReadReplicas {
  /// One client per replica, with the primary's settings (auth, TLS, db).
  /// They fail fast while disconnected: a read never waits for a replica.
  pub fn build(
    primary: &FredConfig,
    perf: &PerformanceConfig,
    connection: &ConnectionConfig,
    endpoints: &[Endpoint],
  ) -> Result<ReadReplicas> {
    let mut replicas = Vec::with_capacity(endpoints.len());
    for e in endpoints {
      let mut fred = primary.clone();
      let mut server = Server::new(e.host.as_str(), e.port);
      if let ServerConfig::Centralized { server: p } = &primary.server {
        server.tls_server_name = p.tls_server_name.clone();
      }
      fred.server = ServerConfig::Centralized { server };
      fred.fail_fast = true;
      let mut conn = connection.clone();
      conn.max_command_attempts = 1;
      let mut policy = ReconnectPolicy::new_exponential(0, 100, 2_000, 2);
      policy.set_jitter(100);
      let client = fred::clients::Client::new(fred, Some(perf.clone()), Some(conn), Some(policy));
      replicas.push(Replica { endpoint: e.clone(), client, unhealthy_until: AtomicU64::new(0) });
    }
    Ok(ReadReplicas { replicas, epoch: Instant::now(), counter: AtomicU64::new(0) })
  }

  /// Starts every replica's connection and waits (at most `limit`) for them;
  /// a replica that is not there is no error: reads go to the others.
  pub async fn connect(&self, limit: Duration) {
    let waits = self.replicas.iter().map(|r| {
      let _connection_task = r.client.connect();
      tokio::time::timeout(limit, r.client.wait_for_connect())
    });
    let _ = futures::future::join_all(waits).await;
  }

  pub async fn quit(&self) {
    let quits = self.replicas.iter().map(|r| tokio::time::timeout(Duration::from_millis(500), r.client.quit()));
    let _ = futures::future::join_all(quits).await;
  }

  fn now_ms(&self) -> u64 {
    self.epoch.elapsed().as_millis() as u64
  }

  fn pick(&self) -> Option<&Replica> {
    let now = self.now_ms();
    let usable: Vec<bool> = self
      .replicas
      .iter()
      .map(|r| r.client.is_connected() && r.unhealthy_until.load(Ordering::Relaxed) <= now)
      .collect();
    let r = super::mix(self.counter.fetch_add(1, Ordering::Relaxed));
    choose(&usable, r).and_then(|i| self.replicas.get(i))
  }

  fn bench(&self, replica: &Replica) {
    replica.unhealthy_until.store(self.now_ms() + BENCH.as_millis() as u64, Ordering::Relaxed);
  }

  /// The read on a replica: `None` when no replica is usable or the chosen
  /// one failed (the caller then asks the primary).
  pub async fn read(&self, cmd: &Command) -> Option<Result<Reply>> {
    let replica = self.pick()?;
    match replica.client.custom_raw::<Value>(cmd.to_custom(), cmd.args.clone()).await {
      Ok(frame) => match Reply::from_frame(frame) {
        Err(e) if e.kind == ErrorKind::Reply && super::is_replica_refusal(&e.message) => {
          self.bench(replica);
          None
        }
        other => Some(other),
      },
      Err(_) => {
        self.bench(replica);
        None
      }
    }
  }

  /// Reads of one batch on one replica, in order; `None` as for `read`.
  pub async fn read_batch(&self, cmds: &[Command]) -> Option<Vec<Result<Reply>>> {
    let replica = self.pick()?;
    let pipeline = replica.client.pipeline();
    for cmd in cmds {
      let _: std::result::Result<(), _> = pipeline.custom(cmd.to_custom(), cmd.args.clone()).await;
    }
    let results = pipeline.try_all::<Value>().await;
    if results.len() != cmds.len()
      || results.iter().any(|r| match r {
        Err(e) => {
          use fred::error::ErrorKind as F;
          matches!(e.kind(), F::IO | F::Timeout | F::Canceled | F::Backpressure | F::Tls)
            || super::is_replica_refusal(e.details())
        }
        Ok(_) => false,
      })
    {
      self.bench(replica);
      return None;
    }
    Some(
      results
        .into_iter()
        .map(|r| match r {
          Ok(v) => Ok(Reply::from_value(v)),
          Err(e) => Err(crate::core::error::Error::new(ErrorKind::Reply, e.details().to_string())),
        })
        .collect(),
    )
  }

  /// For the health report: each replica with its PING latency (within `limit`).
  pub async fn ping_all(&self, limit: Duration) -> Vec<serde_json::Value> {
    let now = self.now_ms();
    let pings = self.replicas.iter().map(|r| async move {
      let mut node = serde_json::json!({
        "address": format!("{}:{}", r.endpoint.host, r.endpoint.port),
        "role": "replica",
        "inUse": r.unhealthy_until.load(Ordering::Relaxed) <= now,
      });
      if r.client.is_connected() {
        let ping = crate::core::topology::nodes::ping_json(&r.client, limit).await;
        if let (Some(n), Some(p)) = (node.as_object_mut(), ping.as_object()) {
          n.extend(p.clone());
        }
      } else {
        node["healthy"] = false.into();
        node["latency"] = serde_json::Value::Null;
        node["error"] = "not connected".into();
      }
      node
    });
    futures::future::join_all(pings).await
  }

  /// For health and stats: each replica and whether it is in use.
  pub fn describe(&self) -> serde_json::Value {
    let now = self.now_ms();
    serde_json::Value::Array(
      self
        .replicas
        .iter()
        .map(|r| {
          serde_json::json!({
            "host": r.endpoint.host,
            "port": r.endpoint.port,
            "connected": r.client.is_connected(),
            "healthy": r.unhealthy_until.load(Ordering::Relaxed) <= now,
          })
        })
        .collect(),
    )
  }
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn choice_skips_unusable_and_spreads() {
    assert_eq!(choose(&[false, false], 7), None);
    assert_eq!(choose(&[false, true, false], 12345), Some(1));
    let mut seen = [0u32; 3];
    for i in 0..3000u64 {
      let pick = choose(&[true, false, true], crate::core::topology::mix(i)).expect("usable");
      seen[pick] += 1;
    }
    assert_eq!(seen[1], 0);
    assert!(seen[0] > 1200 && seen[2] > 1200, "{seen:?}");
  }

  #[test]
  fn reads_are_recognised() {
    assert!(crate::core::topology::is_read("get"));
    assert!(crate::core::topology::is_read("HGETALL"));
    assert!(!crate::core::topology::is_read("set"));
    assert!(!crate::core::topology::is_read("incr"));
    assert!(crate::core::topology::is_replica_refusal("LOADING Redis is loading the dataset in memory"));
  }
}
