//! What the service sends through once a batch's plan gives commands to
//! the server: the fred clients (a Redis server over TCP) or the Upstash
//! REST client. Resilience (breakers, fallback, journal, replay) sits above
//! and does not know which. The fast lanes are not taken for Upstash.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::core::client::RedisClients;
use crate::core::command::Command;
use crate::core::config::{Config, Provider};
use crate::core::error::{Error, Result};
use crate::core::reply::Reply;
use crate::core::upstash::UpstashClient;

pub enum Backend {
  Redis(Arc<RedisClients>),
  Upstash(Box<UpstashClient>),
}

impl Backend {
  pub fn build(config: &Config) -> Result<Backend> {
    Ok(match &config.provider {
      Provider::Local => Backend::Redis(Arc::new(RedisClients::build(config)?)),
      Provider::Upstash { url, token } => Backend::Upstash(Box::new(UpstashClient::new(url, token, config)?)),
    })
  }

  /// The fred clients, for what only a TCP deployment has (cluster node tracking).
  pub fn redis(&self) -> Option<&Arc<RedisClients>> {
    match self {
      Backend::Redis(c) => Some(c),
      Backend::Upstash(_) => None,
    }
  }

  pub fn is_connected(&self) -> bool {
    match self {
      Backend::Redis(c) => c.is_connected(),
      Backend::Upstash(u) => u.is_reachable(),
    }
  }

  pub async fn connect(&self) -> std::result::Result<(), (Error, bool)> {
    match self {
      Backend::Redis(c) => c.connect().await,
      Backend::Upstash(u) => u.connect().await,
    }
  }

  /// Connections fred reopens on its own are reported as events from now on.
  pub fn report_reconnects(&self, events: &crate::core::events::Events) {
    if let Backend::Redis(c) = self {
      c.report_reconnects(events);
    }
  }

  pub async fn quit(&self) {
    if let Backend::Redis(c) = self {
      c.quit().await;
    }
  }

  pub async fn send(&self, cmd: Command) -> Result<Reply> {
    match self {
      Backend::Redis(c) => c.send(cmd).await,
      Backend::Upstash(u) => one(u.send(vec![cmd]).await),
    }
  }

  pub async fn pipeline(&self, cmds: Vec<Command>) -> Vec<Result<Reply>> {
    match self {
      Backend::Redis(c) => c.pipeline(cmds).await,
      Backend::Upstash(u) => u.send(cmds).await,
    }
  }

  /// A batch's commands for the server: one pipeline on one connection (a
  /// single command, or blocking ones, each on their own so they hold no
  /// other back); over REST one request whatever it holds.
  pub async fn batch(&self, cmds: Vec<Command>) -> Vec<Result<Reply>> {
    match self {
      Backend::Redis(c) if cmds.len() == 1 || cmds.iter().any(Command::is_blocking) => {
        futures::future::join_all(cmds.into_iter().map(|cmd| c.send(cmd))).await
      }
      Backend::Redis(c) => c.pipeline(cmds).await,
      Backend::Upstash(u) => u.send(cmds).await,
    }
  }

  pub async fn transaction(&self, cmds: Vec<Command>) -> Result<Vec<Result<Reply>>> {
    match self {
      Backend::Redis(c) => c.transaction(cmds).await,
      Backend::Upstash(u) => u.transaction(cmds).await,
    }
  }

  pub fn topology_info(&self) -> serde_json::Value {
    match self {
      Backend::Redis(c) => c.topology_info(),
      Backend::Upstash(u) => serde_json::json!({ "mode": "upstash", "provider": "upstash", "host": u.host() }),
    }
  }

  /// For Upstash, the endpoint as the one node, with a PING's latency.
  pub async fn topology_report(&self, limit: Duration) -> serde_json::Value {
    match self {
      Backend::Redis(c) => c.topology_report(limit).await,
      Backend::Upstash(u) => {
        let mut info = self.topology_info();
        let started = Instant::now();
        let ping = tokio::time::timeout(limit, u.send(vec![Command::new("PING", Vec::new())])).await;
        let ms = (started.elapsed().as_secs_f64() * 1e6).round() / 1e3;
        let status = match ping.map(|mut r| r.pop()) {
          Ok(Some(Ok(_))) => serde_json::json!({ "healthy": true, "latency": ms }),
          Ok(Some(Err(e))) => serde_json::json!({ "healthy": false, "latency": null, "error": e.message }),
          _ => {
            serde_json::json!({ "healthy": false, "latency": null, "error": format!("no PONG within {} ms", limit.as_millis()) })
          }
        };
        let mut node = serde_json::json!({ "address": u.host(), "role": "master" });
        if let (Some(n), Some(s)) = (node.as_object_mut(), status.as_object()) {
          n.extend(s.clone());
        }
        info["nodeCount"] = 1.into();
        info["nodes"] = serde_json::json!([node]);
        info
      }
    }
  }

  pub async fn scan_nodes(&self) -> Result<Vec<String>> {
    match self {
      Backend::Redis(c) => c.scan_nodes().await,
      Backend::Upstash(_) => Ok(Vec::new()),
    }
  }

  pub fn known_primaries(&self) -> Vec<String> {
    match self {
      Backend::Redis(c) => c.known_primaries(),
      Backend::Upstash(_) => Vec::new(),
    }
  }

  pub async fn send_to_node(&self, node: &str, cmd: Command) -> Result<Reply> {
    match self {
      Backend::Redis(c) => c.send_to_node(node, cmd).await,
      Backend::Upstash(u) => one(u.send(vec![cmd]).await),
    }
  }

  pub fn master_switches(&self) -> Option<Arc<std::sync::atomic::AtomicU64>> {
    self.redis().and_then(|c| c.master_switches())
  }
}

fn one(mut results: Vec<Result<Reply>>) -> Result<Reply> {
  results.pop().unwrap_or_else(|| Err(Error::new(crate::core::error::ErrorKind::Internal, "a command lost its result")))
}
