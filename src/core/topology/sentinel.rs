//! Following a Sentinel failover. fred resolves the master through the
//! sentinels (and checks ROLE) only when a connection is (re)opened; after
//! `SENTINEL FAILOVER` the old master keeps its clients and accepts writes
//! for about 10 s, and after a SIGSTOP the woken old master does the same.
//! So we listen on every sentinel's `+switch-master` channel and force the
//! pool to reconnect (which re-resolves the master) as soon as one fires.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use fred::clients::{Pool, SubscriberClient};
use fred::interfaces::{ClientLike, EventInterface, PubsubInterface};
use fred::prelude::{Config as FredConfig, ReconnectPolicy, Server, ServerConfig};
use fred::types::config::{ConnectionConfig, PerformanceConfig};

use crate::core::config::Endpoint;

/// `<name> <old-ip> <old-port> <new-ip> <new-port>` for our master: the new address.
pub fn parse_switch_master(payload: &str, master_name: &str) -> Option<(String, u16)> {
  let parts: Vec<&str> = payload.split_whitespace().collect();
  if parts.len() != 5 || parts[0] != master_name {
    return None;
  }
  Some((parts[3].to_string(), parts[4].parse().ok()?))
}

pub struct SwitchFollower {
  subscribers: Vec<SubscriberClient>,
  tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl SwitchFollower {
  /// Subscribes to `+switch-master` on every sentinel; each switch of
  /// `master_name` forces `pool` to reconnect and bumps `generation` (the
  /// transaction connection is reopened when it changed).
  pub fn start(
    base: &FredConfig,
    sentinels: &[Endpoint],
    master_name: &str,
    sentinel_password: Option<String>,
    pool: Pool,
    generation: Arc<AtomicU64>,
  ) -> SwitchFollower {
    let last = Arc::new(std::sync::Mutex::new(None::<(String, u16)>));
    let mut subscribers = Vec::new();
    let mut tasks = Vec::new();
    for s in sentinels {
      let config = FredConfig {
        server: ServerConfig::Centralized { server: Server::new(s.host.as_str(), s.port) },
        username: None,
        password: sentinel_password.clone(),
        database: None,
        fail_fast: true,
        tls: base.tls.clone(),
        ..FredConfig::default()
      };
      let connection = ConnectionConfig {
        connection_timeout: Duration::from_secs(2),
        internal_command_timeout: Duration::from_secs(2),
        ..ConnectionConfig::default()
      };
      let policy = ReconnectPolicy::new_constant(0, 500);
      let sub = SubscriberClient::new(config, Some(PerformanceConfig::default()), Some(connection), Some(policy));
      let mut messages = sub.message_rx();
      let pool = pool.clone();
      let generation = generation.clone();
      let last = last.clone();
      let name = master_name.to_string();
      tasks.push(tokio::spawn(async move {
        use tokio::sync::broadcast::error::RecvError;
        loop {
          let msg = match messages.recv().await {
            Ok(m) => m,
            Err(RecvError::Lagged(_)) => continue,
            Err(RecvError::Closed) => break,
          };
          if !msg.channel.eq_ignore_ascii_case("+switch-master") {
            continue;
          }
          let Some(payload) = msg.value.as_string() else { continue };
          let Some(new_master) = parse_switch_master(&payload, &name) else { continue };
          {
            let Ok(mut seen) = last.lock() else { continue };
            if seen.as_ref() == Some(&new_master) {
              continue; // the same switch, told by another sentinel
            }
            *seen = Some(new_master);
          }
          generation.fetch_add(1, Ordering::AcqRel);
          let _ = pool.force_reconnection().await;
        }
      }));
      let starter = sub.clone();
      tasks.push(tokio::spawn(async move {
        let _connection_task = starter.connect();
        if starter.wait_for_connect().await.is_ok() {
          let _ = starter.subscribe("+switch-master").await;
        }
        // Resubscribes after a sentinel restart.
        let _ = starter.manage_subscriptions().await;
      }));
      subscribers.push(sub);
    }
    SwitchFollower { subscribers, tasks }
  }

  pub async fn stop(&self) {
    for t in &self.tasks {
      t.abort();
    }
    let quits = self.subscribers.iter().map(|s| tokio::time::timeout(Duration::from_millis(500), s.quit()));
    let _ = futures::future::join_all(quits).await;
  }
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn switch_master_payload() {
    assert_eq!(
      parse_switch_master("mymaster 127.0.0.1 6379 127.0.0.1 6380", "mymaster"),
      Some(("127.0.0.1".to_string(), 6380))
    );
    assert_eq!(parse_switch_master("other 127.0.0.1 6379 127.0.0.1 6380", "mymaster"), None);
    assert_eq!(parse_switch_master("mymaster 127.0.0.1 6379", "mymaster"), None);
  }
}
