//! `PartitionMap`: the core's key placement (`core::partitioning`) for the
//! JS partitioning service. Conversion only.

use napi::bindgen_prelude::Either;
use napi_derive::napi;

use crate::core::error::Error;
use crate::core::partitioning::{Bound, Placement, Range};

fn throw(e: Error) -> napi::Error<&'static str> {
  napi::Error::new(e.code(), e.message)
}

#[napi(object)]
pub struct RangeSpec {
  pub from: Option<Either<f64, String>>,
  pub to: Option<Either<f64, String>>,
  /// The index of the range's node in `nodes`.
  pub node: u32,
}

fn bound(b: Option<Either<f64, String>>) -> Bound {
  match b {
    None => Bound::Open,
    Some(Either::A(n)) => Bound::Number(n),
    Some(Either::B(s)) => Bound::Text(s.into_bytes()),
  }
}

#[napi]
pub struct PartitionMap {
  placement: Placement,
}

#[napi]
impl PartitionMap {
  /// `ranges` absent: consistent (rendezvous) placement over `nodes`.
  #[napi(constructor, catch_unwind)]
  pub fn new(nodes: Vec<String>, ranges: Option<Vec<RangeSpec>>) -> napi::Result<Self, &'static str> {
    let placement = match ranges {
      None => Placement::consistent(nodes),
      Some(rs) => Placement::range(
        nodes,
        rs.into_iter().map(|r| Range { from: bound(r.from), to: bound(r.to), node: r.node as usize }).collect(),
      ),
    }
    .map_err(throw)?;
    Ok(PartitionMap { placement })
  }

  /// The index in `nodes` of the owner of `key`, or -1 when no range covers it.
  #[napi(catch_unwind)]
  pub fn owner(&self, key: String) -> i32 {
    self.placement.owner(key.as_bytes()).map_or(-1, |i| i as i32)
  }

  /// `owner` for many keys at once (one boundary crossing).
  #[napi(catch_unwind)]
  pub fn owners(&self, keys: Vec<String>) -> Vec<i32> {
    keys.iter().map(|k| self.placement.owner(k.as_bytes()).map_or(-1, |i| i as i32)).collect()
  }
}
