//! Per-node access: the primaries a keyspace-wide command (SCAN) must visit
//! in a cluster, one command sent to a named node, and the per-node part of
//! the health report (role, state as the cluster sees it, PING latency).

use std::time::{Duration, Instant};

use fred::clients::Client;
use fred::interfaces::{ClientLike, ClusterInterface};
use fred::prelude::{Server, Value};
use fred::types::config::Options;

use crate::core::command::Command;
use crate::core::error::{Error, ErrorKind, Result, Sent};
use crate::core::reply::Reply;

pub fn address(s: &Server) -> String {
  format!("{}:{}", s.host, s.port)
}

/// `host:port` (the last colon splits, so IPv6 hosts keep theirs).
pub fn parse_address(node: &str) -> Result<Server> {
  let (host, port) =
    node.rsplit_once(':').ok_or_else(|| Error::argument(format!("node address {node:?} is not host:port")))?;
  let port: u16 = port.parse().map_err(|_| Error::argument(format!("node address {node:?} has no valid port")))?;
  Ok(Server::new(host.trim_start_matches('[').trim_end_matches(']'), port))
}

/// Every primary of the cluster, from fred's cached `CLUSTER SLOTS` (synced
/// first when fred has none yet), in address order.
pub async fn cluster_primaries(client: &Client) -> Result<Vec<Server>> {
  let primaries = cached_primaries(client);
  if !primaries.is_empty() {
    return Ok(primaries);
  }
  client.sync_cluster().await.map_err(Error::from)?;
  let primaries = cached_primaries(client);
  if primaries.is_empty() {
    return Err(
      Error::new(ErrorKind::Connection, "the cluster has no known primaries (CLUSTER SLOTS was empty)")
        .with_sent(Sent::No),
    );
  }
  Ok(primaries)
}

/// The primaries of the client's last CLUSTER SLOTS, without I/O (empty
/// before it has one).
pub fn cached_primaries(client: &Client) -> Vec<Server> {
  client.cached_cluster_state().map(|s| s.unique_primary_nodes()).unwrap_or_default()
}

/// One command on the connection to `server` (a cluster primary).
pub async fn send_to(client: &Client, server: Server, cmd: Command) -> Result<Reply> {
  let options = Options { cluster_node: Some(server), ..Options::default() };
  match client.with_options(&options).custom_raw::<Value>(cmd.to_custom(), cmd.args).await {
    Ok(frame) => Reply::from_frame(frame),
    Err(e) => Err(Error::from(e)),
  }
}

/// PING with a short limit: `{ healthy, latency (ms) }` or `{ healthy: false, error }`.
pub async fn ping_json<C: ClientLike>(client: &C, limit: Duration) -> serde_json::Value {
  let ping = fred::types::CustomCommand::new_static("PING", fred::types::ClusterHash::Random, false);
  let started = Instant::now();
  let result = tokio::time::timeout(limit, client.custom::<Value, Value>(ping, Vec::new())).await;
  let ms = (started.elapsed().as_secs_f64() * 1e6).round() / 1e3;
  match result {
    Ok(Ok(_)) => serde_json::json!({ "healthy": true, "latency": ms }),
    Ok(Err(e)) => serde_json::json!({ "healthy": false, "latency": null, "error": e.details().to_string() }),
    Err(_) => {
      serde_json::json!({ "healthy": false, "latency": null, "error": format!("no PONG within {} ms", limit.as_millis()) })
    }
  }
}

/// PING one cluster primary on fred's own connection to it.
pub async fn ping_node(client: &Client, server: Server, limit: Duration) -> serde_json::Value {
  let options = Options {
    cluster_node: Some(server),
    timeout: Some(limit),
    max_attempts: Some(1),
    fail_fast: true,
    ..Options::default()
  };
  ping_json(&client.with_options(&options), limit).await
}

/// One line of `CLUSTER NODES`.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeLine {
  pub id: String,
  pub address: String,
  pub role: &'static str,
  pub master_id: Option<String>,
  pub failed: bool,
  pub connected: bool,
  pub slots: usize,
}

pub fn parse_cluster_nodes(text: &str) -> Vec<NodeLine> {
  text
    .lines()
    .filter_map(|line| {
      let f: Vec<&str> = line.split_whitespace().collect();
      if f.len() < 8 {
        return None;
      }
      let flags: Vec<&str> = f[2].split(',').collect();
      // ip:port@cport[,hostname]
      let address = f[1].split('@').next().unwrap_or("").to_string();
      let slots = f[8..]
        .iter()
        .filter(|s| !s.starts_with('['))
        .map(|s| match s.split_once('-') {
          Some((a, b)) => b.parse::<usize>().unwrap_or(0).saturating_sub(a.parse::<usize>().unwrap_or(0)) + 1,
          None => 1,
        })
        .sum();
      Some(NodeLine {
        id: f[0].to_string(),
        address,
        role: if flags.contains(&"master") { "master" } else { "replica" },
        master_id: if f[3] == "-" { None } else { Some(f[3].to_string()) },
        failed: flags.iter().any(|x| *x == "fail" || *x == "fail?"),
        connected: f[7] == "connected" || flags.contains(&"myself"),
        slots,
      })
    })
    .collect()
}

