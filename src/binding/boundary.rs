//! What JS and Rust must agree on, defined once here and exported: JS
//! reads these names from the binding at load (lib/dispatcher.js,
//! lib/pubsub.js, lib/nodes.js); no number is copied by hand.

use napi_derive::napi;

use crate::core::breaker::State;
use crate::core::served::{Served, Source};

/// What the value of a completion `[id, status, value]` is (see
/// completions.rs `completion_to_js`).
#[napi]
#[derive(Debug, PartialEq, Eq)]
pub enum CompletionStatus {
  /// A reply.
  Value = 0,
  /// A failure: `[code, message, sent]` (errors.rs `ErrorTriple`).
  Error = 1,
  /// A pipeline's or transaction's replies: values, or `Error` objects in
  /// the slots that failed.
  Group = 2,
  /// An event for the service's listeners: `[name, payload JSON]` (id 0).
  Event = 3,
  /// A pub/sub message (completions.rs `message_to_js`; id 0).
  Message = 4,
  /// An array reply of strings packed in one string (reply.rs `packed_array`).
  Packed = 5,
  /// A watched pipeline's or transaction's replies and who served each:
  /// `[replies, served]`, `served` a string of one served code per command.
  ServedGroup = 6,
}

/// Command flag (the `flags` of a command, a group or a node command): the
/// replies as Buffers rather than strings.
#[napi]
pub const FLAG_BUFFERS: u32 = 1;
/// Command flag: the command is watched (tracing, audit): its completion
/// carries who served it, `status | code << SERVED_SHIFT` (or `ServedGroup`).
#[napi]
pub const FLAG_WATCHED: u32 = 2;
/// Where a watched completion's served code starts in its status.
#[napi]
pub const SERVED_SHIFT: u32 = 8;

/// Who served a watched command: bits 0-1 of its served code (`source` in
/// lib/observe.js; `None`: refused before routing).
#[napi]
pub enum ServedSource {
  None = 0,
  Redis = 1,
  Fallback = 2,
  NearCache = 3,
}

/// The state of the breaker that routed it: bits 2-3 of the served code
/// (`breakerState`; `None`: no breaker was asked).
#[napi]
pub enum ServedBreaker {
  None = 0,
  Closed = 1,
  Open = 2,
  HalfOpen = 3,
}

/// One command's served code.
pub fn served_code(s: Served) -> u8 {
  let source = match s.source {
    None => ServedSource::None,
    Some(Source::Redis) => ServedSource::Redis,
    Some(Source::Fallback) => ServedSource::Fallback,
    Some(Source::NearCache) => ServedSource::NearCache,
  };
  let breaker = match s.breaker {
    None => ServedBreaker::None,
    Some(State::Closed) => ServedBreaker::Closed,
    Some(State::Open) => ServedBreaker::Open,
    Some(State::HalfOpen) => ServedBreaker::HalfOpen,
  };
  source as u8 | (breaker as u8) << 2
}

/// Pub/sub message form (`setMessageForms`, bits): as JS strings (UTF-8
/// decoded; invalid bytes become U+FFFD).
#[napi]
pub const FORM_STRINGS: u32 = 1;
/// Pub/sub message form: as Buffers, byte-exact (`messageBuffer`,
/// node-redis' bufferMode).
#[napi]
pub const FORM_BUFFERS: u32 = 2;

/// `maxValueBytes`' default (Redis' default proto-max-bulk-len).
#[napi]
#[allow(dead_code)] // read by JS only (no napi export under cfg(test))
pub const DEFAULT_MAX_VALUE_BYTES: u32 = crate::core::limits::DEFAULT_MAX_VALUE_BYTES as u32;

/// Every `err.code` resilis produces (src/core/error.rs `ErrorKind`); the
/// typings (`ResilisErrorCode` in index.d.ts) are tested against it.
#[napi]
#[allow(dead_code)] // read by JS only (no napi export under cfg(test))
pub fn error_codes() -> Vec<&'static str> {
  crate::core::error::ErrorKind::ALL.iter().map(|k| k.code()).collect()
}
