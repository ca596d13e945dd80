//! `NativeService`: the one class JS talks to. Commands arrive in packed
//! batches (`submit`), run on tokio through the core's dispatch path, and
//! settle through the completion queue (`drain`).

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use futures::FutureExt;
use napi::bindgen_prelude::{Array, Function, Unknown};
use napi::{Env, JsValue};
use napi_derive::napi;

use crate::binding::args::{read_command, Arena};
use crate::binding::completions::{Completion, Completions, Drained, Outcome};
use crate::binding::event_loop::JsWaker;
use crate::binding::near_get::{NearEpoch, NearGetFn};
use crate::binding::packed::{read_batch, Text};
use crate::core::command::Command;
use crate::core::config::Config;
use crate::core::lane::Done;
use crate::core::error::{Error, ErrorKind};
use crate::core::pubsub::Op;
use crate::core::reply::Reply;
use crate::core::service::Service;

const FLAG_BUFFERS: u32 = 1;
/// Arguments per batch handed to the core (see `submit`).
const CHUNK_WEIGHT: usize = 128;

/// Scripts run long on the server, and Redis answers all the commands it
/// read at once only after running them all: each goes in a chunk and a
/// write of its own, so Redis starts on the first while the rest arrive
/// (one write for a tick of scripts measured 0.5x ioredis' throughput).
fn is_script(cmd: &Command) -> bool {
  ["evalsha", "eval", "fcall", "evalsha_ro", "eval_ro", "fcall_ro"].iter().any(|s| cmd.name.eq_ignore_ascii_case(s))
}

/// Argument bytes that weigh as much as one argument: a tick of 16 KiB SETs
/// goes out as chunks of 7 that settle apart (their callers send again
/// while Redis reads the rest: SET 16 KiB at 16 in flight 44k -> 60k/s).
const CHUNK_UNIT_BYTES: usize = 1024;

/// A command's share of a chunk: its arguments and their size; a script
/// fills one.
fn chunk_weight(cmd: &Command) -> usize {
  if is_script(cmd) {
    CHUNK_WEIGHT
  } else {
    let bytes: usize = cmd.args.iter().map(|a| if let fred::prelude::Value::Bytes(b) = a { b.len() } else { 0 }).sum();
    cmd.args.len().max(1) + bytes / CHUNK_UNIT_BYTES
  }
}

/// A core error thrown synchronously: the facade reads the code prefix.
fn throw(e: Error) -> napi::Error {
  napi::Error::from_reason(format!("{}: {}", e.code(), e.message))
}

fn panic_error(payload: Box<dyn std::any::Any + Send>) -> Error {
  let what = payload
    .downcast_ref::<&str>()
    .map(|s| s.to_string())
    .or_else(|| payload.downcast_ref::<String>().cloned())
    .unwrap_or_else(|| "unknown panic".into());
  Error::new(ErrorKind::Internal, format!("internal error in resilis (please report it): {what}"))
}

/// Runs `fut` on tokio; a panic inside becomes an `Internal` error result.
async fn guarded<T>(fut: impl Future<Output = Result<T, Error>>) -> Result<T, Error> {
  match AssertUnwindSafe(fut).catch_unwind().await {
    Ok(r) => r,
    Err(payload) => Err(panic_error(payload)),
  }
}

#[napi]
pub struct NativeService {
  core: Arc<Service>,
  completions: Arc<Completions>,
  /// Drives fast lanes from Node's event loop; `None`: tokio drives them.
  js_waker: Option<Box<JsWaker>>,
}

#[napi]
impl NativeService {
  /// `options_json`: the JS options object as JSON; `env`: the REDIS_*
  /// variables of the process; `on_wake`: called (no arguments) when
  /// results are ready to `drain()`.
  #[napi(constructor, catch_unwind)]
  pub fn new(
    js_env: Env,
    options_json: String,
    env: HashMap<String, String>,
    on_wake: Function<(), ()>,
  ) -> napi::Result<Self> {
    let opts: serde_json::Value = serde_json::from_str(&options_json)
      .map_err(|e| throw(Error::config(format!("options are not serialisable: {e}"))))?;
    let env: BTreeMap<String, String> = env.into_iter().collect();
    let config = Config::resolve(&env, &opts).map_err(throw)?;
    let on_wake_raw = on_wake.raw();
    let wake = on_wake.build_threadsafe_function::<()>().callee_handled::<false>().weak::<true>().build_callback(|_| Ok(()))?;
    let core = napi::bindgen_prelude::within_runtime_if_available(|| Service::new(config)).map_err(throw)?;
    let completions = Arc::new(Completions::new(wake));
    let events = completions.clone();
    core.resilience().set_event_sink(Box::new(move |event| {
      events.push(Completion { id: 0, buffers: false, outcome: Outcome::Event(event) });
    }));
    let messages = completions.clone();
    core.set_message_sink(Box::new(move |message| {
      messages.push(Completion { id: 0, buffers: false, outcome: Outcome::Message(message) });
    }));
    let js_waker = JsWaker::new(js_env.raw(), on_wake_raw, completions.clone());
    if js_waker.is_some() {
      let poked = completions.clone();
      core.drive_lanes_outside(Box::new(move || poked.poke()));
    }
    Ok(NativeService { core: Arc::new(core), completions, js_waker })
  }

