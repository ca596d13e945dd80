//! Which master owns each of a cluster's 16384 slots, read from `CLUSTER
//! SLOTS`, and the redirections (`MOVED`, `ASK`) a node answers with.

use crate::core::config::Endpoint;
use crate::core::error::{Error, ErrorKind, Result};
use crate::core::reply::Reply;

pub const SLOTS: usize = 16384;
const NONE: u16 = u16::MAX;

/// Slot -> master address (`host:port`, as the servers announce it).
#[derive(Clone, Debug)]
pub struct SlotMap {
  owner: Vec<u16>,
  nodes: Vec<String>,
}

impl Default for SlotMap {
  fn default() -> Self {
    SlotMap { owner: vec![NONE; SLOTS], nodes: Vec::new() }
  }
}

impl SlotMap {
  /// Parses a `CLUSTER SLOTS` reply: `[[start, end, [host, port, id, ...],
  /// replica...], ...]`. `asked` stands in for a master announced without
  /// a usable host (an empty host or `?`).
  pub fn from_cluster_slots(reply: &Reply, asked: &Endpoint) -> Result<SlotMap> {
    let bad = |what: &str| Error::new(ErrorKind::Reply, format!("unexpected CLUSTER SLOTS reply: {what}"));
    let Reply::Array(ranges) = reply else { return Err(bad("not an array")) };
    let mut map = SlotMap::default();
    for range in ranges {
      let Reply::Array(items) = range else { return Err(bad("a range is not an array")) };
      let (Some(Reply::Int(start)), Some(Reply::Int(end)), Some(Reply::Array(master))) =
        (items.first(), items.get(1), items.get(2))
      else {
        return Err(bad("a range lacks start, end or master"));
      };
      let host = match master.first() {
        Some(Reply::Bytes(b)) if !b.is_empty() && &b[..] != b"?" => String::from_utf8_lossy(b).into_owned(),
        _ => asked.host.clone(),
      };
      let Some(Reply::Int(port)) = master.get(1) else { return Err(bad("a master without a port")) };
      if !(0..SLOTS as i64).contains(start) || !(0..SLOTS as i64).contains(end) || start > end {
        return Err(bad("a slot out of range"));
      }
      let addr = format!("{host}:{port}");
      for slot in *start..=*end {
        map.set(slot as u16, &addr);
      }
    }
    Ok(map)
  }

  pub fn owner(&self, slot: u16) -> Option<&str> {
    let i = *self.owner.get(slot as usize)?;
    self.nodes.get(i as usize).map(String::as_str)
  }

  /// Records `addr` as the slot's owner (a `MOVED` reply, or parsing).
  pub fn set(&mut self, slot: u16, addr: &str) {
    let Some(cell) = self.owner.get_mut(slot as usize) else { return };
    let i = match self.nodes.iter().position(|n| n == addr) {
      Some(i) => i,
      None => {
        self.nodes.push(addr.to_string());
        self.nodes.len() - 1
      }
    };
    *cell = i as u16;
  }

  /// Every master that owns at least one slot.
  pub fn masters(&self) -> Vec<String> {
    let mut used = vec![false; self.nodes.len()];
    for &i in &self.owner {
      if let Some(u) = used.get_mut(i as usize) {
        *u = true;
      }
    }
    self.nodes.iter().zip(used).filter(|(_, u)| *u).map(|(n, _)| n.clone()).collect()
  }

  /// Slots with no known owner.
  pub fn uncovered(&self) -> usize {
    self.owner.iter().filter(|&&i| i == NONE).count()
  }
}

/// A node's "not here" reply: the command did not run there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Redirect {
  /// The slot lives at `addr` now: update the map, send it there.
  Moved { slot: u16, addr: String },
  /// This key is being migrated to `addr`: send `ASKING` + the command there, once.
  Ask { slot: u16, addr: String },
}

