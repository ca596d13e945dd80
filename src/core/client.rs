//! The fred clients for one deployment, and their lifecycle.

use std::time::Duration;

use fred::clients::Pool;
use fred::interfaces::{ClientLike, EventInterface};
use fred::prelude::{Config as FredConfig, ReconnectPolicy, Server, ServerConfig, Value};
use fred::types::config::{ClusterDiscoveryPolicy, ConnectionConfig, Options, PerformanceConfig, TcpConfig};
use fred::types::RespVersion;

use crate::core::blocking::BlockingConnections;
use crate::core::command::Command;
use crate::core::config::{Config, Endpoint, Topology};
use crate::core::error::{Error, ErrorKind, Result, Sent};
use crate::core::events::{Event, Events};
use crate::core::reply::Reply;
use crate::core::topology;

pub struct RedisClients {
  pool: Pool,
  connect_timeout: Duration,
  connection_name: Option<String>,
  /// The connection transactions run on, opened on first use.
  tx_client: tokio::sync::Mutex<Option<fred::clients::Client>>,
  /// Connections for blocking commands, one per call in flight.
  blocking: BlockingConnections,
  /// Set once the reconnect listeners that re-apply the name are running.
  named: std::sync::atomic::AtomicBool,
  /// Set once the reconnect listeners that report connections are running.
  watched: std::sync::atomic::AtomicBool,
  /// The standalone endpoint, probed before the first connect.
  probe: Option<Endpoint>,
  /// One non-retrying attempt before the pool connects (its error is the cause).
  first: topology::FirstAttempt,
  /// Read replicas of a standalone primary (`REDIS_READ_REPLICAS`).
  replicas: Option<topology::replicas::ReadReplicas>,
  /// Sentinel: what `+switch-master` follows, started on the first connect.
  sentinel: Option<SentinelFollow>,
  /// Bumped on every master switch: the transaction connection is reopened.
  switches: std::sync::Arc<std::sync::atomic::AtomicU64>,
  tx_generation: std::sync::atomic::AtomicU64,
  /// Cluster mode: multi-key splitting, read scaling, CLUSTERDOWN retries.
  cluster: Option<topology::cluster::ClusterOptions>,
  mode: &'static str,
  seeds: usize,
}

struct SentinelFollow {
  base: FredConfig,
  sentinels: Vec<Endpoint>,
  master_name: String,
  password: Option<String>,
  follower: tokio::sync::Mutex<Option<topology::sentinel::SwitchFollower>>,
}

fn server(e: &Endpoint) -> Server {
  Server::new(e.host.as_str(), e.port)
}

/// A data node's address, with the TLS server name when one is configured.
fn data_server(e: &Endpoint, config: &Config) -> Server {
  #[allow(unused_mut)]
  let mut s = server(e);
  if let Some(name) = &config.tls.servername {
    s.tls_server_name = Some(name.clone().into());
  }
  s
}

pub(crate) fn fred_config(config: &Config) -> Result<FredConfig> {
  let server = match &config.topology {
    Topology::Standalone => ServerConfig::Centralized { server: data_server(&config.endpoint, config) },
    Topology::Cluster { nodes, .. } => ServerConfig::Clustered {
      hosts: nodes.iter().map(|n| data_server(n, config)).collect(),
      policy: ClusterDiscoveryPolicy::default(),
    },
    Topology::Sentinel { sentinels, master_name, password } => ServerConfig::Sentinel {
      hosts: sentinels.iter().map(server).collect(),
      service_name: master_name.clone(),
      username: None,
      password: password.clone(),
    },
  };
  let mut fred = FredConfig {
    server,
    username: config.username.clone(),
    password: config.password.clone(),
    database: if config.db == 0 { None } else { Some(config.db) },
    version: RespVersion::RESP2,
    fail_fast: false,
    ..FredConfig::default()
  };
  if config.tls.enabled {
    fred.tls = Some(topology::tls::fred_tls(&config.tls)?);
  }
  Ok(fred)
}

