//! Cluster commands on lanes of our own, one per master (fred 10.1 runs one
//! router task per client: a dead node stalls every shard, and ASK under
//! load exhausts its budget). A batch is split by slot into one write per
//! node; the replies are merged back into the caller's order.
//!
//! Redirections: `MOVED` updates the slot (and asks for a full refresh),
//! `ASK` sends `ASKING` + the command to the target once, `TRYAGAIN` and
//! `CLUSTERDOWN` retry after a delay until the command's deadline. A
//! redirect reply means the command did not run, so re-sending is safe; a
//! dropped connection means it may have run: that error is reported, never
//! re-sent. Node upkeep (slot map, opening lanes) is in `cluster_upkeep.rs`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::{Duration, Instant};

use crate::core::command::Command;
use crate::core::error::{Error, ErrorKind, Result, Sent};
use crate::core::lane::{Done, Lane, LaneSettings};
use crate::core::reply::Reply;
use crate::core::topology::cluster;
use crate::core::topology::gather::{settle, Gather, Sink};
use crate::core::topology::slot_map::{parse_redirect, Redirect, SlotMap};

/// True for a command the lanes can route: it has a key that names its
/// slot and it can share a pipelined connection. Keyless and server-wide
/// commands (no key in the command table) stay on fred.
pub fn routable(cmd: &Command) -> bool {
  crate::core::lane::carries(cmd) && cmd.slot_key().is_some()
}

/// One command on its way, with what its redirections so far allow.
pub(crate) struct Item {
  pub(crate) sink: Sink,
  pub(crate) cmd: Command,
  pub(crate) slot: u16,
  redirects: u32,
  /// `ASK` target: the next send goes there, preceded by `ASKING`.
  ask: Option<String>,
  deadline: Instant,
}

pub(crate) struct Routes {
  pub(crate) map: SlotMap,
  /// Master address -> its lane.
  pub(crate) lanes: HashMap<String, Arc<Lane>>,
}

pub struct ClusterLanes {
  pub(crate) base: LaneSettings,
  pub(crate) seeds: Vec<String>,
  pub(crate) routes: RwLock<Routes>,
  max_redirections: u32,
  retry_delay: Duration,
  pub(crate) runtime: tokio::runtime::Handle,
  /// Lanes are driven by the binding (Node's loop): new lanes wait in
  /// `undriven` for it, and re-sends wait in `deferred` for its thread.
  pub(crate) outside: AtomicBool,
  pub(crate) undriven: Mutex<Vec<Arc<Lane>>>,
  deferred: Mutex<Vec<Item>>,
  /// Wakes the binding's thread to attach lanes and run `deferred`.
  poke: OnceLock<Box<dyn Fn() + Send + Sync>>,
  /// Addresses whose lane is being opened -> the items waiting for it.
  pub(crate) opening: Mutex<HashMap<String, Vec<Item>>>,
  pub(crate) maintaining: AtomicBool,
  pub(crate) wanted: AtomicBool,
  pub(crate) closed: AtomicBool,
}

impl ClusterLanes {
  /// `base`: the settings every node's lane shares (its endpoint is
  /// replaced); `retry_delay`: the wait before a TRYAGAIN/CLUSTERDOWN retry.
  pub fn new(
    base: LaneSettings,
    seeds: Vec<String>,
    retry_delay: Duration,
    max_redirections: u32,
    runtime: tokio::runtime::Handle,
  ) -> Self {
    ClusterLanes {
      base,
      seeds,
      routes: RwLock::new(Routes { map: SlotMap::default(), lanes: HashMap::new() }),
      max_redirections: max_redirections.max(1),
      retry_delay: retry_delay.max(Duration::from_millis(1)),
      runtime,
      outside: AtomicBool::new(false),
      undriven: Mutex::new(Vec::new()),
      deferred: Mutex::new(Vec::new()),
      poke: OnceLock::new(),
      opening: Mutex::new(HashMap::new()),
      maintaining: AtomicBool::new(false),
      wanted: AtomicBool::new(false),
      closed: AtomicBool::new(false),
    }
  }

  /// The binding drives lanes on its thread; `poke` wakes that thread,
  /// which then calls `take_undriven` and `run_deferred`.
  pub fn drive_outside(&self, poke: Box<dyn Fn() + Send + Sync>) {
    let _ = self.poke.set(poke);
    self.outside.store(true, Ordering::Release);
  }

  /// Masters whose lane is open.
  pub fn open_lanes(&self) -> usize {
    self.routes.read().map(|r| r.lanes.values().filter(|l| l.is_open()).count()).unwrap_or(0)
  }

