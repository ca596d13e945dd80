//! What JS and Rust must agree on, defined once here and exported: JS
//! reads these names from the binding at load (lib/dispatcher.js,
//! lib/pubsub.js, lib/nodes.js); no number is copied by hand.

use napi_derive::napi;

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
}

/// Command flag (the `flags` of a command, a group or a node command): the
/// replies as Buffers rather than strings.
#[napi]
pub const FLAG_BUFFERS: u32 = 1;

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
