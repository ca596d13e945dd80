//! Range placement: `ranges: [{ from, to, node }]`, `from` inclusive and `to`
//! exclusive (a missing bound is open). Numeric bounds compare the key's
//! numeric id (its last run of ASCII digits, e.g. `user:123` -> 123; hash
//! tag first); string bounds compare the key's bytes (a prefix range is
//! `{ from: 'a', to: 'b' }`). The first range that covers a key owns it.

#[derive(Debug, Clone, PartialEq)]
pub enum Bound {
  Open,
  Number(f64),
  Text(Vec<u8>),
}

#[derive(Debug, Clone)]
pub struct Range {
  pub from: Bound,
  pub to: Bound,
  pub node: usize,
}

/// The last run of ASCII digits in `key`, as a number.
pub fn numeric_id(key: &[u8]) -> Option<f64> {
  let end = key.iter().rposition(|b| b.is_ascii_digit())? + 1;
  let start = key[..end].iter().rposition(|b| !b.is_ascii_digit()).map_or(0, |i| i + 1);
  std::str::from_utf8(&key[start..end]).ok()?.parse().ok()
}

fn at_least(key: &[u8], id: Option<f64>, b: &Bound) -> bool {
  match b {
    Bound::Open => true,
    Bound::Number(n) => id.is_some_and(|v| v >= *n),
    Bound::Text(t) => key >= t.as_slice(),
  }
}

fn below(key: &[u8], id: Option<f64>, b: &Bound) -> bool {
  match b {
    Bound::Open => true,
    Bound::Number(n) => id.is_some_and(|v| v < *n),
    Bound::Text(t) => key < t.as_slice(),
  }
}

pub fn owner(ranges: &[Range], key: &[u8]) -> Option<usize> {
  let id = numeric_id(key);
  ranges.iter().find(|r| at_least(key, id, &r.from) && below(key, id, &r.to)).map(|r| r.node)
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn numeric_ids() {
    assert_eq!(numeric_id(b"user:123"), Some(123.0));
    assert_eq!(numeric_id(b"order:7:items"), Some(7.0));
    assert_eq!(numeric_id(b"none"), None);
  }

  #[test]
  fn ranges_route_by_id_and_prefix() {
    let r = vec![
      Range { from: Bound::Number(0.0), to: Bound::Number(1000.0), node: 0 },
      Range { from: Bound::Number(1000.0), to: Bound::Open, node: 1 },
      Range { from: Bound::Text(b"a".to_vec()), to: Bound::Text(b"n".to_vec()), node: 2 },
    ];
    assert_eq!(owner(&r, b"user:999"), Some(0));
    assert_eq!(owner(&r, b"user:1000"), Some(1));
    assert_eq!(owner(&r, b"apple"), Some(2));
    assert_eq!(owner(&r, b"zebra"), None);
  }
}
