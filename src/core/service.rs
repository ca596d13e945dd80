//! The one dispatch path every command takes: lifecycle checks, lazy
//! connect, then Redis. Later layers (breaker, fallback, near cache) plug in
//! here, so every command group gets them at once.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::core::client::RedisClients;
use crate::core::command::Command;
use crate::core::config::Config;
use crate::core::error::{Error, ErrorKind, Result};
use crate::core::reply::Reply;

pub struct Service {
  config: Config,
  /// `None` after `disconnect()`: every call then fails with `Closed`.
  clients: Mutex<Option<Arc<RedisClients>>>,
  connected: AtomicBool,
  connect_lock: tokio::sync::Mutex<()>,
  pub connection_attempts: AtomicU64,
}

impl Service {
  pub fn new(config: Config) -> Result<Service> {
    let clients = RedisClients::build(&config)?;
    Ok(Service {
      config,
      clients: Mutex::new(Some(Arc::new(clients))),
      connected: AtomicBool::new(false),
      connect_lock: tokio::sync::Mutex::new(()),
      connection_attempts: AtomicU64::new(0),
    })
  }

  pub fn config(&self) -> &Config {
    &self.config
  }

  fn clients(&self) -> Result<Arc<RedisClients>> {
    match self.clients.lock() {
      Ok(guard) => guard.clone().ok_or_else(Error::closed),
      Err(_) => Err(Error::new(ErrorKind::Internal, "client state lock poisoned")),
    }
  }

  pub fn is_connected(&self) -> bool {
    self.connected.load(Ordering::Acquire) && self.clients().map(|c| c.is_connected()).unwrap_or(false)
  }

  /// Connects (again, after `disconnect()`); concurrent callers share one attempt.
  pub async fn connect(&self) -> Result<()> {
    let _guard = self.connect_lock.lock().await;
    let clients = {
      let mut slot = self.clients.lock().map_err(|_| Error::new(ErrorKind::Internal, "lock poisoned"))?;
      if slot.is_none() {
        *slot = Some(Arc::new(RedisClients::build(&self.config)?));
        self.connected.store(false, Ordering::Release);
      }
      slot.clone().ok_or_else(Error::closed)?
    };
    if self.connected.load(Ordering::Acquire) {
      return Ok(());
    }
    self.connection_attempts.fetch_add(1, Ordering::Relaxed);
    clients.connect().await?;
    self.connected.store(true, Ordering::Release);
    Ok(())
  }

  async fn ready_clients(&self) -> Result<Arc<RedisClients>> {
    let clients = self.clients()?;
    if !self.connected.load(Ordering::Acquire) {
      let _guard = self.connect_lock.lock().await;
      if !self.connected.load(Ordering::Acquire) {
        self.connection_attempts.fetch_add(1, Ordering::Relaxed);
        clients.connect().await?;
        self.connected.store(true, Ordering::Release);
      }
    }
    Ok(clients)
  }

  pub async fn disconnect(&self) {
    let taken = self.clients.lock().ok().and_then(|mut slot| slot.take());
    self.connected.store(false, Ordering::Release);
    if let Some(clients) = taken {
      clients.quit().await;
    }
  }

  /// Every single command goes through here.
  pub async fn dispatch(&self, cmd: Command) -> Result<Reply> {
    let clients = self.ready_clients().await?;
    clients.send(cmd).await
  }

  pub async fn pipeline(&self, cmds: Vec<Command>) -> Result<Vec<Result<Reply>>> {
    let clients = self.ready_clients().await?;
    Ok(clients.pipeline(cmds).await)
  }

  pub async fn transaction(&self, cmds: Vec<Command>) -> Result<Vec<Result<Reply>>> {
    let clients = self.ready_clients().await?;
    clients.transaction(cmds).await
  }
}

/// Shared ownership for the binding.
pub type SharedService = Arc<Service>;