/// `field:value` lines of INFO / CLUSTER INFO.
pub fn info_field<'a>(text: &'a str, field: &str) -> Option<&'a str> {
  text.lines().find_map(|l| l.strip_prefix(field).and_then(|r| r.strip_prefix(':')).map(str::trim))
}

/// A cluster-wide text reply (CLUSTER INFO, CLUSTER NODES) from any node.
pub async fn cluster_text(client: &Client, sub: &'static str, limit: Duration) -> Result<String> {
  let cmd = fred::types::CustomCommand::new_static("CLUSTER", fred::types::ClusterHash::Random, false);
  let options = Options { timeout: Some(limit), max_attempts: Some(1), ..Options::default() };
  match tokio::time::timeout(limit, client.with_options(&options).custom::<Value, Value>(cmd, vec![Value::from(sub)]))
    .await
  {
    Ok(Ok(v)) => Ok(v.as_string().unwrap_or_default()),
    Ok(Err(e)) => Err(Error::from(e)),
    Err(_) => {
      Err(Error::new(ErrorKind::Timeout, format!("CLUSTER {sub} did not answer within {} ms", limit.as_millis())))
    }
  }
}

/// The cluster part of the health report: state, size, every node with its
/// role and state, each primary with its PING latency.
pub async fn cluster_report(client: &Client, limit: Duration, info: &mut serde_json::Value) {
  let (cluster_info, nodes_text, primaries) = futures::join!(
    cluster_text(client, "INFO", limit),
    cluster_text(client, "NODES", limit),
    cluster_primaries(client)
  );
  match &cluster_info {
    Ok(text) => {
      info["clusterState"] = info_field(text, "cluster_state").unwrap_or("unknown").into();
      info["clusterSize"] = info_field(text, "cluster_size").and_then(|s| s.parse::<u64>().ok()).into();
    }
    Err(e) => {
      info["clusterState"] = "unknown".into();
      info["error"] = e.message.clone().into();
    }
  }
  let primaries = primaries.unwrap_or_default();
  let pings = futures::future::join_all(primaries.iter().map(|p| ping_node(client, p.clone(), limit))).await;
  let latency_of = |addr: &str| primaries.iter().position(|p| address(p) == addr).and_then(|i| pings.get(i).cloned());
  let lines = nodes_text.map(|t| parse_cluster_nodes(&t)).unwrap_or_default();
  let mut nodes: Vec<serde_json::Value> = Vec::new();
  if lines.is_empty() {
    for (p, ping) in primaries.iter().zip(&pings) {
      let mut node = serde_json::json!({ "address": address(p), "role": "master" });
      merge(&mut node, ping);
      nodes.push(node);
    }
  } else {
    for l in &lines {
      let master = l.master_id.as_ref().and_then(|m| lines.iter().find(|o| &o.id == m)).map(|o| o.address.clone());
      let mut node = serde_json::json!({
        "address": l.address,
        "id": l.id,
        "role": l.role,
        "slots": l.slots,
        "failed": l.failed,
        "healthy": !l.failed && l.connected,
        "latency": null,
      });
      if let Some(m) = master {
        node["master"] = m.into();
      }
      if let Some(ping) = latency_of(&l.address) {
        merge(&mut node, &ping);
        node["healthy"] = (ping["healthy"] == true && !l.failed).into();
      }
      nodes.push(node);
    }
  }
  info["masters"] = primaries.iter().map(address).collect::<Vec<_>>().into();
  info["nodeCount"] = nodes.len().into();
  info["nodes"] = nodes.into();
}

fn merge(into: &mut serde_json::Value, from: &serde_json::Value) {
  if let (Some(into), Some(from)) = (into.as_object_mut(), from.as_object()) {
    for (k, v) in from {
      into.insert(k.clone(), v.clone());
    }
  }
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn cluster_nodes_lines() {
    let text = "\
07c3 127.0.0.1:30004@40004 slave e7d1 0 1426238317239 4 connected
e7d1 127.0.0.1:30001@40001 myself,master - 0 0 1 connected 0-5460
6ec2 127.0.0.1:30002@40002,host2 master,fail - 1426238316232 1426238315228 2 disconnected 5461-10922 [10923->-abc]
";
    let nodes = parse_cluster_nodes(text);
    assert_eq!(nodes.len(), 3);
    assert_eq!(nodes[0].role, "replica");
    assert_eq!(nodes[0].master_id.as_deref(), Some("e7d1"));
    assert_eq!(nodes[1].address, "127.0.0.1:30001");
    assert_eq!(nodes[1].slots, 5461);
    assert!(nodes[1].connected && !nodes[1].failed);
    assert!(nodes[2].failed && !nodes[2].connected);
    assert_eq!(nodes[2].address, "127.0.0.1:30002");
    assert_eq!(nodes[2].slots, 5462);
  }

  #[test]
  fn addresses_and_info_fields() {
    let s = parse_address("127.0.0.1:7000").expect("address");
    assert_eq!((s.host.to_string(), s.port), ("127.0.0.1".to_string(), 7000));
    assert_eq!(parse_address("[::1]:7001").expect("v6").host.to_string(), "::1");
    assert!(parse_address("nohost").is_err());
    assert_eq!(info_field("cluster_state:ok\r\ncluster_size:3\r\n", "cluster_size"), Some("3"));
    assert_eq!(info_field("cluster_state:fail\r\n", "cluster_state"), Some("fail"));
  }
}
