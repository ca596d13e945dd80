//! Encoded commands on their way to the socket. Small parts are copied
//! into one buffer; large arguments (a value of kilobytes) are not copied
//! at all: the wire keeps a reference to the argument's own bytes and the
//! socket gets them with a vectored write.

use std::collections::VecDeque;
use std::io::{IoSlice, Write};

use bytes::{Buf, Bytes, BytesMut};

/// Arguments from this size up travel by reference.
pub const SHARED_MIN: usize = 4096;

/// At most this many slices per `writev`.
const MAX_SLICES: usize = 64;

#[derive(Default)]
pub struct Wire {
  /// Complete segments, in order.
  done: VecDeque<Bytes>,
  /// The segment being filled with small parts.
  tail: BytesMut,
}

impl Wire {
  pub fn new() -> Wire {
    Wire::default()
  }

  /// Room for `n` more bytes of small parts.
  pub fn reserve(&mut self, n: usize) {
    self.tail.reserve(n);
  }

  /// Small parts: copied.
  pub fn put(&mut self, bytes: &[u8]) {
    self.tail.extend_from_slice(bytes);
  }

  /// A large argument: referenced, not copied.
  pub fn put_shared(&mut self, bytes: &Bytes) {
    self.seal();
    self.done.push_back(bytes.clone());
  }

  fn seal(&mut self) {
    if !self.tail.is_empty() {
      self.done.push_back(self.tail.split().freeze());
    }
  }

  pub fn is_empty(&self) -> bool {
    self.tail.is_empty() && self.done.iter().all(|b| b.is_empty())
  }

  pub fn len(&self) -> usize {
    self.tail.len() + self.done.iter().map(|b| b.len()).sum::<usize>()
  }

  /// Appends another wire's bytes after this one's.
  pub fn append(&mut self, mut other: Wire) {
    self.seal();
    other.seal();
    self.done.append(&mut other.done);
  }

  /// Writes as much as `out` takes now; what remains stays in the wire.
  /// `Ok(())` once everything is written; a `WouldBlock` error when the
  /// socket is full (the rest is still here).
  pub fn write_to(&mut self, mut out: impl Write) -> std::io::Result<()> {
    self.seal();
    while !self.done.is_empty() {
      let n = if self.done.len() == 1 {
        out.write(&self.done[0])?
      } else {
        let slices: Vec<IoSlice<'_>> = self.done.iter().take(MAX_SLICES).map(|b| IoSlice::new(b)).collect();
        out.write_vectored(&slices)?
      };
      if n == 0 {
        return Err(std::io::Error::new(std::io::ErrorKind::WriteZero, "the socket took no bytes"));
      }
      self.consume(n);
    }
    Ok(())
  }

  fn consume(&mut self, mut n: usize) {
    while n > 0 {
      let Some(front) = self.done.front_mut() else { return };
      if front.len() <= n {
        n -= front.len();
        self.done.pop_front();
      } else {
        front.advance(n);
        n = 0;
      }
    }
  }

  /// Hands every byte to `out` (a TLS session's writer, which takes all).
  pub fn write_all_to(mut self, out: &mut impl Write) -> std::io::Result<()> {
    self.seal();
    self.done.iter().try_for_each(|b| out.write_all(b))
  }

  /// Everything as one contiguous buffer (tests, handshakes).
  pub fn to_vec(&self) -> Vec<u8> {
    let mut v = Vec::with_capacity(self.len());
    self.done.iter().for_each(|b| v.extend_from_slice(b));
    v.extend_from_slice(&self.tail);
    v
  }
}

#[cfg(test)]
mod tests {
  use super::*;

  /// Takes at most `step` bytes per call, then refuses once (a full socket).
  struct Trickle {
    got: Vec<u8>,
    step: usize,
    refuse: bool,
  }

  impl Write for Trickle {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
      self.refuse = !self.refuse;
      if self.refuse {
        return Err(std::io::ErrorKind::WouldBlock.into());
      }
      let n = b.len().min(self.step);
      self.got.extend_from_slice(&b[..n]);
      Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
      Ok(())
    }
  }

  #[test]
  fn large_parts_are_shared_and_partial_writes_resume_in_order() {
    let big = Bytes::from(vec![b'x'; 10_000]);
    let mut w = Wire::new();
    w.put(b"head");
    w.put_shared(&big);
    w.put(b"tail");
    let mut other = Wire::new();
    other.put(b"more");
    w.append(other);
    let expected = w.to_vec();
    assert_eq!(expected.len(), 4 + 10_000 + 8);
    let mut sink = Trickle { got: Vec::new(), step: 777, refuse: false };
    while let Err(e) = w.write_to(&mut sink) {
      assert_eq!(e.kind(), std::io::ErrorKind::WouldBlock);
    }
    assert_eq!(sink.got, expected);
    assert!(w.is_empty());
  }
}
