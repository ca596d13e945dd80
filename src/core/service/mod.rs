//! The service: its lifecycle (connect, lazy connect, disconnect, memory
//! mode, degraded start), the request pipeline every batch takes
//! (submit.rs: plan, near cache, route, transport, finish) and what sits
//! beside it (lanes and tracking, recovery and replay, reports).

pub(crate) mod backend;
pub mod chunks;
mod lanes;
mod recovery;
mod replay;
mod report;
mod state;
mod submit;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::core::command::Command;
use crate::core::compression::Values;
use crate::core::config::{Config, Topology};
use crate::core::error::{Error, ErrorKind, Result, Sent};
use crate::core::events::Event;
use crate::core::lane::{Lane, LaneSettings};
use crate::core::limits::{check_all, check_size};
use crate::core::memory::MemoryStore;
use crate::core::near_cache::NearCache;
use crate::core::pubsub::{Op, PubSub, Sink};
use crate::core::reply::Reply;
use crate::core::resilience::Resilience;
use crate::core::topology::cluster_lanes::ClusterLanes;
use crate::core::transport;
pub(crate) use backend::Backend;
use state::State;

pub struct Service {
  config: Config,
  /// `None` after `disconnect()`: every call then fails with `Closed`.
  /// fred (a Redis server over TCP) or the Upstash REST client.
  clients: Mutex<Option<Arc<Backend>>>,
  /// Connected, closed, memory mode, degraded start (state.rs).
  state: State,
  connect_lock: tokio::sync::Mutex<()>,
  pub connection_attempts: AtomicU64,
  /// The in-memory store: the whole backend with `enabled: false`, or
  /// after the first connect failed in development (`auto_memory`).
  memory: Arc<MemoryStore>,
  /// Breakers, fallback, journal, stats and events for every batch.
  resilience: Resilience,
  /// The recovery loop (probe, replay, leave degraded) is running.
  recovering: AtomicBool,
  /// The pipelined connection for ordinary commands (standalone, plain
  /// TCP); `None` in other topologies or until the first connect.
  lane: std::sync::RwLock<Option<Arc<Lane>>>,
  lane_settings: Option<LaneSettings>,
  lane_reopening: AtomicBool,
  /// Set by the binding, which drives lanes from Node's event loop.
  lanes_driven_outside: AtomicBool,
  /// Reopening a dead lane happens off the JS thread, on this runtime.
  runtime: Option<tokio::runtime::Handle>,
  /// Cluster commands on a lane per master; `None` outside a cluster.
  cluster: Option<Arc<ClusterLanes>>,
  /// Tracking-invalidated reads (`nearCache`): standalone with a lane, or a
  /// cluster.
  near: Option<Arc<NearCache>>,
  /// Cluster: the near cache's broadcast tracking on every node.
  node_tracking: Option<Arc<crate::core::node_tracking::NodeTracking>>,
  /// The near cache's invalidation subscriber task (cluster: the node
  /// tracking's upkeep).
  tracker: Mutex<Option<tokio::task::JoinHandle<()>>>,
  /// Pub/sub receiving: its own connection, opened on the first subscribe.
  pubsub: PubSub,
  /// Tokens and marker keys for replaying the outage journal exactly once.
  replay_markers: replay::ReplayMarkers,
  /// Value compression on the way out, the header checked on the way in
  /// (src/core/compression): at `submit`'s two ends.
  values: Values,
}

impl Service {
  pub fn new(config: Config) -> Result<Service> {
    let clients = if config.enabled { Some(Arc::new(Backend::build(&config)?)) } else { None };
    let memory = Arc::new(MemoryStore::new(config.fallback_max_bytes, config.fallback_ttl));
    let resilience = Resilience::new(&config, memory.clone())?;
    let replay_markers = replay::ReplayMarkers::new(resilience.fallback().durable_id());
    let base = transport::lanes::connection_settings(&config, resilience.events())?;
    let lane_settings = transport::lanes::lane_settings(&config, &base);
    let cluster_lanes = config.enabled && matches!(config.topology, Topology::Cluster { .. });
    let near = match (&config.near_cache, &lane_settings) {
      (Some(c), Some(_)) => Some(Arc::new(NearCache::new(c))),
      (Some(c), None) if cluster_lanes => Some(Arc::new(NearCache::new(c))),
      _ => None,
    };
    let node_tracking = lanes::node_tracking(&config, near.as_ref(), &base);
    let runtime = tokio::runtime::Handle::try_current().ok();
    let cluster = transport::cluster_lanes::cluster_lanes(&config, &base, runtime.as_ref());
    let values = Values::new(config.compression, config.max_value_bytes);
    // `enabled: false` is announced by the facade's logger (lib/service.js).
    Ok(Service {
      values,
      state: State::new(!config.enabled),
      config,
      clients: Mutex::new(clients),
      connect_lock: tokio::sync::Mutex::new(()),
      connection_attempts: AtomicU64::new(0),
      memory,
      resilience,
      recovering: AtomicBool::new(false),
      lane_settings,
      lane: std::sync::RwLock::new(None),
      lane_reopening: AtomicBool::new(false),
      lanes_driven_outside: AtomicBool::new(false),
      runtime,
      cluster,
      near,
      node_tracking,
      tracker: Mutex::new(None),
      pubsub: PubSub::new(),
      replay_markers,
    })
  }