impl RedisClients {
  /// Builds the clients; nothing connects until `connect`.
  pub fn build(config: &Config) -> Result<RedisClients> {
    let fred = fred_config(config)?;
    let perf = PerformanceConfig { default_command_timeout: config.command_timeout, ..PerformanceConfig::default() };
    let connection = ConnectionConfig {
      connection_timeout: config.connect_timeout,
      internal_command_timeout: config.connect_timeout,
      // fred re-sends the commands in flight on a dropped connection: an
      // RPUSH or INCR that already ran would run twice. Not outside a
      // cluster: the fallback answers what is safe (resilience.rs), the rest
      // reports `sent`. fred's cluster router spends attempts on its own
      // slot syncs and redirections, so a cluster keeps the retries.
      max_command_attempts: match &config.topology {
        Topology::Cluster { .. } => config.max_retries.saturating_add(1),
        _ => 1,
      },
      max_redirections: match &config.topology {
        Topology::Cluster { max_redirections, .. } => *max_redirections,
        _ => 5,
      },
      tcp: TcpConfig { nodelay: Some(config.no_delay), ..TcpConfig::default() },
      ..ConnectionConfig::default()
    };
    let mut connection = connection;
    let cluster = match &config.topology {
      Topology::Cluster { scale_reads, retry_delay_on_cluster_down, .. } => {
        if *scale_reads {
          connection.replica = fred::types::config::ReplicaConfig {
            lazy_connections: true,
            primary_fallback: true,
            ..fred::types::config::ReplicaConfig::default()
          };
        }
        Some(topology::cluster::ClusterOptions {
          scale_reads: *scale_reads,
          cluster_down_delay: *retry_delay_on_cluster_down,
          cluster_down_retries: config.max_retries.max(1),
        })
      }
      _ => None,
    };
    // Exponential backoff (default 50 ms to 2 s) with jitter; retries forever in
    // the background: the breaker and fallback decide what callers see.
    let ms = |d: Duration| d.as_millis().min(u32::MAX as u128) as u32;
    let mut policy =
      ReconnectPolicy::new_exponential(0, ms(config.reconnect_min_delay), ms(config.reconnect_max_delay), 2);
    policy.set_jitter(100);
    if let Topology::Sentinel { .. } = config.topology {
      // fred closes the old master's connections only after the first
      // reconnect delay: following `+switch-master` must not wait 50-150 ms
      // while the old master still takes writes. 1, 3, 9, ... ms up to the max delay.
      policy = ReconnectPolicy::new_exponential(0, 1, ms(config.reconnect_max_delay), 3);
      policy.set_jitter(0);
    }
    let first = topology::FirstAttempt {
      fred: fred.clone(),
      perf: perf.clone(),
      connection: connection.clone(),
      tls: config.tls.clone(),
      has_password: config.password.is_some(),
    };
    let replicas = match config.topology {
      Topology::Standalone if !config.read_replicas.is_empty() => {
        Some(topology::replicas::ReadReplicas::build(&fred, &perf, &connection, &config.read_replicas)?)
      }
      _ => None,
    };
    let sentinel = match &config.topology {
      Topology::Sentinel { sentinels, master_name, password } => Some(SentinelFollow {
        base: fred.clone(),
        sentinels: sentinels.clone(),
        master_name: master_name.clone(),
        password: password.clone(),
        follower: tokio::sync::Mutex::new(None),
      }),
      _ => None,
    };
    // fred starts a pooled connection that may retry with the reconnect
    // delay first (50 ms plus up to 100 ms of jitter by default): `connect()`
    // took about 150 ms against ioredis' 30. A standalone pool is only
    // started after `first` reached the server, so it connects at once; a
    // failure then fails this `connect()` and the service's recovery tries
    // again. Reconnects after a lost connection keep the policy's delays.
    let mut fred = fred;
    if let Topology::Standalone = config.topology {
      fred.fail_fast = true;
    }
    let pool = Pool::new(fred, Some(perf), Some(connection), Some(policy), config.pool_size).map_err(Error::from)?;
    Ok(RedisClients {
      pool,
      connect_timeout: config.connect_timeout,
      connection_name: config.connection_name.clone(),
      probe: match config.topology {
        Topology::Standalone => Some(config.endpoint.clone()),
        _ => None,
      },
      first,
      replicas,
      sentinel,
      switches: std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0)),
      tx_generation: std::sync::atomic::AtomicU64::new(0),
      cluster,
      mode: config.mode(),
      seeds: match &config.topology {
        Topology::Standalone => 1,
        Topology::Cluster { nodes, .. } => nodes.len(),
        Topology::Sentinel { sentinels, .. } => sentinels.len(),
      },
      named: std::sync::atomic::AtomicBool::new(false),
      watched: std::sync::atomic::AtomicBool::new(false),
      tx_client: tokio::sync::Mutex::new(None),
      blocking: BlockingConnections::new(config.connect_timeout, config.command_timeout),
    })
  }

  /// Connects every client of the pool, within the connect timeout. The
  /// first attempt's own error is returned (refused, auth, TLS), not retried.
  /// On failure, the flag says whether Redis is plainly not there (nothing
  /// listening) as opposed to timing out or refusing us (auth, TLS).
  pub async fn connect(&self) -> std::result::Result<(), (Error, bool)> {
    // fred retries a refused connect in the background instead of failing
    // it; one plain TCP probe tells "nothing listens" apart at once.
    if let Some(addr) = &self.probe {
      let probe =
        tokio::time::timeout(self.connect_timeout, tokio::net::TcpStream::connect((addr.host.as_str(), addr.port)));
      if let Ok(Err(e)) = probe.await {
        if e.kind() == std::io::ErrorKind::ConnectionRefused {
          let msg = format!("nothing listens at {}:{} (connection refused)", addr.host, addr.port);
          return Err((Error::new(ErrorKind::Connection, msg), true));
        }
      }
    }
    let started = std::time::Instant::now();
    self.first.run(self.connect_timeout).await?;
    let left = self.connect_timeout.saturating_sub(started.elapsed()).max(std::time::Duration::from_millis(100));
    match tokio::time::timeout(left, self.pool.init()).await {
      Ok(Ok(_task)) => {
        self.apply_connection_name().await;
        if let Some(s) = &self.sentinel {
          let mut slot = s.follower.lock().await;
          if slot.is_none() {
            *slot = Some(topology::sentinel::SwitchFollower::start(
              &s.base,
              &s.sentinels,
              &s.master_name,
              s.password.clone(),
              self.pool.clone(),
              self.switches.clone(),
            ));
          }
        }
        if let Some(replicas) = &self.replicas {
          let left = self.connect_timeout.saturating_sub(started.elapsed()).max(std::time::Duration::from_millis(200));
          replicas.connect(left).await;
        }
        Ok(())
      }
      Ok(Err(e)) => Err(topology::explain_first_failure(&self.first.tls, self.first.has_password, e)),
      Err(_) => Err((
        Error::new(
          ErrorKind::Connection,
          format!("could not connect to Redis within {} ms", self.connect_timeout.as_millis()),
        )
        .with_sent(Sent::No),
        false,
      )),
    }
  }

  /// Every connection fred reopens in the pool from now on is an event
  /// (tracing; how long the reconnect took fred does not say).
  pub fn report_reconnects(&self, events: &Events) {
    if self.watched.swap(true, std::sync::atomic::Ordering::AcqRel) {
      return;
    }
    for client in self.pool.clients() {
      let mut reconnects = client.reconnect_rx();
      let events = events.clone();
      tokio::spawn(async move {
        use tokio::sync::broadcast::error::RecvError;
        loop {
          match reconnects.recv().await {
            Ok(server) => events.emit(Event::Connection {
              kind: "pool",
              address: server.host.to_string(),
              port: server.port,
              duration_ms: None,
              error: None,
            }),
            Err(RecvError::Lagged(_)) => {}
            Err(RecvError::Closed) => return,
          }
        }
      });
    }
  }

  /// `CLIENT SETNAME` on every pooled connection, and again after each
  /// reconnect (fred names connections with its own ids otherwise).
  async fn apply_connection_name(&self) {
    let Some(name) = self.connection_name.clone() else { return };
    let first = !self.named.swap(true, std::sync::atomic::Ordering::AcqRel);
    for client in self.pool.clients() {
      let _ = set_name(client, &name).await;
      if first {
        let mut reconnects = client.reconnect_rx();
        let client = client.clone();
        let name = name.clone();
        tokio::spawn(async move {
          use tokio::sync::broadcast::error::RecvError;
          while let Ok(_) | Err(RecvError::Lagged(_)) = reconnects.recv().await {
            let _ = set_name(&client, &name).await;
          }
        });
      }
    }
  }

  /// Topology facts for health and stats: mode, configured seed nodes,
  /// the servers fred is connected to, the master switches seen (sentinel),
  /// the read replicas and whether each is in use.
  pub fn topology_info(&self) -> serde_json::Value {
    let servers: Vec<String> = self
      .pool
      .clients()
      .first()
      .map(|c| c.active_connections().iter().map(|s| format!("{}:{}", s.host, s.port)).collect())
      .unwrap_or_default();
    let mut info = serde_json::json!({
      "mode": self.mode,
      "seeds": self.seeds,
      "connectedServers": servers,
    });
    if self.sentinel.is_some() {
      info["master"] = servers.first().cloned().map(serde_json::Value::from).unwrap_or(serde_json::Value::Null);
      info["masterSwitches"] = self.switches.load(std::sync::atomic::Ordering::Acquire).into();
    }
    if let Some(replicas) = &self.replicas {
      info["replicas"] = replicas.describe();
    }
    if let Some(c) = &self.cluster {
      info["scaleReads"] = c.scale_reads.into();
    }
    info
  }

  /// `topology_info()` plus what only the servers can say, for health and
  /// stats: the nodes with their role and PING latency (each within
  /// `limit`), the cluster's state and size, the current master.
  pub async fn topology_report(&self, limit: Duration) -> serde_json::Value {
    let mut info = self.topology_info();
    let client = self.pool.next();
    if self.cluster.is_some() {
      topology::nodes::cluster_report(client, limit, &mut info).await;
      return info;
    }
    let master = client.active_connections().first().map(topology::nodes::address);
    let mut primary = serde_json::json!({ "address": master.clone(), "role": "master" });
    let ping = topology::nodes::ping_json(client, limit);
    let replicas = async {
      match &self.replicas {
        Some(r) => r.ping_all(limit).await,
        None => Vec::new(),
      }
    };
    let (ping, replicas) = futures::join!(ping, replicas);
    if let (Some(p), Some(ping)) = (primary.as_object_mut(), ping.as_object()) {
      p.extend(ping.clone());
    }
    info["master"] = master.map(serde_json::Value::from).unwrap_or(serde_json::Value::Null);
    let mut nodes = vec![primary];
    nodes.extend(replicas);
    info["nodeCount"] = nodes.len().into();
    info["nodes"] = nodes.into();
    info
  }

  /// Cluster mode: the nodes `CLUSTER NODES` lists (any node answers).
  pub async fn cluster_nodes(&self, limit: Duration) -> Result<Vec<topology::nodes::NodeLine>> {
    let text = topology::nodes::cluster_text(self.pool.next(), "NODES", limit).await?;
    Ok(topology::nodes::parse_cluster_nodes(&text))
  }

  /// The nodes a keyspace-wide command (SCAN) must visit, as `host:port`:
  /// every primary of a cluster; empty for the other topologies (one
  /// keyspace: the service itself is the only node).
  pub async fn scan_nodes(&self) -> Result<Vec<String>> {
    if self.cluster.is_none() {
      return Ok(Vec::new());
    }
    let primaries = topology::nodes::cluster_primaries(self.pool.next()).await?;
    Ok(primaries.iter().map(topology::nodes::address).collect())
  }

  /// The cluster primaries known now (`host:port`, from the last CLUSTER
  /// SLOTS), without I/O: empty before the first connect and off a cluster.
  pub fn known_primaries(&self) -> Vec<String> {
    if self.cluster.is_none() {
      return Vec::new();
    }
    topology::nodes::cached_primaries(self.pool.next()).iter().map(topology::nodes::address).collect()
  }

  /// One command on one node (`host:port`, a cluster primary); elsewhere
  /// the command goes as usual.
  pub async fn send_to_node(&self, node: &str, cmd: Command) -> Result<Reply> {
    if self.cluster.is_none() {
      return self.send_primary(cmd).await;
    }
    let server = topology::nodes::parse_address(node)?;
    topology::nodes::send_to(self.pool.next(), server, cmd).await
  }

  /// Sentinel only: the count of `+switch-master` moves followed so far.
  pub fn master_switches(&self) -> Option<std::sync::Arc<std::sync::atomic::AtomicU64>> {
    self.sentinel.as_ref().map(|_| self.switches.clone())
  }

  pub fn is_connected(&self) -> bool {
    self.pool.is_connected()
  }

  /// Bounded: a pool that never connected (or is reconnecting) would hold
  /// QUIT until the command timeout.
  pub async fn quit(&self) {
    let limit = std::time::Duration::from_millis(1_000);
    let _ = tokio::time::timeout(limit, self.quit_own_connections()).await;
    if let Some(replicas) = &self.replicas {
      replicas.quit().await;
    }
    if let Some(s) = &self.sentinel {
      if let Some(follower) = s.follower.lock().await.take() {
        follower.stop().await;
      }
    }
    if self.pool.is_connected() {
      let _ = tokio::time::timeout(limit, self.pool.quit()).await;
    } else {
      let _ = tokio::time::timeout(std::time::Duration::from_millis(200), self.pool.quit()).await;
    }
  }

  /// One command: reads to a read replica when there are any, else on the
  /// next client of the pool (round robin).
  pub async fn send(&self, cmd: Command) -> Result<Reply> {
    if cmd.is_blocking() {
      return self.blocking.send(self.pool.next(), cmd).await;
    }
    if let Some(replicas) = &self.replicas {
      if topology::is_read(&cmd.name) {
        if let Some(reply) = replicas.read(&cmd).await {
          return reply;
        }
      }
    }
    if let Some(opts) = &self.cluster {
      return self.send_cluster(cmd, opts).await;
    }
    self.send_primary(cmd).await
  }

  /// Cluster: a cross-slot multi-key command goes as one command per slot.
  async fn send_cluster(&self, cmd: Command, opts: &topology::cluster::ClusterOptions) -> Result<Reply> {
    if let Some((merge, parts)) = topology::cluster::split(&cmd) {
      let sends = parts.iter().map(|p| self.send_cluster_one(p.cmd.clone(), opts));
      let replies = futures::future::join_all(sends).await;
      return topology::cluster::merge(merge, &parts, replies);
    }
    self.send_cluster_one(cmd, opts).await
  }

  /// One single-slot command: reads to replicas with `scaleReads`,
  /// CLUSTERDOWN retried after the configured delay, redirection loops named.
  async fn send_cluster_one(&self, cmd: Command, opts: &topology::cluster::ClusterOptions) -> Result<Reply> {
    let slot = cmd.first_key().map(topology::cluster::slot_of);
    let to_replica = opts.scale_reads && topology::is_read(&cmd.name);
    let mut attempt = 0;
    loop {
      let client = self.pool.next();
      let result = if to_replica {
        client.replicas().custom_raw::<Value>(cmd.to_custom(), cmd.args.clone()).await
      } else if cmd.is_idempotent() {
        client.custom_raw::<Value>(cmd.to_custom(), cmd.args.clone()).await
      } else {
        client.with_options(&never_resent()).custom_raw::<Value>(cmd.to_custom(), cmd.args.clone()).await
      };
      let reply = match result {
        Ok(frame) => Reply::from_frame(frame),
        Err(e) => Err(topology::cluster::explain_routing(transport_error(e), slot)),
      };
      match reply {
        Err(e) if topology::cluster::is_cluster_down(&e) && attempt < opts.cluster_down_retries => {
          attempt += 1;
          tokio::time::sleep(opts.cluster_down_delay).await;
        }
        other => return other,
      }
    }
  }

  async fn send_primary(&self, cmd: Command) -> Result<Reply> {
    send_one(self.pool.next(), cmd).await
  }

  /// Commands in order on one connection; each result stands in its place.
  /// With read replicas, the reads of the batch go to one replica and the
  /// rest to the primary, each result still in its caller's place.
  pub async fn pipeline(&self, cmds: Vec<Command>) -> Vec<Result<Reply>> {
    if let Some(replicas) = &self.replicas {
      let (reads, writes): (Vec<usize>, Vec<usize>) = (0..cmds.len()).partition(|i| topology::is_read(&cmds[*i].name));
      if !reads.is_empty() {
        let read_cmds: Vec<Command> = reads.iter().map(|i| cmds[*i].clone()).collect();
        let write_cmds: Vec<Command> = writes.iter().map(|i| cmds[*i].clone()).collect();
        let on_replica = async {
          match replicas.read_batch(&read_cmds).await {
            Some(results) => results,
            None => self.pipeline_primary(read_cmds.clone()).await,
          }
        };
        let on_primary = async {
          if write_cmds.is_empty() {
            Vec::new()
          } else {
            self.pipeline_primary(write_cmds).await
          }
        };
        let (read_results, write_results) = futures::join!(on_replica, on_primary);
        let mut out: Vec<Option<Result<Reply>>> = (0..cmds.len()).map(|_| None).collect();
        for (i, r) in reads.into_iter().zip(read_results) {
          out[i] = Some(r);
        }
        for (i, r) in writes.into_iter().zip(write_results) {
          out[i] = Some(r);
        }
        return out
          .into_iter()
          .map(|r| r.unwrap_or_else(|| Err(Error::new(ErrorKind::Internal, "a pipeline slot got no result"))))
          .collect();
      }
    }
    if let Some(opts) = &self.cluster {
      let special = |c: &Command| {
        topology::cluster::split(c).is_some() || (opts.scale_reads && topology::is_read(&c.name)) || !c.is_idempotent()
      };
      if cmds.iter().any(special) {
        // Each on its own (concurrently): a cross-slot command would fail
        // with CROSSSLOT inside a pipeline, replica reads take their own
        // route, and a write that must not run twice needs `never_resent`.
        let sends = cmds.into_iter().map(|c| self.send_cluster(c, opts));
        return futures::future::join_all(sends).await;
      }
    }
    self.pipeline_primary(cmds).await
  }

  async fn pipeline_primary(&self, cmds: Vec<Command>) -> Vec<Result<Reply>> {
    if !cmds.iter().all(Command::is_idempotent) {
      // fred's pipelines take no per-command options: one command each, in
      // order on one connection (fred writes them as they are queued), so a
      // write that must not run twice goes with `never_resent`.
      let client = self.pool.next();
      return futures::future::join_all(cmds.into_iter().map(|c| send_one(client, c))).await;
    }
    let cmds_len = cmds.len();
    let pipeline = self.pool.next().pipeline();
    for cmd in cmds {
      let custom = cmd.to_custom();
      let _: std::result::Result<(), _> = pipeline.custom(custom, cmd.args).await;
    }
    let n = cmds_len;
    let mut results: Vec<Result<Reply>> = pipeline.try_all::<Value>().await.into_iter().map(slot_result).collect();
    // A pipeline that fails as a whole (timeout, lost connection) comes
    // back as one error: every command must still get its own result.
    if results.len() < n {
      let e = match results.last() {
        Some(Err(e)) => e.clone(),
        _ => {
          Error::new(ErrorKind::Connection, "the pipeline failed before every reply arrived").with_sent(Sent::Unknown)
        }
      };
      if results.len() == 1 && results[0].is_err() {
        results.clear();
      }
      results.resize_with(n, || Err(e.clone()));
    }
    results
  }

  /// MULTI ... EXEC on a connection of its own, held for the whole
  /// transaction so no other caller's command can land inside it. The raw
  /// EXEC reply keeps each command's own error in its slot.
  pub async fn transaction(&self, cmds: Vec<Command>) -> Result<Vec<Result<Reply>>> {
    let mut slot = self.tx_client.lock().await;
    let switches = self.switches.load(std::sync::atomic::Ordering::Acquire);
    if switches != self.tx_generation.swap(switches, std::sync::atomic::Ordering::AcqRel) {
      if let Some(old) = slot.take() {
        tokio::spawn(async move {
          let _ = tokio::time::timeout(std::time::Duration::from_secs(1), old.quit()).await;
        });
      }
    }
    if slot.as_ref().is_none_or(|c| !c.is_connected()) {
      let client = self.pool.next().clone_new();
      let _connection_task = client.connect(); // runs on its own; wait_for_connect follows it
      match tokio::time::timeout(self.connect_timeout, client.wait_for_connect()).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return Err(Error::from(e).with_sent(Sent::No)),
        Err(_) => return Err(Error::new(ErrorKind::Connection, "could not open the transaction connection in time")),
      }
      *slot = Some(client);
    }
    let client = slot.as_ref().ok_or_else(|| Error::new(ErrorKind::Internal, "no transaction connection"))?;
    // On a cluster, MULTI, every queued command and EXEC go to one node: the one of the first
    // key's slot (slot 0's without keys). An offset into MULTI's empty arguments names no key.
    let slot = cmds.iter().find_map(|c| c.slot_key()).map(topology::cluster::slot_of_value).unwrap_or(0);
    let hash = fred::types::ClusterHash::Custom(slot);
    let marker = |name: &'static str| fred::types::CustomCommand::new_static(name, hash.clone(), false);
    let count = cmds.len();
    // Polled in order by join_all, so the commands are written in order.
    let mut sends = Vec::with_capacity(count + 2);
    sends.push(client.custom_raw::<Value>(marker("MULTI"), Vec::new()));
    for cmd in cmds {
      let mut custom = cmd.to_custom();
      custom.cluster_hash = hash.clone();
      sends.push(client.custom_raw::<Value>(custom, cmd.args));
    }
    sends.push(client.custom_raw::<Value>(marker("EXEC"), Vec::new()));
    let mut frames = futures::future::join_all(sends).await;
    let exec = frames.pop().ok_or_else(|| Error::new(ErrorKind::Internal, "transaction returned no replies"))?;
    for queued in frames.into_iter().skip(1) {
      match queued {
        Err(e) => return Err(transport_error(e)),
        // Refused while queueing (wrong arity, unknown command): EXEC aborted.
        Ok(frame) => {
          Reply::from_frame(frame)?;
        }
      }
    }
    match Reply::from_frame(exec.map_err(transport_error)?)? {
      Reply::Array(items) => Ok(
        items
          .into_iter()
          .map(|r| match r {
            Reply::Error(msg) => Err(Error::new(ErrorKind::Reply, msg)),
            other => Ok(other),
          })
          .collect(),
      ),
      Reply::Nil => Err(Error::new(ErrorKind::Reply, "EXECABORT transaction discarded (a watched key changed)")),
      other => Ok(vec![Ok(other)]),
    }
  }

  /// Closes the transaction and blocking-command connections.
  pub async fn quit_own_connections(&self) {
    if let Some(client) = self.tx_client.lock().await.take() {
      let _ = client.quit().await;
    }
    self.blocking.close().await;
  }
}

