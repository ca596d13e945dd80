//! `NativeService`: the one class JS talks to. Commands arrive in packed
//! batches (the bare `submit` function it hands out), run through the
//! core's `Service::submit`, and settle through the completion queue.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::rc::Rc;
use std::sync::Arc;

use napi::bindgen_prelude::{Array, Function};
use napi::{Env, JsValue};
use napi_derive::napi;

use crate::binding::args::{read_command, Arena};
use crate::binding::boundary::{served_code, FLAG_BUFFERS, FLAG_WATCHED, FORM_BUFFERS, FORM_STRINGS};
use crate::binding::completions::{Completion, Completions, Drained, Outcome};
use crate::binding::dispatch::Dispatch;
use crate::binding::event_loop::JsWaker;
use crate::binding::near_get::{NearEpoch, NearGetFn};
use crate::binding::submit::SubmitFn;
use crate::core::config::Config;
use crate::core::error::{Error, ErrorKind};
use crate::core::guard::guarded;
use crate::core::pubsub::Op;
use crate::core::reply::Reply;
use crate::core::served::{Served, Settle};
use crate::core::service::Service;

/// A core error thrown synchronously: a JS `Error` whose `code` is the
/// error's code (napi-rs makes the status string `err.code`).
fn throw(e: Error) -> napi::Error<&'static str> {
  napi::Error::new(e.code(), e.message)
}

#[napi]
pub struct NativeService {
  /// Shared with the bare `submit` function (it may outlive this object).
  dispatch: Rc<Dispatch>,
}

