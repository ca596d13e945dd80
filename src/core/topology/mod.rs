//! Topology support around the fred clients: TLS, the first connect
//! attempt, read replicas of a standalone primary, Sentinel switch
//! following and the cluster helpers (multi-key splitting, read scaling).

pub mod cluster;
pub mod cluster_lanes;
mod cluster_upkeep;
pub mod gather;
pub mod nodes;
pub mod replicas;
pub mod sentinel;
pub mod slot_map;
pub mod tls;

use std::time::Duration;

use fred::interfaces::ClientLike;
use fred::prelude::{Config as FredConfig, Value};
use fred::types::config::{ConnectionConfig, PerformanceConfig};

use crate::core::config::TlsConfig;
use crate::core::error::{Error, ErrorKind, Sent};

/// What the first connect attempt needs: the pool's own settings, used by
/// one client that does not retry, so the first failure (refused AUTH, TLS
/// handshake, a plaintext client on a TLS port) comes back at once instead
/// of disappearing into the background reconnect loop.
#[derive(Clone)]
pub struct FirstAttempt {
  pub fred: FredConfig,
  pub perf: PerformanceConfig,
  pub connection: ConnectionConfig,
  pub tls: TlsConfig,
  pub has_password: bool,
}

impl FirstAttempt {
  /// Connects one non-retrying client and sends PING; `Err((error, absent))`.
  pub async fn run(&self, timeout: Duration) -> std::result::Result<(), (Error, bool)> {
    let mut fred = self.fred.clone();
    fred.fail_fast = true;
    let mut connection = self.connection.clone();
    connection.max_command_attempts = 1;
    connection.connection_timeout = timeout;
    connection.internal_command_timeout = timeout;
    let mut perf = self.perf.clone();
    perf.default_command_timeout = timeout;
    let client = fred::clients::Client::new(fred, Some(perf), Some(connection), None);
    let attempt = async {
      client.init().await?;
      let ping = fred::types::CustomCommand::new_static("PING", fred::types::ClusterHash::Random, false);
      client.custom::<Value, Value>(ping, Vec::new()).await
    };
    let result = tokio::time::timeout(timeout, attempt).await;
    // Closing it must not hold the caller up.
    tokio::spawn(async move {
      let _ = tokio::time::timeout(Duration::from_secs(1), client.quit()).await;
    });
    match result {
      Ok(Ok(_)) => Ok(()),
      Ok(Err(e)) => Err(self.explain(e)),
      Err(_) => {
        let hint = if self.tls.enabled {
          " (the TLS handshake did not complete: is this a plaintext port? use redis://)"
        } else {
          ""
        };
        let msg = format!("could not connect to Redis within {} ms{hint}", timeout.as_millis());
        Err((Error::new(ErrorKind::Connection, msg).with_sent(Sent::No), false))
      }
    }
  }

  fn explain(&self, e: fred::error::Error) -> (Error, bool) {
    explain_first_failure(&self.tls, self.has_password, e)
  }
}

/// Words the first connect failure by its cause; the flag says "nothing
/// listens there" (the development fallback to memory applies).
pub fn explain_first_failure(tls: &TlsConfig, has_password: bool, e: fred::error::Error) -> (Error, bool) {
  use fred::error::ErrorKind as F;
  let details = e.details().to_string();
  let refused = details.contains("ConnectionRefused") || details.contains("Connection refused");
  let upper = details.to_ascii_uppercase();
  if *e.kind() == F::Auth || upper.contains("WRONGPASS") || upper.contains("NOAUTH") {
    let msg = if upper.contains("NOAUTH") && !has_password {
      "Redis requires a password (NOAUTH): set REDIS_PASSWORD (and REDIS_USERNAME for an ACL user) or put them in REDIS_URL".to_string()
    } else {
      format!(
        "authentication failed ({}): check REDIS_USERNAME / REDIS_PASSWORD (or the credentials in REDIS_URL)",
        first_line(&details)
      )
    };
    return (Error::config(msg).with_sent(Sent::No), false);
  }
  if let Some(err) = tls::explain_handshake_failure(tls, &details) {
    return (err.with_sent(Sent::No), false);
  }
  if !tls.enabled && !refused && matches!(e.kind(), F::IO | F::Canceled | F::Protocol | F::Parse | F::Unknown) {
    let closed = [
      "UnexpectedEof",
      "ConnectionReset",
      "Connection reset",
      "closed",
      "Closed",
      "Invalid",
      "Broken pipe",
      "BrokenPipe",
      "frame",
    ]
    .iter()
    .any(|s| details.contains(s));
    if closed || matches!(e.kind(), F::Protocol | F::Parse | F::Canceled) {
      let msg = format!(
        "the connection was closed during the handshake: is this a TLS port? use rediss:// (or REDIS_TLS=true) ({})",
        first_line(&details)
      );
      return (Error::new(ErrorKind::Connection, msg).with_sent(Sent::No), false);
    }
  }
  let absent = *e.kind() == F::IO && refused;
  (Error::from(e).with_sent(Sent::No), absent)
}

fn first_line(s: &str) -> &str {
  s.lines().next().unwrap_or("").trim()
}

/// A keyed read: safe on a replica (standalone read replicas, cluster
/// `scaleReads`; the command table's `replica_safe`). Anything else goes to
/// the primary.
pub fn is_read(name: &str) -> bool {
  crate::core::commands::lookup(name).is_some_and(crate::core::commands::CommandInfo::replica_safe)
}

/// A replica answered with an error that means "not me, ask the primary".
pub fn is_replica_refusal(reply_error: &str) -> bool {
  ["LOADING", "MASTERDOWN", "READONLY", "TRYAGAIN"].iter().any(|p| reply_error.starts_with(p))
}

/// splitmix64: cheap, well-spread pseudo-random numbers from a counter.
pub fn mix(mut z: u64) -> u64 {
  z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
  z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
  z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
  z ^ (z >> 31)
}
