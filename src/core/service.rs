//! The one dispatch path every command takes: lifecycle checks, lazy
//! connect, then Redis. Later layers (breaker, fallback, near cache) plug in
//! here, so every command group gets them at once.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::core::client::RedisClients;
use crate::core::command::Command;
use crate::core::config::{Config, Topology};
use crate::core::lane::{self, Done, Lane, LaneSettings};
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
  /// The pipelined connection for ordinary commands (standalone, plain
  /// TCP); `None` in other topologies or until the first connect.
  lane: std::sync::RwLock<Option<Arc<Lane>>>,
  lane_settings: Option<LaneSettings>,
  lane_reopening: AtomicBool,
  /// Set by the binding, which drives lanes from Node's event loop.
  lanes_driven_outside: AtomicBool,
  /// Reopening a dead lane happens off the JS thread, on this runtime.
  runtime: Option<tokio::runtime::Handle>,
}

impl Service {
  pub fn new(config: Config) -> Result<Service> {
    let clients = if config.enabled { Some(Arc::new(RedisClients::build(&config)?)) } else { None };
    let memory = MemoryStore::new(config.fallback_max_bytes, config.fallback_ttl);
    let lane_settings = lane_settings(&config);
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
      lane_settings,
      lane: std::sync::RwLock::new(None),
      lane_reopening: AtomicBool::new(false),
      lanes_driven_outside: AtomicBool::new(false),
      runtime: tokio::runtime::Handle::try_current().ok(),
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
    self.open_lane().await;
    Ok(())
  }

  /// Opens the fast lane where the topology allows one. A lane that cannot
  /// open is not an error: fred carries every command meanwhile.
  async fn open_lane(&self) {
    let Some(settings) = &self.lane_settings else { return };
    if let Ok(lane) = Lane::open(settings).await {
      if !self.lanes_driven_outside.load(Ordering::Acquire) && lane::drive_with_tokio(lane.clone()).is_err() {
        return;
      }
      if let Ok(mut slot) = self.lane.write() {
        if let Some(old) = slot.replace(lane) {
          old.close();
        }
      }
    }
  }

  fn live_lane(&self) -> Option<Arc<Lane>> {
    let slot = self.lane.read().ok()?;
    slot.as_ref().filter(|l| l.is_alive() && l.is_driven()).cloned()
  }

  /// The binding drives lanes itself: `undriven_lane` hands each new one over.
  pub fn drive_lanes_outside(&self) {
    self.lanes_driven_outside.store(true, Ordering::Release);
  }

  /// A freshly opened lane waiting for its driver.
  pub fn undriven_lane(&self) -> Option<Arc<Lane>> {
    let slot = self.lane.read().ok()?;
    slot.as_ref().filter(|l| l.is_alive() && !l.is_driven()).cloned()
  }

  /// The fast path, called on the JS thread: a batch goes out on the lane
  /// now, or `done` comes back and the caller takes the async path.
  pub fn submit_fast(self: &Arc<Self>, cmds: &[Command], done: Done) -> std::result::Result<(), Done> {
    if self.lane_settings.is_none()
      || cmds.is_empty()
      || self.closed.load(Ordering::Acquire)
      || self.serving_from_memory()
      || !self.connected.load(Ordering::Acquire)
      || !cmds.iter().all(lane::carries)
    {
      return Err(done);
    }
    match self.live_lane() {
      Some(lane) => lane.submit(cmds, done),
      None => {
        self.reopen_lane();
        Err(done)
      },
    }
  }

  /// One reopen attempt at a time, spaced out while Redis is away.
  fn reopen_lane(self: &Arc<Self>) {
    let Some(runtime) = &self.runtime else { return };
    let alive = self.lane.read().map(|slot| slot.as_ref().is_some_and(|l| l.is_alive())).unwrap_or(false);
    if alive || self.lane_reopening.swap(true, Ordering::AcqRel) {
      return;
    }
    let service = self.clone();
    runtime.spawn(async move {
      service.open_lane().await;
      if service.live_lane().is_none() {
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
      }
      service.lane_reopening.store(false, Ordering::Release);
    });
  }

  fn close_lane(&self) {
    if let Some(lane) = self.lane.write().ok().and_then(|mut slot| slot.take()) {
      lane.close();
    }
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
      // Boxed: the cold connect path stays out of every command's future.
      Box::pin(async {
        let _guard = self.connect_lock.lock().await;
        self.connect_locked(&clients).await
      })
      .await?;
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
    self.close_lane();
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

  /// The commands one JS tick issued, as one pipeline on one connection:
  /// one write, one flush, one wake-up for all their replies, and the
  /// tick's order kept. Blocking commands go on their own so they do not
  /// hold the others' replies back.
  pub async fn dispatch_batch(&self, cmds: Vec<Command>) -> Vec<Result<Reply>> {
    if cmds.len() == 1 || cmds.iter().any(Command::is_blocking) {
      let singles = cmds.into_iter().map(|c| self.dispatch(c));
      return futures::future::join_all(singles).await;
    }
    let n = cmds.len();
    match self.pipeline(cmds).await {
      Ok(results) => results,
      Err(e) => (0..n).map(|_| Err(e.clone())).collect(),
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

/// Standalone over plain TCP gets a fast lane; TLS, cluster and sentinel
/// stay entirely on fred.
fn lane_settings(config: &Config) -> Option<LaneSettings> {
  if !config.enabled || config.tls.enabled || !matches!(config.topology, Topology::Standalone) {
    return None;
  }
  Some(LaneSettings {
    endpoint: config.endpoint.clone(),
    username: config.username.clone(),
    password: config.password.clone(),
    db: config.db,
    connection_name: config.connection_name.clone(),
    connect_timeout: config.connect_timeout,
    command_timeout: config.command_timeout,
  })
}

/// Shared ownership for the binding.
pub type SharedService = Arc<Service>;
