//! Where the service stands toward Redis, as one word: every check on the
//! hot path reads it once. Each fact is a bit, set and cleared atomically
//! on its own (as separate flags would be), so no transition needs a lock.

use std::sync::atomic::{AtomicU8, Ordering};

/// A connect succeeded and no `disconnect()` came since.
const CONNECTED: u8 = 1;
/// A connect succeeded at least once in this process.
const EVER_CONNECTED: u8 = 2;
/// The in-memory store is the whole backend (`REDIS_ENABLED=false`, or
/// development with no Redis at the first connect).
const MEMORY: u8 = 4;
/// Redis was not there at the first connect (production, fallback on):
/// the service serves degraded and the recovery loop connects.
const DEGRADED_START: u8 = 8;
/// Set by `disconnect()`, cleared by `connect()`: every call fails with `Closed`.
const CLOSED: u8 = 16;

pub(super) struct State(AtomicU8);

impl State {
  pub(super) fn new(memory: bool) -> Self {
    State(AtomicU8::new(if memory { MEMORY } else { 0 }))
  }

  fn has(&self, bit: u8) -> bool {
    self.0.load(Ordering::Acquire) & bit != 0
  }

  /// Sets `bits`; true if all of them were set already.
  fn set(&self, bits: u8) -> bool {
    self.0.fetch_or(bits, Ordering::AcqRel) & bits == bits
  }

  fn clear(&self, bits: u8) {
    self.0.fetch_and(!bits, Ordering::AcqRel);
  }

  /// Connected, open, and on Redis (not the memory store): a batch may go
  /// out now on the transport `route()` picks.
  pub(super) fn live(&self) -> bool {
    self.0.load(Ordering::Acquire) & (CONNECTED | CLOSED | MEMORY) == CONNECTED
  }

  pub(super) fn connected(&self) -> bool {
    self.has(CONNECTED)
  }

  pub(super) fn ever_connected(&self) -> bool {
    self.has(EVER_CONNECTED)
  }

  pub(super) fn memory(&self) -> bool {
    self.has(MEMORY)
  }

  pub(super) fn degraded_start(&self) -> bool {
    self.has(DEGRADED_START)
  }

  pub(super) fn closed(&self) -> bool {
    self.has(CLOSED)
  }

  pub(super) fn set_connected(&self) {
    self.set(CONNECTED | EVER_CONNECTED);
  }

  pub(super) fn set_disconnected(&self) {
    self.clear(CONNECTED);
  }

  /// True if this call switched to memory.
  pub(super) fn enter_memory(&self) -> bool {
    !self.set(MEMORY)
  }

  /// True if this call marked the degraded start.
  pub(super) fn mark_degraded_start(&self) -> bool {
    !self.set(DEGRADED_START)
  }

  pub(super) fn close(&self) {
    self.set(CLOSED);
  }

  pub(super) fn open(&self) {
    self.clear(CLOSED);
  }
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn live_needs_connected_open_and_not_memory() {
    let s = State::new(false);
    assert!(!s.live());
    s.set_connected();
    assert!(s.live() && s.ever_connected());
    s.close();
    assert!(!s.live() && s.closed());
    s.open();
    assert!(s.live());
    assert!(s.enter_memory());
    assert!(!s.enter_memory(), "the second switch is not the first");
    assert!(!s.live());
    s.set_disconnected();
    assert!(!s.connected() && s.ever_connected());
    assert!(State::new(true).memory());
  }
}