  pub fn config(&self) -> &Config {
    &self.config
  }

  fn clients(&self) -> Result<Arc<Backend>> {
    match self.clients.lock() {
      Ok(guard) => guard.clone().ok_or_else(Error::closed),
      Err(_) => Err(Error::new(ErrorKind::Internal, "client state lock poisoned")),
    }
  }

  pub fn resilience(&self) -> &Resilience {
    &self.resilience
  }

  /// True only when Redis itself can serve a command.
  pub fn is_connected(&self) -> bool {
    !self.serving_from_memory()
      && !self.resilience.is_degraded()
      && self.state.connected()
      && self.clients().map(|c| c.is_connected()).unwrap_or(false)
  }

  /// Connects (again, after `disconnect()`); concurrent callers share one attempt.
  pub async fn connect(&self) -> Result<()> {
    self.state.open();
    if self.serving_from_memory() {
      return Ok(());
    }
    let _guard = self.connect_lock.lock().await;
    let clients = {
      let mut slot = self.clients.lock().map_err(|_| Error::new(ErrorKind::Internal, "lock poisoned"))?;
      if slot.is_none() && self.config.enabled {
        *slot = Some(Arc::new(Backend::build(&self.config)?));
        self.state.set_disconnected();
      }
      slot.clone().ok_or_else(Error::closed)?
    };
    match self.connect_locked(&clients).await {
      // Redis is not there yet: up, degraded; the recovery loop connects.
      Err(_) if self.state.degraded_start() && !self.state.ever_connected() => Ok(()),
      other => other,
    }
  }

  /// Starts the recovery loop if the service is degraded (a connect that
  /// came up degraded) or has journalled writes to replay.
  pub fn ensure_recovery(self: &Arc<Self>) {
    self.after_batch(false);
  }

  /// One connect attempt; the caller holds `connect_lock`.
  async fn connect_locked(&self, clients: &Backend) -> Result<()> {
    if self.state.connected() || self.serving_from_memory() {
      return Ok(());
    }
    self.connection_attempts.fetch_add(1, Ordering::Relaxed);
    let started = std::time::Instant::now();
    let connected = clients.connect().await;
    let (kind, address, port) = match clients {
      Backend::Upstash(u) => ("rest", u.host().to_string(), 443),
      Backend::Redis(_) => ("pool", self.config.endpoint.host.clone(), self.config.endpoint.port),
    };
    self.resilience.emit(Event::Connection {
      kind,
      address,
      port,
      duration_ms: Some(started.elapsed().as_secs_f64() * 1e3),
      error: connected.as_ref().err().map(|(e, _)| (e.code(), e.message.clone())),
    });
    if let Err((e, absent)) = connected {
      return self.memory_after_failed_connect(e, absent);
    }
    clients.report_reconnects(self.resilience.events());
    self.state.set_connected();
    self.start_tracking().await;
    self.open_lane().await;
    if let Some(router) = &self.cluster {
      router.start().await;
    }
    self.resilience.emit(Event::Connect);
    self.resilience.emit(Event::Ready);
    Ok(())
  }

  pub fn serving_from_memory(&self) -> bool {
    self.state.memory()
  }

  pub fn memory(&self) -> &MemoryStore {
    &self.memory
  }

  /// Development default: no Redis reachable at the first connect means
  /// the process runs on the in-memory store, with one warning.
  /// Only when nothing listens: a wrong password or a hang stays an error.
  fn memory_after_failed_connect(&self, e: Error, absent: bool) -> Result<()> {
    if self.config.auto_memory && absent && !self.state.ever_connected() {
      if self.state.enter_memory() {
        // Printed by the facade's logger (lib/logger.js), as every message is.
        self.resilience.emit(Event::MemoryMode { target: self.config.target(), reason: e.message.clone() });
      }
      return Ok(());
    }
    // Production, or development with REDIS_ENABLED=true: nothing listens
    // yet, so come up degraded as after a mid-run outage (a wrong
    // password, an ACL refusal or a TLS mismatch stays an error).
    if absent && self.config.fallback_enabled && !self.state.ever_connected() && self.state.mark_degraded_start() {
      self.resilience.enter_degraded(&format!("at start: {}", e.message));
    }
    Err(e)
  }

  /// Fails with `Closed` after `disconnect()`.
  pub fn check_open(&self) -> Result<()> {
    if self.state.closed() {
      return Err(Error::closed());
    }
    Ok(())
  }