  /// Lanes the core opened since the last call start polling here, on
  /// the JS thread (libuv is not thread-safe): before every submit, and on
  /// every wake-up (a cluster lane opened in the background pokes it).
  fn attach_new_lanes(&self) {
    if let Some(waker) = &self.js_waker {
      for lane in self.core.undriven_lanes() {
        waker.attach(lane.clone());
        if !lane.is_driven() {
          // libuv refused the socket: a dead lane is reopened, a stuck one never.
          lane.close();
        }
      }
    }
  }

  /// A tick's commands, packed by lib/dispatcher.js (see packed.rs):
  /// `ints[..n]` describes them, `text` holds their strings.
  #[napi(catch_unwind)]
  pub fn submit(&self, env: Env, text: Unknown, ints: &[u32], n: u32, others: Array) {
    let ints = &ints[..(n as usize).min(ints.len())];
    let mut jobs = Vec::new();
    match unsafe { Text::read(env.raw(), text.raw()) } {
      Ok(mut text) => {
        let entries = read_batch(&mut text, ints, &others);
        jobs.reserve(entries.len());
        for entry in entries {
          let buffers = entry.flags & FLAG_BUFFERS != 0;
          match entry.cmd {
            Ok(cmd) => jobs.push((entry.id, buffers, cmd)),
            Err(e) => self.completions.push(Completion { id: entry.id, buffers, outcome: Outcome::Single(Err(e)) }),
          }
        }
      },
      Err(e) => {
        let mut i = 0;
        while i + 3 <= ints.len() {
          self.completions.push(Completion { id: ints[i], buffers: false, outcome: Outcome::Single(Err(e.clone())) });
          i += 3 + ints[i + 2] as usize;
        }
      },
    }
    // A tick's batch settles when its last reply is in. Heavy commands
    // (MGET of many keys) go out in several batches, so the first replies
    // settle, and their callers send again, while Redis works on the rest.
    let mut jobs = jobs.into_iter().peekable();
    let mut chunks = Vec::new();
    while jobs.peek().is_some() {
      let mut weight = 0;
      let chunk: Vec<_> = std::iter::from_fn(|| {
        if weight >= CHUNK_WEIGHT {
          return None;
        }
        let job = jobs.next()?;
        weight += chunk_weight(&job.2);
        Some(job)
      })
      .collect();
      chunks.push(self.settle_jobs(chunk));
    }
    self.submit_chunks(chunks);
  }

  /// The commands, and the callback that settles their promises.
  fn settle_jobs(&self, jobs: Vec<(u32, bool, Command)>) -> (Vec<Command>, Done) {
    let (tags, cmds): (Vec<(u32, bool)>, Vec<_>) = jobs.into_iter().map(|(id, b, c)| ((id, b), c)).unzip();
    let completions = self.completions.clone();
    let done: Done = Box::new(move |results| {
      // Every promise settles, even if a path returned too few results.
      let mut results = results.into_iter();
      completions.push_all(tags.into_iter().map(|(id, buffers)| {
        let r = results.next().unwrap_or_else(|| Err(Error::new(ErrorKind::Internal, "a command lost its result")));
        Completion { id, buffers, outcome: Outcome::Single(r) }
      }));
    });
    (cmds, done)
  }

