//! `route()` against a real redis-server (test_server.rs): which transport
//! each kind of command takes in each state of the service.

use std::collections::BTreeMap;
use std::sync::Arc;

use fred::prelude::Value;
use serde_json::json;

use crate::core::command::Command;
use crate::core::config::Config;
use crate::core::service::Service;
use crate::core::test_server::Server;
use crate::core::transport::Transport;

fn service(opts: serde_json::Value) -> Arc<Service> {
  let config = Config::resolve(&BTreeMap::new(), &opts).expect("config resolves");
  Arc::new(Service::new(config).expect("service builds"))
}

fn cmd(name: &'static str, args: &[&str]) -> Command {
  Command::new(name, args.iter().map(|a| Value::from(*a)).collect())
}

fn kind(t: Option<Transport<'_>>) -> &'static str {
  match t {
    None => "connect first",
    Some(Transport::Lanes(_)) => "lanes",
    Some(Transport::ClusterLanes(_)) => "cluster lanes",
    Some(Transport::Remote(..)) => "fred",
    Some(Transport::Memory(_)) => "memory",
  }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_mode_routes_to_the_store_until_closed() {
  let s = service(json!({ "enabled": false }));
  assert_eq!(kind(s.route(&[cmd("GET", &["k"])])), "memory");
  s.disconnect().await;
  assert_eq!(kind(s.route(&[cmd("GET", &["k"])])), "connect first", "closed: the async path says why");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standalone_routes_lanes_then_fred_for_what_they_refuse() {
  let server = Server::start();
  let s = service(json!({ "host": "127.0.0.1", "port": server.1, "lazyConnect": true }));
  let get = [cmd("GET", &["k"])];
  assert_eq!(kind(s.route(&get)), "connect first", "not connected yet");
  s.connect().await.expect("connects");
  assert_eq!(kind(s.route(&get)), "lanes");
  assert_eq!(kind(s.route(&[cmd("GET", &["k"]), cmd("BLPOP", &["q", "1"])])), "fred", "blocking: not on the lane");
  assert_eq!(kind(s.route(&[cmd("SELECT", &["1"])])), "fred", "connection state: not on the lane");
  s.resilience.enter_degraded("test");
  assert_eq!(kind(s.route(&get)), "fred", "degraded: the plan answers, fred takes any straggler");
  s.disconnect().await;
  assert_eq!(kind(s.route(&get)), "connect first");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_replicas_route_to_fred() {
  // Read replicas: reads are routed by fred, so no lane.
  let server = Server::start();
  let replica = Server::start();
  let s = service(json!({
    "host": "127.0.0.1", "port": server.1, "lazyConnect": true,
    "readReplicas": true, "readReplicaUrls": format!("redis://127.0.0.1:{}", replica.1),
  }));
  s.connect().await.expect("connects");
  assert_eq!(kind(s.route(&[cmd("GET", &["k"])])), "fred");
  s.disconnect().await;
}
