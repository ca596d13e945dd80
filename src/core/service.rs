//! The one dispatch path every command takes: lifecycle checks, lazy
//! connect, then Redis. Later layers (breaker, fallback, near cache) plug in
//! here, so every command group gets them at once.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::core::client::RedisClients;
use crate::core::command::Command;
use crate::core::config::Config;
use crate::core::error::{Error, ErrorKind, Result};
use crate::core::memory::MemoryStore;
use crate::core::reply::Reply;

pub struct Service {
  config: Config,
  /// `None` after `disconnect()`: every call then fails with `Closed`.
  clients: Mutex<Option<Arc<RedisClients>>>,
  connected: AtomicBool,
  connect_lock: tokio::sync::Mutex<()>,
  pub connection_attempts: AtomicU64,
  /// The in-memory store: the whole backend with `enabled: false`, or
  /// after the first connect failed in development (`auto_memory`).
  memory: MemoryStore,
  serving_from_memory: AtomicBool,
  ever_connected: AtomicBool,
  /// Set by `disconnect()`, cleared by `connect()`.
  closed: AtomicBool,
}

impl Service {
  pub fn new(config: Config) -> Result<Service> {
    let clients = if config.enabled { Some(Arc::new(RedisClients::build(&config)?)) } else { None };
    let memory = MemoryStore::new(config.fallback_max_bytes, config.fallback_ttl);
    if !config.enabled {
      eprintln!("[resilis] REDIS_ENABLED=false: serving every command from the in-memory store (data is per process)");
    }
    Ok(Service {
      serving_from_memory: AtomicBool::new(!config.enabled),
      config,
      clients: Mutex::new(clients),
      connected: AtomicBool::new(false),
      connect_lock: tokio::sync::Mutex::new(()),
      connection_attempts: AtomicU64::new(0),
      memory,
      ever_connected: AtomicBool::new(false),
      closed: AtomicBool::new(false),
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

  /// True only when Redis itself can serve a command.
  pub fn is_connected(&self) -> bool {
    !self.serving_from_memory()
      && self.connected.load(Ordering::Acquire)
      && self.clients().map(|c| c.is_connected()).unwrap_or(false)
  }

  /// Connects (again, after `disconnect()`); concurrent callers share one attempt.
  pub async fn connect(&self) -> Result<()> {
    self.closed.store(false, Ordering::Release);
    if self.serving_from_memory() {
      return Ok(());
    }
    let _guard = self.connect_lock.lock().await;
    let clients = {
      let mut slot = self.clients.lock().map_err(|_| Error::new(ErrorKind::Internal, "lock poisoned"))?;
      if slot.is_none() && self.config.enabled {
        *slot = Some(Arc::new(RedisClients::build(&self.config)?));
        self.connected.store(false, Ordering::Release);
      }
      slot.clone().ok_or_else(Error::closed)?
    };
    self.connect_locked(&clients).await
  }

  /// One connect attempt; the caller holds `connect_lock`.
  async fn connect_locked(&self, clients: &RedisClients) -> Result<()> {
    if self.connected.load(Ordering::Acquire) || self.serving_from_memory() {
      return Ok(());
    }
    self.connection_attempts.fetch_add(1, Ordering::Relaxed);
    if let Err((e, absent)) = clients.connect().await {
      return self.memory_after_failed_connect(e, absent);
    }
    self.connected.store(true, Ordering::Release);
    self.ever_connected.store(true, Ordering::Release);
    Ok(())
  }

  pub fn serving_from_memory(&self) -> bool {
    self.serving_from_memory.load(Ordering::Acquire)
  }

  pub fn memory(&self) -> &MemoryStore {
    &self.memory
  }

  /// Development default: no Redis reachable at the first connect means
  /// the process runs on the in-memory store, with one warning.
  /// Only when nothing listens: a wrong password or a hang stays an error.
  fn memory_after_failed_connect(&self, e: Error, absent: bool) -> Result<()> {
    if self.config.auto_memory && absent && !self.ever_connected.load(Ordering::Acquire) {
      if !self.serving_from_memory.swap(true, Ordering::AcqRel) {
        eprintln!(
          "[resilis] no Redis reachable at {}:{} ({}); serving from the in-memory store (development mode; set REDIS_ENABLED=true to fail instead)",
          self.config.endpoint.host, self.config.endpoint.port, e.message
        );
      }
      return Ok(());
    }
    Err(e)
  }

  /// `None`: serve from memory.
  async fn ready_clients(&self) -> Result<Option<Arc<RedisClients>>> {
    if self.closed.load(Ordering::Acquire) {
      return Err(Error::closed());
    }
    if self.serving_from_memory() {
      return Ok(None);
    }
    let clients = self.clients()?;
    if !self.connected.load(Ordering::Acquire) {
      let _guard = self.connect_lock.lock().await;
      self.connect_locked(&clients).await?;
    }
    if self.serving_from_memory() {
      return Ok(None);
    }
    Ok(Some(clients))
  }

  pub async fn disconnect(&self) {
    self.closed.store(true, Ordering::Release);
    let taken = self.clients.lock().ok().and_then(|mut slot| slot.take());
    self.connected.store(false, Ordering::Release);
    if let Some(clients) = taken {
      clients.quit().await;
    }
  }

  /// Every single command goes through here.
  pub async fn dispatch(&self, cmd: Command) -> Result<Reply> {
    match self.ready_clients().await? {
      Some(clients) => clients.send(cmd).await,
      None => self.memory.execute(&cmd),
    }
  }

  pub async fn pipeline(&self, cmds: Vec<Command>) -> Result<Vec<Result<Reply>>> {
    match self.ready_clients().await? {
      Some(clients) => Ok(clients.pipeline(cmds).await),
      None => Ok(cmds.iter().map(|c| self.memory.execute(c)).collect()),
    }
  }

  pub async fn transaction(&self, cmds: Vec<Command>) -> Result<Vec<Result<Reply>>> {
    match self.ready_clients().await? {
      Some(clients) => clients.transaction(cmds).await,
      None => Ok(cmds.iter().map(|c| self.memory.execute(c)).collect()),
    }
  }
}

/// Shared ownership for the binding.
pub type SharedService = Arc<Service>;
