//! A compressed value's bytes: a 13-byte header, then the payload.
//!
//! ```text
//! 0..4   magic 0xC1 'R' 'Z' 0x01: 0xC1 never occurs in UTF-8, so no text,
//!        JSON or number written by another client starts with it; 0x01 is
//!        the format's version
//! 4      algorithm: 0 stored (the payload is the value itself), 1 lz4 (one
//!        lz4_flex block), 2 zstd (one zstd frame)
//! 5..9   the original length, u32 little-endian
//! 9..13  CRC-32 of the original bytes, u32 little-endian
//! 13..   the payload
//! ```
//!
//! Reading checks everything: a value that starts with the magic but is
//! cut short, names an unknown algorithm, claims more than the reader's
//! bound, does not decompress to exactly its length, or fails the CRC is a
//! decode error, never a panic and never other bytes.

use std::cell::RefCell;

/// The first four bytes of every value this module writes.
pub const MAGIC: [u8; 4] = [0xC1, b'R', b'Z', 1];
pub const HEADER: usize = 13;

/// zstd's default level: about lz4's speed to compress small values, a
/// third smaller output on JSON (README: Compression).
const ZSTD_LEVEL: i32 = 3;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Algorithm {
  /// Not compressed: only for a value that would otherwise be taken for a
  /// header (it starts with the magic) but does not shrink.
  Stored = 0,
  Lz4 = 1,
  Zstd = 2,
}

impl Algorithm {
  /// The option's spelling (`compression.algorithm`).
  pub fn parse(name: &str) -> Option<Algorithm> {
    match name.trim().to_ascii_lowercase().as_str() {
      "lz4" => Some(Algorithm::Lz4),
      "zstd" => Some(Algorithm::Zstd),
      _ => None,
    }
  }

  pub fn name(self) -> &'static str {
    match self {
      Algorithm::Stored => "stored",
      Algorithm::Lz4 => "lz4",
      Algorithm::Zstd => "zstd",
    }
  }

  fn from_tag(tag: u8) -> Option<Algorithm> {
    match tag {
      0 => Some(Algorithm::Stored),
      1 => Some(Algorithm::Lz4),
      2 => Some(Algorithm::Zstd),
      _ => None,
    }
  }
}

/// It starts with the magic: a reader must decode it (or refuse it).
pub fn is_framed(value: &[u8]) -> bool {
  value.len() >= MAGIC.len() && value[..MAGIC.len()] == MAGIC
}

/// The algorithm a framed value names (for messages), if it names one.
pub fn algorithm_of(framed: &[u8]) -> Option<Algorithm> {
  framed.get(4).copied().and_then(Algorithm::from_tag)
}

/// `value` compressed with `algorithm` behind a header; `None` when that
/// is not smaller than the value (store it as it is).
pub fn compress(algorithm: Algorithm, value: &[u8]) -> Option<Vec<u8>> {
  let len = u32::try_from(value.len()).ok()?;
  let bound = match algorithm {
    Algorithm::Stored => value.len(),
    Algorithm::Lz4 => lz4_flex::block::get_maximum_output_size(value.len()),
    Algorithm::Zstd => zstd::compress_bound(value.len()),
  };
  let mut out = vec![0u8; HEADER + bound];
  out[..4].copy_from_slice(&MAGIC);
  out[4] = algorithm as u8;
  out[5..9].copy_from_slice(&len.to_le_bytes());
  out[9..13].copy_from_slice(&crc32fast::hash(value).to_le_bytes());
  let n = match algorithm {
    Algorithm::Stored => {
      out[HEADER..].copy_from_slice(value);
      value.len()
    }
    Algorithm::Lz4 => lz4_flex::block::compress_into(value, &mut out[HEADER..]).ok()?,
    Algorithm::Zstd => ZSTD.with(|z| {
      let mut z = z.try_borrow_mut().ok()?;
      let c = match &mut z.0 {
        Some(c) => c,
        slot => slot.insert(zstd::bulk::Compressor::new(ZSTD_LEVEL).ok()?),
      };
      c.compress_to_buffer(value, &mut out[HEADER..]).ok()
    })?,
  };
  out.truncate(HEADER + n);
  (algorithm == Algorithm::Stored || out.len() < value.len()).then_some(out)
}