/// `MOVED 3999 127.0.0.1:6381` / `ASK 3999 127.0.0.1:6381`. An empty host
/// (`:6381`, the node does not know its own address) means the host the
/// reply came from: `from_host`.
pub fn parse_redirect(message: &str, from_host: &str) -> Option<Redirect> {
  let mut words = message.split_ascii_whitespace();
  let kind = words.next()?;
  let slot: u16 = words.next()?.parse().ok().filter(|s| (*s as usize) < SLOTS)?;
  let target = words.next()?;
  let (host, port) = target.rsplit_once(':')?;
  let port: u16 = port.parse().ok()?;
  let host = if host.is_empty() { from_host } else { host };
  let addr = format!("{host}:{port}");
  match kind {
    "MOVED" => Some(Redirect::Moved { slot, addr }),
    "ASK" => Some(Redirect::Ask { slot, addr }),
    _ => None,
  }
}

/// `host:port` -> an endpoint (IPv6 hosts keep their colons).
pub fn endpoint_of(addr: &str) -> Option<Endpoint> {
  let (host, port) = addr.rsplit_once(':')?;
  Some(Endpoint { host: host.trim_start_matches('[').trim_end_matches(']').to_string(), port: port.parse().ok()? })
}

#[cfg(test)]
mod tests {
  use super::*;
  use bytes::Bytes;

  fn b(s: &str) -> Reply {
    Reply::Bytes(Bytes::copy_from_slice(s.as_bytes()))
  }

  fn node(host: &str, port: i64) -> Reply {
    Reply::Array(vec![b(host), Reply::Int(port), b("id")])
  }

  #[test]
  fn cluster_slots_reply_maps_every_slot_to_its_master() {
    let reply = Reply::Array(vec![
      Reply::Array(vec![Reply::Int(0), Reply::Int(5460), node("10.0.0.1", 7000), node("10.0.0.4", 7003)]),
      Reply::Array(vec![Reply::Int(5461), Reply::Int(10922), node("", 7001)]),
      Reply::Array(vec![Reply::Int(10923), Reply::Int(16383), node("10.0.0.3", 7002)]),
    ]);
    let asked = Endpoint { host: "10.0.0.9".into(), port: 7001 };
    let map = SlotMap::from_cluster_slots(&reply, &asked).expect("parses");
    assert_eq!(map.owner(0), Some("10.0.0.1:7000"));
    assert_eq!(map.owner(5460), Some("10.0.0.1:7000"));
    assert_eq!(map.owner(5461), Some("10.0.0.9:7001"), "an empty host is the node asked");
    assert_eq!(map.owner(16383), Some("10.0.0.3:7002"));
    assert_eq!(map.uncovered(), 0);
    assert_eq!(map.masters().len(), 3);
    let mut map = map;
    map.set(0, "10.0.0.5:7005");
    assert_eq!(map.owner(0), Some("10.0.0.5:7005"));
    assert_eq!(map.masters().len(), 4);
  }

  #[test]
  fn a_partial_map_and_a_malformed_reply() {
    let asked = Endpoint { host: "h".into(), port: 1 };
    let reply = Reply::Array(vec![Reply::Array(vec![Reply::Int(0), Reply::Int(99), node("h", 1)])]);
    let map = SlotMap::from_cluster_slots(&reply, &asked).expect("parses");
    assert_eq!(map.uncovered(), SLOTS - 100);
    assert_eq!(map.owner(100), None);
    assert!(SlotMap::from_cluster_slots(&b("nope"), &asked).is_err());
    let out_of_range = Reply::Array(vec![Reply::Array(vec![Reply::Int(0), Reply::Int(16384), node("h", 1)])]);
    assert!(SlotMap::from_cluster_slots(&out_of_range, &asked).is_err());
  }

  #[test]
  fn moved_and_ask_are_parsed() {
    assert_eq!(
      parse_redirect("MOVED 3999 127.0.0.1:6381", "x"),
      Some(Redirect::Moved { slot: 3999, addr: "127.0.0.1:6381".into() })
    );
    assert_eq!(
      parse_redirect("ASK 1 :7000", "10.1.1.1"),
      Some(Redirect::Ask { slot: 1, addr: "10.1.1.1:7000".into() })
    );
    assert_eq!(parse_redirect("ERR unknown command", "x"), None);
    assert_eq!(parse_redirect("MOVED 99999 h:1", "x"), None);
    assert_eq!(parse_redirect("MOVED 1 nohost", "x"), None);
    let e = endpoint_of("[::1]:7000").expect("ipv6");
    assert_eq!((e.host.as_str(), e.port), ("::1", 7000));
  }
}