  pub(crate) fn poke(&self) {
    if let Some(poke) = self.poke.get() {
      poke();
    }
  }

  /// Sends a batch of routable commands; `done` gets every result, in order.
  pub fn send(self: &Arc<Self>, cmds: Vec<Command>, done: Done) {
    let gather = Gather::new(cmds.len(), done);
    let deadline = Instant::now() + self.base.command_timeout;
    let mut items = Vec::with_capacity(cmds.len());
    for (idx, cmd) in cmds.into_iter().enumerate() {
      let sink = Sink { gather: gather.clone(), idx };
      match cluster::split(&cmd) {
        Some((merge, mut parts)) => {
          let part_cmds: Vec<Command> =
            parts.iter_mut().map(|p| std::mem::replace(&mut p.cmd, Command::new("", Vec::new()))).collect();
          let whole: Done = Box::new(move |replies| sink.set(cluster::merge(merge, &parts, replies)));
          let sub = Gather::new(part_cmds.len(), whole);
          for (j, cmd) in part_cmds.into_iter().enumerate() {
            items.push(Item::new(Sink { gather: sub.clone(), idx: j }, cmd, deadline));
          }
        }
        None => items.push(Item::new(sink, cmd, deadline)),
      }
    }
    self.route(items);
  }

  /// Groups items by the lane of their slot's master (or ASK target) and
  /// writes each group in one go.
  pub(crate) fn route(self: &Arc<Self>, items: Vec<Item>) {
    if self.closed.load(Ordering::Acquire) {
      let e = Error::closed().with_sent(Sent::No);
      return settle(items.into_iter().map(|i| (i.sink, Err(e.clone()))).collect());
    }
    let mut groups: Vec<(String, Arc<Lane>, Vec<Item>)> = Vec::new();
    let mut unrouted: Vec<(Option<String>, Item)> = Vec::new();
    let mut unattached = Vec::new();
    {
      let routes = match self.routes.read() {
        Ok(r) => r,
        Err(poisoned) => poisoned.into_inner(),
      };
      for item in items {
        let addr = item.ask.as_deref().or_else(|| routes.map.owner(item.slot));
        match addr.and_then(|a| routes.lanes.get(a).map(|l| (a, l))) {
          Some((_, lane)) if lane.is_open() && !lane.is_driven() => unattached.push(item),
          Some((a, lane)) if lane.is_open() => match groups.iter_mut().find(|g| Arc::ptr_eq(&g.1, lane)) {
            Some(g) => g.2.push(item),
            None => groups.push((a.to_string(), lane.clone(), vec![item])),
          },
          _ => unrouted.push((addr.map(str::to_string), item)),
        }
      }
    }
    let mut failed = Vec::new();
    for (addr, item) in unrouted {
      match addr {
        Some(addr) => {
          if let Err(item) = self.park(&addr, item) {
            let e =
              Error::new(ErrorKind::Connection, format!("no connection to {addr}, the master of slot {}", item.slot));
            failed.push((item.sink, Err(e.with_sent(Sent::No))));
          }
        }
        None => {
          let e = Error::new(ErrorKind::Connection, format!("no master is known for slot {}", item.slot));
          failed.push((item.sink, Err(e.with_sent(Sent::No))));
        }
      }
    }
    if !failed.is_empty() {
      self.kick();
      settle(failed);
    }
    for (addr, lane, items) in groups {
      self.send_group(addr, &lane, items);
    }
    if !unattached.is_empty() {
      // Opened, not yet attached: the binding attaches it before it runs these.
      self.defer(unattached);
    }
  }

  /// Parks an item until the lane being opened to `addr` is up; hands it
  /// back when no open is under way.
  fn park(self: &Arc<Self>, addr: &str, item: Item) -> std::result::Result<(), Item> {
    let mut opening = match self.opening.lock() {
      Ok(o) => o,
      Err(poisoned) => poisoned.into_inner(),
    };
    match opening.get_mut(addr) {
      Some(waiting) => {
        waiting.push(item);
        Ok(())
      }
      None => Err(item),
    }
  }

  fn send_group(self: &Arc<Self>, addr: String, lane: &Lane, items: Vec<Item>) {
    let asking = Command::new("ASKING", Vec::new());
    let cmds = items.iter().flat_map(|i| i.ask.as_ref().map(|_| &asking).into_iter().chain(std::iter::once(&i.cmd)));
    let (bytes, n) = Lane::encode(cmds);
    let router = self.clone();
    let done: Done = Box::new(move |results| router.on_replies(&addr, items, results));
    if let Err(done) = lane.send(bytes, n, done) {
      // Dead since we looked: nothing was written.
      let e = Error::new(ErrorKind::Connection, "the connection to the cluster node was lost").with_sent(Sent::No);
      done((0..n).map(|_| Err(e.clone())).collect());
    }
  }

