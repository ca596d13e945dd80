//! The request pipeline, once for every transport: `submit` takes a tick's
//! batches, `route` picks the transport for each, and `run` goes plan
//! (breakers, fallback, near-cache hits) -> near-cache tickets -> transport
//! -> store replies -> finish (accounting, fallback for what failed).
//! Value compression wraps it: arguments encoded as `submit` takes them,
//! value replies decoded just before each batch's callback.

use std::sync::Arc;

use crate::core::command::Command;
use crate::core::error::{Error, ErrorKind, Result, Sent};
use crate::core::lane;
use crate::core::near_cache::{NearCache, Ticket};
use crate::core::reply::Reply;
use crate::core::resilience::{Plan, Route};
use crate::core::served::{Answers, Served, Settle};
use crate::core::service::chunks::is_script;
use crate::core::service::Service;
use crate::core::transport::{self, cluster_lanes::routable, Outbound, Transport};

impl Service {
  /// A tick's batches (see chunks.rs), in order; each `Settle` gets one
  /// result per command of its batch, and who served it (served.rs).
  /// Called on the JS thread: batches go
  /// out now while a transport takes them in order (lanes, memory); from
  /// the first that needs fred or a connect on, the rest of the tick goes
  /// with it as one batch, so their order is kept.
  pub fn submit(self: &Arc<Self>, mut batches: Vec<(Vec<Command>, Settle)>) {
    // Values compressed before anything sees them: the near cache, the
    // fallback, the journal and every transport hold what Redis holds.
    if self.values.compression().is_some() {
      for (cmds, _) in &mut batches {
        self.values.encode(cmds);
      }
    }
    // Several batches, one write (scripts excepted, see `is_script`).
    let corked = if batches.len() > 1 && !batches.iter().any(|(cmds, _)| cmds.iter().any(is_script)) {
      self.cork_lane()
    } else {
      None
    };
    let mut batches = batches.into_iter();
    let mut later = None;
    for (cmds, done) in batches.by_ref() {
      match self.route(&cmds) {
        Some(t) if t.in_order_now() => self.run(t, cmds, done),
        route => {
          later = Some((route, cmds, done));
          break;
        }
      }
    }
    if let Some(lane) = corked {
      lane.uncork();
    }
    let Some((route, cmds, done)) = later else { return };
    let (cmds, done) = join(cmds, done, batches);
    match route {
      Some(t) => self.run(t, cmds, done),
      None => self.connect_then_run(cmds, done),
    }
  }

  /// The one routing decision: which transport carries `cmds` now, or
  /// `None` when the service is closed or not connected yet (the async
  /// path connects, or says why). The lanes take what they can carry;
  /// fred what they refuse, and everything while a lane is down.
  pub(super) fn route(self: &Arc<Self>, cmds: &[Command]) -> Option<Transport<'_>> {
    if !self.state.live() {
      return (self.state.memory() && !self.state.closed()).then_some(Transport::Memory(&self.memory));
    }
    if let Some(router) = &self.cluster {
      if router.any_open() && cmds.iter().all(routable) {
        return Some(Transport::ClusterLanes(router));
      }
    } else if self.lane_settings.is_some() && !self.resilience.is_degraded() && cmds.iter().all(lane::carries) {
      match self.live_lane() {
        // The subscriber reconnected under a new id: this lane's reads are
        // tracked to nobody. Replace it; its batches in flight still finish.
        Some(lane) if self.near.as_ref().is_some_and(|n| n.redirect() != 0 && n.redirect() != lane.tracking()) => {
          lane.retire();
          self.reopen_lane();
        }
        Some(lane) => return Some(Transport::Lanes(lane)),
        None => self.reopen_lane(),
      }
    }
    self.remote()
  }

  /// fred or the Upstash client (service/backend.rs), for a connected service.
  fn remote(&self) -> Option<Transport<'_>> {
    let clients = self.clients().ok()?;
    let runtime = self.runtime.as_ref()?;
    if !self.resilience.is_degraded() && self.redis_down() {
      self.resilience.enter_degraded("the connection to Redis was lost");
    }
    Some(Transport::Remote(clients, runtime))
  }

  /// One batch on `transport`: plan, tickets, send, then `InFlight::complete`.
  fn run(self: &Arc<Self>, transport: Transport<'_>, cmds: Vec<Command>, done: Settle) {
    if let Transport::Memory(store) = transport {
      // The whole backend: nothing to fall back to, no breaker to keep.
      let mut out = transport::memory::execute(store, cmds.iter());
      self.values.decode(&cmds, &mut out);
      return done(Answers::all(out, Served::MEMORY));
    }
    // Standalone: reads are cached while the lane is tracked to the live
    // subscriber; cluster: on any path while every node's broadcast
    // tracking is up.
    let near = match &transport {
      Transport::Lanes(lane) => self.near.clone().filter(|n| n.usable(lane.serial(), lane.tracking())),
      _ => self.broadcast_near(),
    };
    if near.is_none() {
      self.note_writes(&cmds);
    }
    let plan = self.resilience.plan(&cmds, |cmd| near.as_ref().and_then(|n| n.before_plan(cmd)));
    if plan.redis_count() == 0 {
      let (mut out, _) = self.resilience.finish(plan, &cmds, Vec::new());
      self.values.decode(&cmds, &mut out.replies);
      done(out);
      self.after_batch(false);
      return;
    }
    let tickets = match &near {
      Some(n) => redis_part(&plan, &cmds).map(|cmd| n.ticket(cmd)).collect(),
      None => Vec::new(),
    };
    let done = SettleOnce(Some(done), cmds.len());
    transport.send(InFlight { service: self.clone(), plan, cmds, near, tickets, done });
  }

  /// Not connected yet (lazy connect, a reconnect after `disconnect()`), or
  /// closed: connect on the runtime, then fred or the memory store.
  fn connect_then_run(self: &Arc<Self>, cmds: Vec<Command>, done: Settle) {
    let Some(runtime) = self.runtime.clone() else {
      let e = Error::new(ErrorKind::Internal, "no async runtime to connect on");
      return done(Answers::all(cmds.iter().map(|_| Err(e.clone())).collect(), Served::UNROUTED));
    };
    let service = self.clone();
    runtime.spawn(async move {
      let ready = crate::core::guard::guarded(service.ready_clients()).await;
      let clients = match ready {
        Ok(None) => return service.run(Transport::Memory(&service.memory), cmds, done),
        Ok(Some(clients)) => clients,
        Err(e)
          if e.kind == ErrorKind::Connection && (service.state.ever_connected() || service.state.degraded_start()) =>
        {
          return service.unreachable(e, cmds, done)
        }
        // Closed (unrouted), or Redis refused the connection.
        Err(e) => {
          let by = if e.kind == ErrorKind::Closed { Served::UNROUTED } else { Served::REDIS };
          return done(Answers::all(cmds.iter().map(|_| Err(e.clone())).collect(), by));
        }
      };
      if !service.resilience.is_degraded() && service.redis_down() {
        service.resilience.enter_degraded("the connection to Redis was lost");
      }
      let Some(runtime) = service.runtime.as_ref() else { return };
      service.run(Transport::Remote(clients, runtime), cmds, done);
    });
  }

  /// Redis could not be reached to send the batch at all: degraded, and
  /// the plan answers from the fallback.
  fn unreachable(self: &Arc<Self>, e: Error, cmds: Vec<Command>, done: Settle) {
    self.resilience.enter_degraded(&e.message);
    self.note_writes(&cmds);
    let plan = self.resilience.plan(&cmds, |_| None);
    // The recovery loop may have left degraded mode since: commands the
    // plan still gives to Redis get this (never sent) error, not none.
    let unsent = (0..plan.redis_count()).map(|_| Err(e.clone().with_sent(Sent::No))).collect();
    let (mut out, _) = self.resilience.finish(plan, &cmds, unsent);
    self.values.decode(&cmds, &mut out.replies);
    done(out);
    self.after_batch(false);
  }
}

