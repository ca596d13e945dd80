//! Bytes the call path copies, beside the kernel's own copies: argument
//! bytes taken out of JS, argument bytes copied into write buffers (large
//! ones are written from where they are), and reply bytes handed to JS by
//! copy or by reference (external strings). Process-wide relaxed counters,
//! one add per value: they show what a 16 KiB value costs on its way.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

pub struct Copies {
  from_js: AtomicU64,
  into_wire: AtomicU64,
  wire_by_reference: AtomicU64,
  to_js: AtomicU64,
  to_js_by_reference: AtomicU64,
}

pub static COPIES: Copies = Copies {
  from_js: AtomicU64::new(0),
  into_wire: AtomicU64::new(0),
  wire_by_reference: AtomicU64::new(0),
  to_js: AtomicU64::new(0),
  to_js_by_reference: AtomicU64::new(0),
};

impl Copies {
  /// Argument bytes copied out of V8 (strings, Buffers).
  pub fn from_js(&self, n: usize) {
    self.from_js.fetch_add(n as u64, Relaxed);
  }

  /// Argument bytes copied into a write buffer.
  pub fn into_wire(&self, n: usize) {
    self.into_wire.fetch_add(n as u64, Relaxed);
  }

  /// Argument bytes written to the socket from where they already were.
  pub fn wire_by_reference(&self, n: usize) {
    self.wire_by_reference.fetch_add(n as u64, Relaxed);
  }

  /// Reply bytes copied into JS values.
  pub fn to_js(&self, n: usize) {
    self.to_js.fetch_add(n as u64, Relaxed);
  }

  /// Reply bytes JS reads in place (external strings).
  pub fn to_js_by_reference(&self, n: usize) {
    self.to_js_by_reference.fetch_add(n as u64, Relaxed);
  }

  pub fn to_json(&self) -> serde_json::Value {
    serde_json::json!({
      "fromJs": self.from_js.load(Relaxed),
      "intoWire": self.into_wire.load(Relaxed),
      "wireByReference": self.wire_by_reference.load(Relaxed),
      "toJs": self.to_js.load(Relaxed),
      "toJsByReference": self.to_js_by_reference.load(Relaxed),
    })
  }
}