async fn set_name(client: &fred::clients::Client, name: &str) -> std::result::Result<Value, fred::error::Error> {
  let cmd = fred::types::CustomCommand::new_static("CLIENT", fred::types::ClusterHash::Random, false);
  client.custom(cmd, vec![Value::from("SETNAME"), Value::from(name)]).await
}

/// fred re-sends a command that was in flight on a dropped connection (a
/// cluster keeps fred's retries: its router spends them on slot syncs and
/// redirections). A write that is not idempotent (RPUSH, INCR, ...) must not
/// run twice: with `fail_fast`, a drop answers it with a connection error
/// (`sent: unknown`) instead, and MOVED/ASK still follow.
fn never_resent() -> Options {
  Options { fail_fast: true, ..Options::default() }
}

/// One command on `client`. A write that is not idempotent is never re-sent
/// by fred (see `never_resent`): on a connection that drops, or while fred
/// is reconnecting, it fails at once with `sent: unknown`. Without this, fred
/// kept such a write for its reconnect and could run it after the caller had
/// been told it timed out (seen: a breaker's trial RPUSH stored after its
/// ERR_RESILIS_TIMEOUT, once Redis was back).
async fn send_one(client: &fred::clients::Client, cmd: Command) -> Result<Reply> {
  let result = if cmd.is_idempotent() {
    client.custom_raw::<Value>(cmd.to_custom(), cmd.args).await
  } else {
    client.with_options(&never_resent()).custom_raw::<Value>(cmd.to_custom(), cmd.args).await
  };
  match result {
    Ok(frame) => Reply::from_frame(frame),
    Err(e) => Err(transport_error(e)),
  }
}

/// A failure of the request itself (not a Redis error reply).
fn transport_error(e: fred::error::Error) -> Error {
  Error::from(e)
}

/// An error inside a pipeline slot: Redis error replies come back from fred
/// already parsed, with various kinds; keep the reply text as a Reply error.
fn slot_error(e: fred::error::Error) -> Error {
  use fred::error::ErrorKind as F;
  match e.kind() {
    F::IO | F::Timeout | F::Canceled | F::Backpressure | F::Tls => Error::from(e),
    _ => Error::new(ErrorKind::Reply, e.details().to_string()),
  }
}

fn slot_result(r: std::result::Result<Value, fred::error::Error>) -> Result<Reply> {
  r.map(Reply::from_value).map_err(slot_error)
}
