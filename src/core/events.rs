//! What the core tells the application about itself. The core only queues
//! events; the binding hands them to JS listeners on the JS thread.

use std::sync::{Arc, OnceLock};

/// One event; names match the EventEmitter events of the facade.
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
  Connect,
  Ready,
  /// Redis became unreachable: calls are served from the fallback.
  Reconnecting {
    reason: String,
  },
  Error {
    code: &'static str,
    message: String,
  },
  End,
  CircuitOpen {
    name: String,
  },
  CircuitClose {
    name: String,
  },
  /// Serving from the in-memory fallback started (`active`) or ended.
  Fallback {
    active: bool,
    reason: String,
  },
  /// Development mode found no Redis at the first connect: the process
  /// runs on the in-memory store from now on (`target`: where it looked).
  MemoryMode {
    target: String,
    reason: String,
  },
  /// A write was refused with ERR_RESILIS_FALLBACK_FULL: Redis is away and
  /// the outage journal could not take it. `rejected`: refusals so far.
  FallbackFull {
    command: String,
    message: String,
    rejected: u64,
  },
  /// A connection was opened, or failed to open (`error`): `kind` is
  /// `lane` (a pipelined connection: standalone, a cluster node) or `pool`
  /// (the client pool: sentinel, TLS, replicas, the other paths). For
  /// tracing (`resilis:connect`), not an EventEmitter event.
  Connection {
    kind: &'static str,
    address: String,
    port: u16,
    /// `None`: not known (fred's own reconnects).
    duration_ms: Option<f64>,
    error: Option<(&'static str, String)>,
  },
}

impl Event {
  pub fn name(&self) -> &'static str {
    match self {
      Event::Connect => "connect",
      Event::Ready => "ready",
      Event::Reconnecting { .. } => "reconnecting",
      Event::Error { .. } => "error",
      Event::End => "end",
      Event::CircuitOpen { .. } => "circuitOpen",
      Event::CircuitClose { .. } => "circuitClose",
      Event::Fallback { .. } => "fallback",
      Event::FallbackFull { .. } => "fallbackFull",
      Event::MemoryMode { .. } => "memoryMode",
      Event::Connection { .. } => "connection",
    }
  }

  /// The listener's argument, as JSON.
  pub fn payload(&self) -> serde_json::Value {
    use serde_json::json;
    match self {
      Event::Connect | Event::Ready | Event::End => serde_json::Value::Null,
      Event::Reconnecting { reason } => json!({ "reason": reason }),
      Event::Error { code, message } => json!({ "code": code, "message": message }),
      Event::CircuitOpen { name } | Event::CircuitClose { name } => json!({ "name": name }),
      Event::Fallback { active, reason } => json!({ "active": active, "reason": reason }),
      Event::MemoryMode { target, reason } => json!({ "target": target, "reason": reason }),
      Event::FallbackFull { command, message, rejected } => json!({
        "code": crate::core::error::ErrorKind::FallbackFull.code(), "command": command, "message": message, "rejected": rejected,
      }),
      Event::Connection { kind, address, port, duration_ms, error } => json!({
        "connection": kind, "serverAddress": address, "serverPort": port, "durationMs": duration_ms,
        "error": error.as_ref().map(|(code, message)| json!({ "code": code, "message": message })),
      }),
    }
  }
}

/// Where events go; must not block (it runs on the caller's thread).
pub type EventSink = Box<dyn Fn(Event) + Send + Sync>;

/// A service's event sink, set once by the binding, shared with what opens
/// connections beside the service (lanes); events before it is set are dropped.
#[derive(Clone, Default)]
pub struct Events(Arc<OnceLock<EventSink>>);

impl Events {
  pub fn set(&self, sink: EventSink) {
    let _ = self.0.set(sink);
  }

  pub fn emit(&self, event: Event) {
    if let Some(sink) = self.0.get() {
      sink(event);
    }
  }
}

impl std::fmt::Debug for Events {
  fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
    f.write_str(if self.0.get().is_some() { "Events(set)" } else { "Events(unset)" })
  }
}