/// Why a framed value could not be read.
#[derive(Debug, PartialEq, Eq)]
pub enum DecodeError {
  /// Shorter than the header.
  Truncated,
  UnknownAlgorithm(u8),
  /// The header claims more bytes than the reader takes.
  TooLarge {
    len: usize,
    max: usize,
  },
  /// The payload is not a valid lz4 block / zstd frame of that length, or
  /// its CRC does not match.
  Corrupt(Algorithm),
}

impl std::fmt::Display for DecodeError {
  fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
    match self {
      DecodeError::Truncated => write!(f, "it is shorter than the {HEADER}-byte header"),
      DecodeError::UnknownAlgorithm(t) => write!(f, "its header names an unknown algorithm ({t})"),
      DecodeError::TooLarge { len, max } => {
        write!(f, "its header claims {len} bytes, over this service's maxValueBytes ({max})")
      }
      DecodeError::Corrupt(a) => write!(f, "its {} payload is corrupt (length or CRC-32 mismatch)", a.name()),
    }
  }
}

/// The original bytes of a framed value (`is_framed`), at most `max` of them.
pub fn decompress(framed: &[u8], max: usize) -> Result<Vec<u8>, DecodeError> {
  if framed.len() < HEADER {
    return Err(DecodeError::Truncated);
  }
  let algorithm = Algorithm::from_tag(framed[4]).ok_or(DecodeError::UnknownAlgorithm(framed[4]))?;
  let len = u32::from_le_bytes([framed[5], framed[6], framed[7], framed[8]]) as usize;
  let crc = u32::from_le_bytes([framed[9], framed[10], framed[11], framed[12]]);
  if len > max {
    return Err(DecodeError::TooLarge { len, max });
  }
  let payload = &framed[HEADER..];
  let corrupt = DecodeError::Corrupt(algorithm);
  let out = match algorithm {
    Algorithm::Stored => payload.to_vec(),
    Algorithm::Lz4 => {
      // lz4 cannot expand a byte to more than 255: a bigger claim is a lie
      // (and would allocate for nothing).
      if len > payload.len().saturating_mul(255).saturating_add(16) {
        return Err(corrupt);
      }
      let mut out = vec![0u8; len];
      match lz4_flex::block::decompress_into(payload, &mut out) {
        Ok(n) if n == len => out,
        _ => return Err(corrupt),
      }
    }
    Algorithm::Zstd => {
      // The frame records its size too: both must agree before allocating.
      if !matches!(zstd::zstd_safe::get_frame_content_size(payload), Ok(Some(n)) if n == len as u64) {
        return Err(corrupt);
      }
      let mut out = Vec::with_capacity(len);
      let n = ZSTD.with(|z| {
        let mut z = z.try_borrow_mut().ok()?;
        let d = match &mut z.1 {
          Some(d) => d,
          slot => slot.insert(zstd::bulk::Decompressor::new().ok()?),
        };
        d.decompress_to_buffer(payload, &mut out).ok()
      });
      if n != Some(len) {
        return Err(corrupt);
      }
      out
    }
  };
  if out.len() != len || crc32fast::hash(&out) != crc {
    return Err(corrupt);
  }
  Ok(out)
}

// One zstd context pair per thread: making one costs more than
// compressing a 16 KiB value.
thread_local! {
  static ZSTD: RefCell<(Option<zstd::bulk::Compressor<'static>>, Option<zstd::bulk::Decompressor<'static>>)> =
    const { RefCell::new((None, None)) };
}

#[cfg(test)]
mod tests {
  use super::*;