/// One batch from `batches`' first on: its commands in order, and a `Done`
/// that hands each batch its share of the results.
fn join(
  mut cmds: Vec<Command>,
  done: Settle,
  rest: impl ExactSizeIterator<Item = (Vec<Command>, Settle)>,
) -> (Vec<Command>, Settle) {
  if rest.len() == 0 {
    return (cmds, done);
  }
  let mut sizes = vec![cmds.len()];
  let mut dones = vec![done];
  for (more, done) in rest {
    sizes.push(more.len());
    cmds.extend(more);
    dones.push(done);
  }
  let done: Settle = Box::new(move |answers| {
    let mut replies = answers.replies.into_iter();
    let mut served = answers.served.into_iter();
    for (size, done) in sizes.into_iter().zip(dones) {
      done(Answers { replies: replies.by_ref().take(size).collect(), served: served.by_ref().take(size).collect() });
    }
  });
  (cmds, done)
}

/// The commands of a batch that its plan sends to Redis, in order.
pub(super) fn redis_part<'a>(plan: &'a Plan, cmds: &'a [Command]) -> impl Iterator<Item = &'a Command> + 'a {
  plan.routes.iter().zip(cmds).filter(|(r, _)| matches!(r, Route::Redis { .. })).map(|(_, c)| c)
}

/// A planned batch handed to a transport.
struct InFlight {
  service: Arc<Service>,
  plan: Plan,
  cmds: Vec<Command>,
  near: Option<Arc<NearCache>>,
  /// One per command sent (`None`: not cacheable); empty without `near`.
  tickets: Vec<Option<Ticket>>,
  done: SettleOnce,
}

/// The batch's callback, called exactly once: by `complete`, or, if the
/// batch is dropped first (a panic in finish, a task dropped at shutdown),
/// with an internal error for every command, so no promise is left waiting.
struct SettleOnce(Option<Settle>, usize);

impl SettleOnce {
  fn settle(mut self, out: Answers) {
    if let Some(done) = self.0.take() {
      done(out);
    }
  }
}

impl Drop for SettleOnce {
  fn drop(&mut self) {
    if let Some(done) = self.0.take() {
      let e = Error::new(ErrorKind::Internal, "internal error in resilis: a batch ended without its replies");
      done(Answers::all((0..self.1).map(|_| Err(e.clone())).collect(), Served::UNROUTED));
    }
  }
}

impl Outbound for InFlight {
  fn redis(&self) -> impl Iterator<Item = &Command> {
    redis_part(&self.plan, &self.cmds)
  }

  fn complete(self, results: Vec<Result<Reply>>) {
    let InFlight { service, plan, cmds, near, tickets, done } = self;
    // Redis' own replies (never a fallback's answer) under their tickets.
    if let Some(n) = &near {
      for (ticket, result) in tickets.into_iter().zip(&results) {
        if let (Some(t), Ok(reply)) = (ticket, result) {
          n.store(t, reply);
        }
      }
    }
    let (mut out, trouble) = service.resilience.finish(plan, &cmds, results);
    service.values.decode(&cmds, &mut out.replies);
    done.settle(out);
    service.after_batch(trouble);
  }
}

#[cfg(test)]
#[path = "route_tests.rs"]
mod route_tests;