#[napi]
impl NativeService {
  /// `options_json`: the JS options object as JSON; `env`: the REDIS_*
  /// variables of the process; `on_wake`: called with no arguments when
  /// results are ready to `drain()` (woken from another thread), or with
  /// the results themselves from Node's loop (see event_loop.rs).
  #[napi(constructor, catch_unwind)]
  pub fn new(
    js_env: Env,
    options_json: String,
    env: HashMap<String, String>,
    on_wake: Function<(), ()>,
  ) -> napi::Result<Self, &'static str> {
    let opts: serde_json::Value = serde_json::from_str(&options_json)
      .map_err(|e| throw(Error::config(format!("options are not serialisable: {e}"))))?;
    let env: BTreeMap<String, String> = env.into_iter().collect();
    let config = Config::resolve(&env, &opts).map_err(throw)?;
    let on_wake_raw = on_wake.raw();
    let wake = on_wake
      .build_threadsafe_function::<()>()
      .callee_handled::<false>()
      .weak::<true>()
      .build_callback(|_| Ok(()))
      .map_err(|e| {
        throw(Error::new(ErrorKind::Internal, format!("could not create the wake-up function: {}", e.reason)))
      })?;
    let core = napi::bindgen_prelude::within_runtime_if_available(|| Service::new(config)).map_err(throw)?;
    let completions = Arc::new(Completions::new(wake));
    let events = completions.clone();
    core.resilience().set_event_sink(Box::new(move |event| {
      events.push(Completion { id: 0, buffers: false, served: 0, outcome: Outcome::Event(event) });
    }));
    let messages = completions.clone();
    core.set_message_sink(Box::new(move |message| {
      messages.push(Completion { id: 0, buffers: false, served: 0, outcome: Outcome::Message(message) });
    }));
    let js_waker = JsWaker::new(js_env.raw(), on_wake_raw, completions.clone());
    if js_waker.is_some() {
      let poked = completions.clone();
      core.drive_lanes_outside(Box::new(move || poked.poke()));
    }
    let core = Arc::new(core);
    napi::bindgen_prelude::within_runtime_if_available(|| core.resume_journal());
    Ok(NativeService { dispatch: Rc::new(Dispatch { core, completions, js_waker }) })
  }

  /// `submit(text, ints, n, others)`: a tick's commands, packed by
  /// lib/dispatcher.js (see packed.rs), as a bare function (submit.rs).
  #[napi(catch_unwind, ts_return_type = "(text: string, ints: Uint32Array, n: number, others?: unknown[]) => void")]
  pub fn submit_function(&self) -> SubmitFn {
    SubmitFn(self.dispatch.clone())
  }

  /// A pipeline (`transaction = false`) or MULTI/EXEC: `[name, argc, ...args]` repeated.
  #[napi(catch_unwind)]
  pub fn submit_group(&self, id: u32, flags: u32, transaction: bool, batch: Array) {
    let buffers = flags & FLAG_BUFFERS != 0;
    let watched = flags & FLAG_WATCHED != 0;
    let mut pos = 0u32;
    let mut arena = Arena::new(self.dispatch.core.resilience().max_value_bytes());
    let mut cmds = Vec::new();
    while pos < batch.len() {
      match read_command(&batch, &mut pos, &mut arena) {
        Ok(cmd) => cmds.push(cmd),
        Err(e) => {
          self.dispatch.completions.push(Completion { id, buffers, served: 0, outcome: Outcome::Group(Err(e)) });
          return;
        }
      }
    }
    let completions = self.dispatch.completions.clone();
    let cmds_len = cmds.len();
    if let Err(e) = self.dispatch.core.check_open() {
      completions.push(Completion { id, buffers, served: 0, outcome: Outcome::Group(Err(e)) });
      return;
    }
    if !transaction {
      // A pipeline is a batch: the lane, breakers and fallback as for single calls.
      let done: Settle = Box::new(move |answers| {
        let outcome = if watched {
          Outcome::ServedGroup(answers.replies, answers.served.into_iter().map(served_code).collect())
        } else {
          Outcome::Group(Ok(answers.replies))
        };
        completions.push(Completion { id, buffers, served: 0, outcome });
      });
      return self.dispatch.submit_batches(vec![(cmds, done)]);
    }
    let core = self.dispatch.core.clone();
    napi::bindgen_prelude::spawn(async move {
      let result = guarded(core.transaction(cmds)).await;
      // A transaction goes to Redis (or the memory store), never past a breaker.
      let by = match &result {
        Err(e) if e.kind == ErrorKind::Closed => Served::UNROUTED,
        _ if core.serving_from_memory() => Served::MEMORY,
        _ => Served::REDIS,
      };
      let served = if watched { served_code(by) } else { 0 };
      let outcome = match result {
        Ok(replies) if watched => Outcome::ServedGroup(replies, vec![served; cmds_len]),
        result => Outcome::Group(result),
      };
      completions.push(Completion { id, buffers, served, outcome });
    });
  }

  /// Every completion since the last drain, as `[id, status, value, ...]`.
  #[napi(catch_unwind, ts_return_type = "Array<unknown>")]
  pub fn drain(&self) -> Drained {
    self.dispatch.attach_new_lanes();
    self.dispatch.core.run_deferred();
    self.dispatch.completions.drain()
  }

  /// Lifecycle operations settle through the same queue as commands.
  fn run_lifecycle<F>(&self, id: u32, fut: F)
  where
    F: Future<Output = Result<Reply, Error>> + Send + 'static,
  {
    let completions = self.dispatch.completions.clone();
    napi::bindgen_prelude::spawn(async move {
      let result = guarded(fut).await;
      completions.push(Completion { id, buffers: false, served: 0, outcome: Outcome::Single(result) });
    });
  }

  #[napi(catch_unwind)]
  pub fn connect(&self, id: u32) {
    let core = self.dispatch.core.clone();
    self.run_lifecycle(id, async move {
      let connected = core.connect().await;
      // Came up degraded: the recovery loop connects when Redis appears.
      core.ensure_recovery();
      connected.map(|_| Reply::ok())
    });
  }

  #[napi(catch_unwind)]
  pub fn disconnect(&self, id: u32) {
    let core = self.dispatch.core.clone();
    self.run_lifecycle(id, async move {
      core.disconnect().await;
      Ok(Reply::ok())
    });
  }

  /// `op`: subscribe, psubscribe, ssubscribe, unsubscribe, punsubscribe or
  /// sunsubscribe; settles with the number of subscriptions held.
  /// Messages arrive through `drain()` (`CompletionStatus::Message`).
  #[napi(catch_unwind)]
  pub fn pubsub(&self, id: u32, op: String, names: Vec<String>) {
    let core = self.dispatch.core.clone();
    self.run_lifecycle(id, async move {
      let op = Op::parse(&op).ok_or_else(|| Error::argument(format!("unknown pub/sub operation `{op}`")))?;
      let held = core.pubsub(op, names).await?;
      Ok(Reply::Int(held as i64))
    });
  }

  /// Which forms pub/sub messages are delivered in: `FORM_STRINGS`,
  /// `FORM_BUFFERS` or both (bits); set by lib/pubsub.js as listeners come and go.
  #[napi(catch_unwind)]
  pub fn set_message_forms(&self, forms: u32) {
    self.dispatch.completions.set_message_forms(forms & (FORM_STRINGS | FORM_BUFFERS));
  }

  #[napi(getter)]
  pub fn is_connected(&self) -> bool {
    self.dispatch.core.is_connected()
  }

  /// `nearGet(key)`: GET answered from the near cache on the JS thread:
  /// the value, `null` for a cached nil, or `undefined` on a miss (then
  /// send the command). A bare function (see near_get.rs).
  #[napi(catch_unwind, ts_return_type = "(key: string) => string | null | undefined")]
  pub fn near_get_function(&self) -> NearGetFn {
    NearGetFn(self.dispatch.core.clone())
  }

  /// The near cache's epoch: a 4-byte ArrayBuffer over native memory
  /// (read it as `Uint32Array`); JS copies of hits are valid while it is
  /// unchanged. `null` without a near cache.
  #[napi(catch_unwind, ts_return_type = "ArrayBuffer | null")]
  pub fn near_epoch(&self) -> NearEpoch {
    NearEpoch(self.dispatch.core.clone())
  }

  /// Core counters, latency percentiles, journal and breaker state (JSON).
  #[napi(catch_unwind)]
  pub fn stats(&self) -> String {
    self.dispatch.core.stats_json().to_string()
  }

  /// The latency histogram for Prometheus (JSON: buckets, count, sum; seconds).
  #[napi(catch_unwind)]
  pub fn latency_histogram(&self) -> String {
    self.dispatch.core.resilience().stats.latency_histogram_json().to_string()
  }

  /// The in-memory store's figures (JSON, lru-cache names).
  #[napi(catch_unwind)]
  pub fn fallback_stats(&self) -> String {
    self.dispatch.core.fallback_stats_json().to_string()
  }

  /// One breaker's metrics as JSON, or `null` before its first use.
  #[napi(catch_unwind)]
  pub fn breaker_metrics(&self, name: String) -> String {
    self.dispatch.core.breaker_json(&name).to_string()
  }

  /// Topology and endpoint, for health and stats: never the password.
  #[napi(catch_unwind)]
  pub fn describe(&self) -> String {
    let c = self.dispatch.core.config();
    let memory = self.dispatch.core.serving_from_memory();
    serde_json::json!({
      "mode": if memory { "memory" } else { c.mode() },
      "enabled": c.enabled,
      "provider": c.provider.name(),
      "host": c.endpoint.host,
      "port": c.endpoint.port,
      "db": c.db,
      "tls": c.tls.enabled,
      "poolSize": c.pool_size,
      "commandTimeout": c.command_timeout.as_millis() as u64,
      "connectTimeout": c.connect_timeout.as_millis() as u64,
      "lazyConnect": c.lazy_connect,
      "connectionAttempts": self.dispatch.core.connection_attempts.load(std::sync::atomic::Ordering::Relaxed),
      "nearCache": self.dispatch.core.near_cache_enabled(),
      "nearCacheMaxBytes": c.near_cache.as_ref().map(|n| n.max_bytes),
      "topology": self.dispatch.core.topology_info(),
    })
    .to_string()
  }

  /// The topology with every node's role, state and PING latency (each
  /// within `limit_ms`), settled as one JSON string.
  #[napi(catch_unwind)]
  pub fn topology(&self, id: u32, limit_ms: u32) {
    let core = self.dispatch.core.clone();
    let limit = std::time::Duration::from_millis(u64::from(limit_ms.max(1)));
    self.run_lifecycle(id, async move { Ok(Reply::from_str(&core.topology_report(limit).await.to_string())) });
  }

  /// The nodes SCAN must visit one by one (`host:port` of each cluster
  /// primary); an empty array when the deployment is one keyspace.
  #[napi(catch_unwind)]
  pub fn scan_nodes(&self, id: u32) {
    let core = self.dispatch.core.clone();
    self.run_lifecycle(id, async move {
      let nodes = core.scan_nodes().await?;
      Ok(Reply::Array(nodes.iter().map(|n| Reply::from_str(n)).collect()))
    });
  }

  /// The cluster primaries known now (`host:port`), without I/O; empty off a
  /// cluster or before the first connect.
  #[napi(catch_unwind)]
  pub fn known_nodes(&self) -> Vec<String> {
    self.dispatch.core.known_nodes()
  }

  /// One command (`[name, argc, ...args]`) on the node `node` named by `scanNodes`.
  #[napi(catch_unwind)]
  pub fn node_command(&self, id: u32, flags: u32, node: String, batch: Array) {
    let buffers = flags & FLAG_BUFFERS != 0;
    let mut pos = 0u32;
    let cmd = match read_command(&batch, &mut pos, &mut Arena::new(self.dispatch.core.resilience().max_value_bytes())) {
      Ok(cmd) => cmd,
      Err(e) => {
        return self.dispatch.completions.push(Completion { id, buffers, served: 0, outcome: Outcome::Single(Err(e)) })
      }
    };
    let core = self.dispatch.core.clone();
    let completions = self.dispatch.completions.clone();
    napi::bindgen_prelude::spawn(async move {
      let result = guarded(core.dispatch_to_node(&node, cmd)).await;
      completions.push(Completion { id, buffers, served: 0, outcome: Outcome::Single(result) });
    });
  }

  /// Test hook: a panic inside a tokio task must reject, not abort Node.
  #[napi(js_name = "_debugPanic", catch_unwind)]
  pub fn debug_panic(&self, id: u32) {
    self.run_lifecycle(id, async move { panic!("forced internal error (_debugPanic)") });
  }
}
