//! Blocking commands (BLPOP, BRPOPLPUSH, BLMOVE, BZPOPMIN, XREAD BLOCK,
//! WAIT, ...) on connections of their own. A blocked connection answers
//! nothing else until the command returns, so these never share the pool's
//! connections (nor the lanes, which refuse them): each call in flight
//! takes a connection, and gives it back for the next blocking call. The
//! call may take its block time plus the command timeout; a block time of 0
//! waits for ever, as in Redis.

use std::sync::Mutex;
use std::time::Duration;

use fred::clients::Client;
use fred::interfaces::ClientLike;
use fred::prelude::Value;
use fred::types::config::Options;

use crate::core::command::Command;
use crate::core::error::{Error, ErrorKind, Result, Sent};
use crate::core::reply::Reply;

/// Idle blocking connections kept for the next call; more are closed.
pub const MAX_IDLE_BLOCKING_CONNECTIONS: usize = 8;

pub struct BlockingConnections {
  idle: Mutex<Vec<Client>>,
  connect_timeout: Duration,
  command_timeout: Duration,
}

impl BlockingConnections {
  pub fn new(connect_timeout: Duration, command_timeout: Duration) -> Self {
    BlockingConnections { idle: Mutex::new(Vec::new()), connect_timeout, command_timeout }
  }

  /// Runs `cmd` on a connection of its own, opened like `template` (same
  /// deployment, TLS, AUTH and name) when no idle one is left.
  pub async fn send(&self, template: &Client, cmd: Command) -> Result<Reply> {
    let client = self.take(template).await?;
    // Zero is fred's "no timeout": a block time of 0 waits for ever.
    let timeout = match cmd.block_time() {
      Some(None) => Duration::ZERO,
      Some(Some(block)) if !self.command_timeout.is_zero() => block + self.command_timeout,
      _ => self.command_timeout,
    };
    let options = Options { timeout: Some(timeout), fail_fast: true, ..Options::default() };
    let result = client.with_options(&options).custom_raw::<Value>(cmd.to_custom(), cmd.args).await;
    match result {
      Ok(frame) => {
        self.give_back(client);
        Reply::from_frame(frame)
      }
      Err(e) => {
        // It may still be blocked on the server: never reuse it.
        tokio::spawn(async move {
          let _ = tokio::time::timeout(Duration::from_secs(1), client.quit()).await;
        });
        Err(Error::from(e))
      }
    }
  }

  async fn take(&self, template: &Client) -> Result<Client> {
    loop {
      let idle = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
      match idle {
        Some(c) if c.is_connected() => return Ok(c),
        Some(_) => continue,
        None => break,
      }
    }
    let client = template.clone_new();
    let _connection_task = client.connect(); // runs on its own; wait_for_connect follows it
    match tokio::time::timeout(self.connect_timeout, client.wait_for_connect()).await {
      Ok(Ok(())) => Ok(client),
      Ok(Err(e)) => Err(Error::from(e).with_sent(Sent::No)),
      Err(_) => {
        let _ = client.quit().await;
        Err(
          Error::new(ErrorKind::Connection, "could not open a connection for a blocking command in time")
            .with_sent(Sent::No),
        )
      }
    }
  }

  fn give_back(&self, client: Client) {
    let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
    if idle.len() < MAX_IDLE_BLOCKING_CONNECTIONS {
      idle.push(client);
    } else {
      drop(idle);
      tokio::spawn(async move {
        let _ = client.quit().await;
      });
    }
  }

  /// Closes the idle connections (the service disconnects).
  pub async fn close(&self) {
    let idle = std::mem::take(&mut *self.idle.lock().unwrap_or_else(|p| p.into_inner()));
    for c in idle {
      let _ = tokio::time::timeout(Duration::from_secs(1), c.quit()).await;
    }
  }
}