  fn json(n: usize) -> Vec<u8> {
    let mut s = String::from("[");
    let mut i = 0;
    while s.len() < n {
      s.push_str(&format!(r#"{{"id":{i},"name":"user {i}","active":{},"tags":["a","b"]}},"#, i % 2 == 0));
      i += 1;
    }
    s.into_bytes()
  }

  #[test]
  fn round_trips_and_the_header_says_what_it_is() {
    let value = json(16 * 1024);
    for algorithm in [Algorithm::Lz4, Algorithm::Zstd, Algorithm::Stored] {
      let framed = compress(algorithm, &value).expect("JSON shrinks (stored: always framed)");
      assert!(is_framed(&framed));
      assert_eq!(&framed[..4], &[0xC1, b'R', b'Z', 1]);
      assert_eq!(framed[4], algorithm as u8);
      assert_eq!(u32::from_le_bytes(framed[5..9].try_into().unwrap()) as usize, value.len());
      assert_eq!(u32::from_le_bytes(framed[9..13].try_into().unwrap()), crc32fast::hash(&value));
      assert_eq!(algorithm_of(&framed), Some(algorithm));
      if algorithm != Algorithm::Stored {
        assert!(framed.len() < value.len() / 3, "{algorithm:?}: {} of {}", framed.len(), value.len());
      }
      assert_eq!(decompress(&framed, usize::MAX).unwrap(), value, "{algorithm:?}");
    }
    // Empty and tiny values round-trip too (stored), and random bytes do not shrink.
    assert_eq!(decompress(&compress(Algorithm::Stored, b"").unwrap(), 10).unwrap(), b"");
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    let noise: Vec<u8> = (0..4096)
      .map(|_| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x as u8
      })
      .collect();
    assert!(compress(Algorithm::Lz4, &noise).is_none());
    assert!(compress(Algorithm::Zstd, b"abc").is_none());
  }

  #[test]
  fn plain_values_are_not_framed() {
    for plain in [&b""[..], b"hello", b"{\"a\":1}", b"\xC1RZ", b"\xC1RZ\x02xxxxxxxxxxxxx", "é".as_bytes(), &[0xFF; 32]]
    {
      assert!(!is_framed(plain), "{plain:?}");
    }
  }

  #[test]
  fn truncated_or_corrupt_input_is_an_error_never_a_panic() {
    let value = json(8 * 1024);
    for algorithm in [Algorithm::Lz4, Algorithm::Zstd, Algorithm::Stored] {
      let framed = compress(algorithm, &value).unwrap();
      // Every cut.
      for cut in 0..framed.len() {
        let r = decompress(&framed[..cut], usize::MAX);
        assert!(r.is_err(), "{algorithm:?} cut at {cut}");
      }
      // Every single-byte change after the magic: an error, or (a change
      // the payload's decoder ignores) the value itself, never other bytes.
      for at in 4..framed.len() {
        let mut bad = framed.clone();
        bad[at] ^= 0x5A;
        if let Ok(v) = decompress(&bad, 1 << 20) {
          assert!(v == value, "{algorithm:?}: a change at {at} decoded to other bytes");
        }
      }
    }
    let mut unknown = compress(Algorithm::Lz4, &value).unwrap();
    unknown[4] = 9;
    assert_eq!(decompress(&unknown, usize::MAX), Err(DecodeError::UnknownAlgorithm(9)));
    let framed = compress(Algorithm::Zstd, &value).unwrap();
    assert_eq!(decompress(&framed, 100), Err(DecodeError::TooLarge { len: value.len(), max: 100 }));
    // A header claiming 4 GiB over a few bytes allocates nothing of the sort.
    let mut lie = MAGIC.to_vec();
    lie.extend_from_slice(&[1, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0, 0x10, 0x41]);
    assert_eq!(decompress(&lie, usize::MAX), Err(DecodeError::Corrupt(Algorithm::Lz4)));
    lie[4] = 2;
    assert_eq!(decompress(&lie, 1 << 20), Err(DecodeError::TooLarge { len: u32::MAX as usize, max: 1 << 20 }));
  }
}