  /// One node's replies for a group: settle, or redirect and send again.
  fn on_replies(self: &Arc<Self>, addr: &str, items: Vec<Item>, results: Vec<Result<Reply>>) {
    let host = addr.rsplit_once(':').map(|(h, _)| h).unwrap_or(addr);
    let mut results = results.into_iter();
    let mut settled = Vec::with_capacity(items.len());
    let (mut again, mut later) = (Vec::new(), Vec::new());
    let mut lost_node = false;
    for mut item in items {
      if item.ask.is_some() {
        let _asking = results.next();
      }
      let r = results.next().unwrap_or_else(|| Err(Error::new(ErrorKind::Internal, "a command lost its result")));
      let message = match &r {
        Err(e) if e.kind == ErrorKind::Reply => e.message.as_str(),
        Err(e) => {
          lost_node |= e.kind == ErrorKind::Connection;
          settled.push((item.sink, r));
          continue;
        }
        Ok(_) => {
          settled.push((item.sink, r));
          continue;
        }
      };
      if let Some(redirect) = parse_redirect(message, host) {
        if item.redirects >= self.max_redirections {
          let e = too_many_redirections(item.slot, message);
          settled.push((item.sink, Err(e)));
          continue;
        }
        item.redirects += 1;
        match redirect {
          Redirect::Moved { slot, addr } => {
            self.note_moved(slot, &addr);
            item.ask = None;
          }
          Redirect::Ask { addr, .. } => item.ask = Some(addr),
        }
        again.push(item);
      } else if retry_later(message) && Instant::now() + self.retry_delay < item.deadline {
        if message.starts_with("CLUSTERDOWN") {
          item.ask = None;
        }
        later.push(item);
      } else {
        settled.push((item.sink, r));
      }
    }
    if lost_node {
      self.kick();
    }
    settle(settled);
    if !again.is_empty() {
      self.defer(again);
    }
    if !later.is_empty() {
      let router = self.clone();
      let delay = self.retry_delay;
      self.runtime.spawn(async move {
        tokio::time::sleep(delay).await;
        router.defer(later);
      });
    }
  }

  /// Sends items again from the thread that drives the lanes: at once with
  /// tokio, else after the binding's next wake-up.
  pub(crate) fn defer(self: &Arc<Self>, items: Vec<Item>) {
    if self.closed.load(Ordering::Acquire) || !self.outside.load(Ordering::Acquire) {
      return self.route(items);
    }
    match self.deferred.lock() {
      Ok(mut d) => d.extend(items),
      Err(poisoned) => poisoned.into_inner().extend(items),
    }
    self.poke();
  }

  /// Called by the binding on its thread, after attaching new lanes.
  pub fn run_deferred(self: &Arc<Self>) {
    let items = match self.deferred.lock() {
      Ok(mut d) => std::mem::take(&mut *d),
      Err(poisoned) => std::mem::take(&mut *poisoned.into_inner()),
    };
    if !items.is_empty() {
      self.route(items);
    }
  }

  /// `MOVED`: the slot's owner changed. Its lane opens if it is new, and
  /// the whole map is refreshed (coalesced).
  fn note_moved(self: &Arc<Self>, slot: u16, addr: &str) {
    let known = match self.routes.write() {
      Ok(mut r) => {
        r.map.set(slot, addr);
        r.lanes.get(addr).is_some_and(|l| l.is_open())
      }
      Err(_) => false,
    };
    if !known {
      self.open_node(addr.to_string());
    }
    self.kick();
  }
}

impl Item {
  pub(crate) fn new(sink: Sink, cmd: Command, deadline: Instant) -> Item {
    let slot = cmd.slot_key().map(cluster::slot_of_value).unwrap_or(0);
    Item { sink, cmd, slot, redirects: 0, ask: None, deadline }
  }
}

/// Refusals that mean "not now, the same node later": the command did not run.
fn retry_later(message: &str) -> bool {
  message.starts_with("TRYAGAIN") || message.starts_with("CLUSTERDOWN")
}

fn too_many_redirections(slot: u16, last: &str) -> Error {
  Error::new(
    ErrorKind::Reply,
    format!(
      "too many MOVED/ASK redirections for slot {slot}: the cluster keeps redirecting the command (a slot migration in progress or a misconfigured slot); last: {last}"
    ),
  )
  .with_sent(Sent::No)
}

#[cfg(all(test, unix))]
#[path = "cluster_lanes_tests.rs"]
mod tests;