  /// `None`: serve from memory.
  async fn ready_clients(&self) -> Result<Option<Arc<Backend>>> {
    if self.state.closed() {
      return Err(Error::closed());
    }
    if self.serving_from_memory() {
      return Ok(None);
    }
    let clients = self.clients()?;
    if !self.state.connected() && self.state.degraded_start() {
      // Up degraded since start: the recovery loop connects, calls do not wait for it.
      return Err(
        Error::new(ErrorKind::Connection, "Redis has not been reachable since the service started").with_sent(Sent::No),
      );
    }
    if !self.state.connected() {
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
    self.state.close();
    let taken = self.clients.lock().ok().and_then(|mut slot| slot.take());
    self.state.set_disconnected();
    self.close_lane();
    if let Some(router) = &self.cluster {
      router.close();
    }
    self.stop_tracking();
    self.resilience.emit(Event::End);
    if let Some(clients) = taken {
      clients.quit().await;
    }
    // Pub/sub: the subscriber connection goes too (a new subscribe reopens it).
    self.pubsub.close().await;
  }

  /// Where received pub/sub messages go (set once by the binding).
  pub fn set_message_sink(&self, sink: Sink) {
    self.pubsub.set_sink(sink);
  }

  /// subscribe / psubscribe / ssubscribe / unsubscribe / punsubscribe /
  /// sunsubscribe on the subscriber connection; resolves the count held.
  pub async fn pubsub(&self, op: Op, names: Vec<String>) -> Result<u64> {
    self.check_open()?;
    if self.serving_from_memory() {
      return Err(Error::new(
        ErrorKind::Connection,
        "pub/sub receiving needs Redis: this service serves from the in-memory store",
      ));
    }
    if let crate::core::config::Provider::Upstash { .. } = self.config.provider {
      return Err(crate::core::upstash::codec::unsupported_named(
        &format!("{op:?}").to_ascii_uppercase(),
        "receiving pub/sub messages needs a connection of its own (PUBLISH works)",
      ));
    }
    let switches = self.clients().ok().and_then(|c| c.master_switches());
    self.pubsub.run(&self.config, op, names, switches).await
  }

  /// The static topology facts (no I/O): `null` without Redis clients.
  pub fn topology_info(&self) -> serde_json::Value {
    self.clients().ok().map(|c| c.topology_info()).unwrap_or(serde_json::Value::Null)
  }

  /// The topology with per-node state and PING latency (each within
  /// `limit`). It never connects (a health check must not wait for a
  /// connect timeout): in memory mode, or while not connected, only the
  /// static facts and why.
  pub async fn topology_report(&self, limit: std::time::Duration) -> serde_json::Value {
    if self.state.closed() {
      return serde_json::json!({ "mode": self.config.mode(), "nodeCount": 0, "nodes": [], "error": Error::closed().message });
    }
    if self.serving_from_memory() {
      return serde_json::json!({ "mode": "memory", "nodeCount": 0, "nodes": [] });
    }
    match self.clients() {
      Ok(clients) if self.state.connected() => clients.topology_report(limit).await,
      Ok(clients) => {
        let mut info = clients.topology_info();
        info["nodeCount"] = 0.into();
        info["nodes"] = serde_json::json!([]);
        info["error"] = "not connected".into();
        info
      }
      Err(e) => serde_json::json!({ "mode": self.config.mode(), "nodeCount": 0, "nodes": [], "error": e.message }),
    }
  }

  /// The nodes SCAN must visit one by one (cluster primaries, `host:port`);
  /// empty when the service is one keyspace (standalone, sentinel, memory).
  pub async fn scan_nodes(&self) -> Result<Vec<String>> {
    match self.ready_clients().await? {
      Some(clients) => clients.scan_nodes().await,
      None => Ok(Vec::new()),
    }
  }

  /// The cluster primaries known now, without I/O (ioredis' synchronous
  /// `Cluster#nodes()`); empty off a cluster or before the first connect.
  pub fn known_nodes(&self) -> Vec<String> {
    self.clients().map(|c| c.known_primaries()).unwrap_or_default()
  }

  /// One command on one node named by `scan_nodes`.
  pub async fn dispatch_to_node(&self, node: &str, cmd: Command) -> Result<Reply> {
    check_size(&cmd, self.resilience.max_value_bytes())?;
    let mut cmds = [cmd];
    self.values.encode(&mut cmds);
    let [cmd] = cmds;
    let mut result = match self.ready_clients().await? {
      Some(clients) => clients.send_to_node(node, cmd.clone()).await,
      None => self.memory.execute(&cmd),
    };
    self.values.decode_one(&cmd, &mut result);
    result
  }

  pub async fn transaction(&self, mut cmds: Vec<Command>) -> Result<Vec<Result<Reply>>> {
    // One command too big refuses the whole transaction: none of it runs.
    check_all(&cmds, self.resilience.max_value_bytes())?;
    self.values.encode(&mut cmds);
    self.note_writes(&cmds);
    let mut out = match self.ready_clients().await? {
      Some(clients) => clients.transaction(cmds.clone()).await?,
      None => cmds.iter().map(|c| self.memory.execute(c)).collect(),
    };
    self.values.decode(&cmds, &mut out);
    Ok(out)
  }
}

/// Shared ownership for the binding.
pub type SharedService = Arc<Service>;
