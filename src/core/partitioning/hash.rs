//! Stable hashes for placement. They decide where data lives, so they must
//! never change between versions: FNV-1a 64 over the bytes, then the
//! SplitMix64 finaliser for avalanche (FNV alone spreads short, similar keys
//! poorly in the high bits).

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

pub fn fnv1a(bytes: &[u8]) -> u64 {
  let mut h = FNV_OFFSET;
  for b in bytes {
    h ^= u64::from(*b);
    h = h.wrapping_mul(FNV_PRIME);
  }
  h
}

/// SplitMix64's finaliser: a bijection with full avalanche.
pub fn mix(mut z: u64) -> u64 {
  z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
  z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
  z ^ (z >> 31)
}

/// The part of a key that decides placement, as Redis Cluster's hash slot
/// does: the bytes between the first `{` and the first `}` after it, when
/// that is non-empty; otherwise the whole key.
pub fn hash_slot_key(key: &[u8]) -> &[u8] {
  if let Some(open) = key.iter().position(|&b| b == b'{') {
    if let Some(len) = key[open + 1..].iter().position(|&b| b == b'}') {
      if len > 0 {
        return &key[open + 1..open + 1 + len];
      }
    }
  }
  key
}

/// The placement hash of a key (hash tags honoured).
pub fn key_hash(key: &[u8]) -> u64 {
  mix(fnv1a(hash_slot_key(key)))
}

/// A node's seed: its name as given, so the order of `nodes` does not matter.
pub fn node_hash(name: &str) -> u64 {
  mix(fnv1a(name.as_bytes()) ^ 0x9e37_79b9_7f4a_7c15)
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn hash_tags_as_redis_cluster() {
    assert_eq!(hash_slot_key(b"{user1000}.following"), b"user1000");
    assert_eq!(hash_slot_key(b"foo{}{bar}"), b"foo{}{bar}");
    assert_eq!(hash_slot_key(b"foo{{bar}}zap"), b"{bar");
    assert_eq!(hash_slot_key(b"foo{bar}{zap}"), b"bar");
    assert_eq!(hash_slot_key(b"plain"), b"plain");
    assert_eq!(hash_slot_key(b"open{only"), b"open{only");
  }

  #[test]
  fn the_hash_never_changes() {
    // Placement is persisted in where data lives: pin the values.
    assert_eq!(fnv1a(b""), FNV_OFFSET);
    assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
    assert_eq!(key_hash(b"{a}x"), key_hash(b"a"));
  }
}