  /// Batches in order on the lane while it takes them; from the first it
  /// refuses, the rest go together (one batch, order kept) as one tokio
  /// task over fred.
  fn submit_chunks(&self, chunks: Vec<(Vec<Command>, Done)>) {
    self.attach_new_lanes();
    // Several batches, one write (scripts excepted, see `is_script`).
    let corked = if chunks.len() > 1 && !chunks.iter().any(|(cmds, _)| cmds.iter().any(is_script)) {
      self.core.cork_lane()
    } else {
      None
    };
    let mut chunks = chunks.into_iter();
    let mut refused = Vec::new();
    for (cmds, done) in chunks.by_ref() {
      if let Err(back) = self.core.submit_fast(cmds, done) {
        refused.push(back);
        break;
      }
    }
    if let Some(lane) = corked {
      lane.uncork();
    }
    refused.extend(chunks);
    if refused.is_empty() {
      return;
    }
    let sizes: Vec<usize> = refused.iter().map(|(c, _)| c.len()).collect();
    let (cmds, dones): (Vec<Vec<Command>>, Vec<Done>) = refused.into_iter().unzip();
    let cmds: Vec<Command> = cmds.into_iter().flatten().collect();
    let core = self.core.clone();
    napi::bindgen_prelude::spawn(async move {
      let n = cmds.len();
      let results = match guarded(async { Ok(core.dispatch_batch(cmds).await) }).await {
        Ok(results) => results,
        Err(e) => (0..n).map(|_| Err(e.clone())).collect(),
      };
      let mut results = results.into_iter();
      for (size, done) in sizes.into_iter().zip(dones) {
        done(results.by_ref().take(size).collect());
      }
    });
  }

  /// A pipeline (`transaction = false`) or MULTI/EXEC: `[name, argc, ...args]` repeated.
  #[napi(catch_unwind)]
  pub fn submit_group(&self, id: u32, flags: u32, transaction: bool, batch: Array) {
    let buffers = flags & FLAG_BUFFERS != 0;
    let mut pos = 0u32;
    let mut arena = Arena::new();
    let mut cmds = Vec::new();
    while pos < batch.len() {
      match read_command(&batch, &mut pos, &mut arena) {
        Ok(cmd) => cmds.push(cmd),
        Err(e) => {
          self.completions.push(Completion { id, buffers, outcome: Outcome::Group(Err(e)) });
          return;
        },
      }
    }
    let completions = self.completions.clone();
    if let Err(e) = self.core.check_open() {
      completions.push(Completion { id, buffers, outcome: Outcome::Group(Err(e)) });
      return;
    }
    if !transaction {
      // A pipeline is a batch: the lane, breakers and fallback as for single calls.
      let done: Done = Box::new(move |results| {
        completions.push(Completion { id, buffers, outcome: Outcome::Group(Ok(results)) });
      });
      return self.submit_chunks(vec![(cmds, done)]);
    }
    let core = self.core.clone();
    napi::bindgen_prelude::spawn(async move {
      let result = guarded(core.transaction(cmds)).await;
      completions.push(Completion { id, buffers, outcome: Outcome::Group(result) });
    });
  }

  /// Every completion since the last drain, as `[id, status, value, ...]`.
  #[napi(catch_unwind, ts_return_type = "Array<unknown>")]
  pub fn drain(&self) -> Drained {
    self.attach_new_lanes();
    self.core.run_deferred();
    self.completions.drain()
  }

  /// Lifecycle operations settle through the same queue as commands.
  fn run_lifecycle<F>(&self, id: u32, fut: F)
  where
    F: Future<Output = Result<Reply, Error>> + Send + 'static,
  {
    let completions = self.completions.clone();
    napi::bindgen_prelude::spawn(async move {
      let result = guarded(fut).await;
      completions.push(Completion { id, buffers: false, outcome: Outcome::Single(result) });
    });
  }

  #[napi(catch_unwind)]
  pub fn connect(&self, id: u32) {
    let core = self.core.clone();
    self.run_lifecycle(id, async move { core.connect().await.map(|_| Reply::ok()) });
  }

  #[napi(catch_unwind)]
  pub fn disconnect(&self, id: u32) {
    let core = self.core.clone();
    self.run_lifecycle(id, async move {
      core.disconnect().await;
      Ok(Reply::ok())
    });
  }

  /// `op`: subscribe, psubscribe, ssubscribe, unsubscribe, punsubscribe or
  /// sunsubscribe; settles with the number of subscriptions held.
  /// Messages arrive through `drain()` (status 4).
  #[napi(catch_unwind)]
  pub fn pubsub(&self, id: u32, op: String, names: Vec<String>) {
    let core = self.core.clone();
    self.run_lifecycle(id, async move {
      let op = Op::parse(&op).ok_or_else(|| Error::argument(format!("unknown pub/sub operation `{op}`")))?;
      let held = core.pubsub(op, names).await?;
      Ok(Reply::Int(held as i64))
    });
  }

  #[napi(getter)]
  pub fn is_connected(&self) -> bool {
    self.core.is_connected()
  }

  /// `nearGet(key)`: GET answered from the near cache on the JS thread:
  /// the value, `null` for a cached nil, or `undefined` on a miss (then
  /// send the command). A bare function (see near_get.rs).
  #[napi(catch_unwind, ts_return_type = "(key: string) => string | null | undefined")]
  pub fn near_get_function(&self) -> NearGetFn {
    NearGetFn(self.core.clone())
  }

  /// The near cache's epoch: a 4-byte ArrayBuffer over native memory
  /// (read it as `Uint32Array`); JS copies of hits are valid while it is
  /// unchanged. `null` without a near cache.
  #[napi(catch_unwind, ts_return_type = "ArrayBuffer | null")]
  pub fn near_epoch(&self) -> NearEpoch {
    NearEpoch(self.core.clone())
  }

  /// Core counters, latency percentiles, journal and breaker state (JSON).
  #[napi(catch_unwind)]
  pub fn stats(&self) -> String {
    self.core.stats_json().to_string()
  }

  /// The in-memory store's figures (JSON, lru-cache names).
  #[napi(catch_unwind)]
  pub fn fallback_stats(&self) -> String {
    self.core.fallback_stats_json().to_string()
  }

  /// One breaker's metrics as JSON, or `null` before its first use.
  #[napi(catch_unwind)]
  pub fn breaker_metrics(&self, name: String) -> String {
    self.core.breaker_json(&name).to_string()
  }

  /// Topology and endpoint, for health and stats: never the password.
  #[napi(catch_unwind)]
  pub fn describe(&self) -> String {
    let c = self.core.config();
    let memory = self.core.serving_from_memory();
    serde_json::json!({
      "mode": if memory { "memory" } else { c.mode() },
      "enabled": c.enabled,
      "host": c.endpoint.host,
      "port": c.endpoint.port,
      "db": c.db,
      "tls": c.tls.enabled,
      "poolSize": c.pool_size,
      "commandTimeout": c.command_timeout.as_millis() as u64,
      "connectTimeout": c.connect_timeout.as_millis() as u64,
      "lazyConnect": c.lazy_connect,
      "connectionAttempts": self.core.connection_attempts.load(std::sync::atomic::Ordering::Relaxed),
      "nearCache": self.core.near_cache_enabled(),
      "nearCacheMaxBytes": c.near_cache.as_ref().map(|n| n.max_bytes),
      "topology": self.core.topology_info(),
    })
    .to_string()
  }

  /// The topology with every node's role, state and PING latency (each
  /// within `limit_ms`), settled as one JSON string.
  #[napi(catch_unwind)]
  pub fn topology(&self, id: u32, limit_ms: u32) {
    let core = self.core.clone();
    let limit = std::time::Duration::from_millis(u64::from(limit_ms.max(1)));
    self.run_lifecycle(id, async move { Ok(Reply::from_str(&core.topology_report(limit).await.to_string())) });
  }

  /// The nodes SCAN must visit one by one (`host:port` of each cluster
  /// primary); an empty array when the deployment is one keyspace.
  #[napi(catch_unwind)]
  pub fn scan_nodes(&self, id: u32) {
    let core = self.core.clone();
    self.run_lifecycle(id, async move {
      let nodes = core.scan_nodes().await?;
      Ok(Reply::Array(nodes.iter().map(|n| Reply::from_str(n)).collect()))
    });
  }

  /// One command (`[name, argc, ...args]`) on the node `node` named by `scanNodes`.
  #[napi(catch_unwind)]
  pub fn node_command(&self, id: u32, flags: u32, node: String, batch: Array) {
    let buffers = flags & FLAG_BUFFERS != 0;
    let mut pos = 0u32;
    let cmd = match read_command(&batch, &mut pos, &mut Arena::new()) {
      Ok(cmd) => cmd,
      Err(e) => return self.completions.push(Completion { id, buffers, outcome: Outcome::Single(Err(e)) }),
    };
    let core = self.core.clone();
    let completions = self.completions.clone();
    napi::bindgen_prelude::spawn(async move {
      let result = guarded(core.dispatch_to_node(&node, cmd)).await;
      completions.push(Completion { id, buffers, outcome: Outcome::Single(result) });
    });
  }

  /// Test hook: a panic inside a tokio task must reject, not abort Node.
  #[napi(js_name = "_debugPanic", catch_unwind)]
  pub fn debug_panic(&self, id: u32) {
    self.run_lifecycle(id, async move {
      let boom: Option<Reply> = None;
      Ok(boom.expect("forced internal error (_debugPanic)"))
    });
  }
}
