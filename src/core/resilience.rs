//! The policy every batch goes through: per-operation breakers decide
//! Redis or fallback for each command; results are accounted (breakers,
//! stats, mirroring); connection failures of commands that never ran, or
//! that are safe to repeat, are answered from the fallback instead.
//!
//! "Degraded" means Redis is unreachable or a breaker just opened: every
//! command is served from memory (writes journalled) until the recovery
//! loop in the service has replayed the journal to a reachable Redis.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock, RwLock};
use std::time::Instant;

use crate::core::breaker::{operation_name, Breaker, Breakers, FailureKind, Metrics, Permit, Transition};
use crate::core::command::Command;
use crate::core::commands;
use crate::core::config::Config;
use crate::core::error::{Error, ErrorKind, Result, Sent};
use crate::core::events::{Event, EventSink, Events};
use crate::core::fallback::Fallback;
use crate::core::limits::check_size;
use crate::core::memory::MemoryStore;
use crate::core::reply::Reply;
use crate::core::served::{Answers, Served, Source};
use crate::core::stats::Stats;

/// How one command of a batch is answered.
pub enum Route {
  Redis {
    breaker: Arc<Breaker>,
    permit: Permit,
  },
  /// Answered now, and by whom.
  Served(Result<Reply>, Served),
}

/// A batch's routes, in the batch's order.
pub struct Plan {
  pub routes: Vec<Route>,
  started: Instant,
}

impl Plan {
  /// How many commands go to Redis.
  pub fn redis_count(&self) -> usize {
    self.routes.iter().filter(|r| matches!(r, Route::Redis { .. })).count()
  }
}

pub struct Resilience {
  breakers: Breakers,
  /// A table command's breaker, by its row (`commands::row`).
  by_row: Box<[OnceLock<Arc<Breaker>>]>,
  /// Any other command name (as the caller spelled it) -> its breaker.
  by_command: RwLock<HashMap<String, Arc<Breaker>>>,
  fallback: Fallback,
  pub stats: Stats,
  degraded: AtomicBool,
  events: Events,
  /// See limits.rs.
  max_value_bytes: u64,
}

impl Resilience {
  pub fn new(config: &Config, memory: Arc<MemoryStore>) -> Result<Self> {
    let journal_bytes =
      config.fallback_journal_max_bytes.unwrap_or(config.fallback_max_bytes / 2).min(usize::MAX as u64) as usize;
    let durable = config.fallback_journal.as_ref().filter(|_| config.enabled);
    let mirror = config.fallback_mirror && config.enabled;
    Ok(Resilience {
      breakers: Breakers::new(config.breaker.clone()),
      by_row: (0..commands::ROW_COUNT).map(|_| OnceLock::new()).collect(),
      by_command: RwLock::new(HashMap::new()),
      fallback: Fallback::new(memory, config.fallback_writes.clone(), journal_bytes, mirror, durable)?,
      stats: Stats::default(),
      degraded: AtomicBool::new(false),
      events: Events::default(),
      max_value_bytes: config.max_value_bytes,
    })
  }

  pub fn set_event_sink(&self, sink: EventSink) {
    self.events.set(sink);
  }

  pub fn emit(&self, event: Event) {
    self.events.emit(event);
  }

  /// The event sink, for what opens connections beside the service.
  pub fn events(&self) -> &Events {
    &self.events
  }

  pub fn max_value_bytes(&self) -> u64 {
    self.max_value_bytes
  }

  pub fn fallback(&self) -> &Fallback {
    &self.fallback
  }

  /// The breaker of `cmd`'s operation: a table command's by its row (no
  /// hashing on the call path), any other by its name.
  fn breaker(&self, cmd: &Command) -> Arc<Breaker> {
    if let Some(slot) = cmd.info().and_then(|info| self.by_row.get(commands::row(info))) {
      return slot.get_or_init(|| self.breakers.get(&operation_name(&cmd.name))).clone();
    }
    let name = cmd.name.as_ref();
    if let Some(b) = self.by_command.read().ok().and_then(|m| m.get(name).cloned()) {
      return b;
    }
    let b = self.breakers.get(&operation_name(name));
    if let Ok(mut m) = self.by_command.write() {
      m.insert(name.to_string(), b.clone());
    }
    b
  }

  pub fn metrics(&self, op: &str) -> Option<Metrics> {
    let now = Instant::now();
    self.breakers.all_metrics(now).into_iter().find(|(name, _)| name == op).map(|(_, m)| m)
  }

  pub fn all_metrics(&self) -> Vec<(String, Metrics)> {
    self.breakers.all_metrics(Instant::now())
  }

  pub fn is_degraded(&self) -> bool {
    self.degraded.load(Ordering::Acquire)
  }

  /// True when this call switched to degraded.
  pub fn enter_degraded(&self, reason: &str) -> bool {
    if self.degraded.swap(true, Ordering::AcqRel) {
      return false;
    }
    self.fallback.settle_mirror();
    // The facade prints this (lib/logger.js) from the Fallback event.
    self.emit(Event::Error { code: ErrorKind::Connection.code(), message: format!("Redis unavailable: {reason}") });
    self.emit(Event::Reconnecting { reason: reason.to_string() });
    self.emit(Event::Fallback { active: true, reason: reason.to_string() });
    true
  }

  pub fn leave_degraded(&self) {
    // The recovery probe just reached Redis: breakers opened by the outage
    // try it again at once instead of waiting out their cool-down.
    self.breakers.probe_succeeded();
    if self.degraded.swap(false, Ordering::AcqRel) {
      self.emit(Event::Fallback { active: false, reason: "Redis is reachable again".into() });
      self.emit(Event::Connect);
      self.emit(Event::Ready);
    }
  }

  fn transition(&self, name: &str, t: Option<Transition>) {
    match t {
      Some(Transition::Opened) => {
        let op = operation_name(name);
        self.emit(Event::CircuitOpen { name: op.clone() });
        self.enter_degraded(&format!("circuit {op} opened"));
      }
      Some(Transition::Closed) => self.emit(Event::CircuitClose { name: operation_name(name) }),
      _ => {}
    }
  }

  /// Serves one command from memory and counts it as a fallback.
  fn serve(&self, cmd: &Command, breaker: Option<&Breaker>) -> Result<Reply> {
    if let Some(b) = breaker {
      b.on_fallback();
    }
    self.stats.fallbacks.fetch_add(1, Ordering::Relaxed);
    let served = self.fallback.serve(cmd);
    if let Err(e) = &served {
      if e.kind == ErrorKind::FallbackFull {
        let rejected = self.fallback.journal_stats().rejected;
        self.emit(Event::FallbackFull { command: cmd.name.to_string(), message: e.message.clone(), rejected });
      }
    }
    served
  }

  /// Decides, per command and in order, Redis or an answer now (the
  /// `cached` hook, e.g. the near cache, or the fallback).
  pub fn plan(&self, cmds: &[Command], mut cached: impl FnMut(&Command) -> Option<Reply>) -> Plan {
    let now = Instant::now();
    let degraded = self.is_degraded();
    let routes = cmds
      .iter()
      .map(|cmd| {
        // Too big for Redis: refused here, before the breaker or any I/O.
        if let Err(e) = check_size(cmd, self.max_value_bytes) {
          return Route::Served(Err(e), Served::UNROUTED);
        }
        if let Some(reply) = cached(cmd) {
          return Route::Served(Ok(reply), Served::NEAR_CACHE);
        }
        let breaker = self.breaker(cmd);
        let (permit, t) = breaker.try_acquire(now);
        self.transition(&cmd.name, t);
        let fallback = Served::new(Source::Fallback, permit.state());
        if degraded {
          // Redis is known to be unreachable: the call fails fast (and
          // counts as a failure, so the breaker opens as it would had it
          // been sent), then the fallback answers it.
          if !permit.is_rejected() {
            let t = breaker.on_failure(permit, now, FailureKind::Connection);
            self.transition(&cmd.name, t);
          }
          return Route::Served(self.serve(cmd, Some(&breaker)), fallback);
        }
        if permit.is_rejected() {
          Route::Served(self.serve_or_open(cmd, &breaker), fallback)
        } else {
          Route::Redis { breaker, permit }
        }
      })
      .collect();
    Plan { routes, started: now }
  }

  fn serve_or_open(&self, cmd: &Command, breaker: &Breaker) -> Result<Reply> {
    self.serve(cmd, Some(breaker)).map_err(|e| {
      if e.kind == ErrorKind::Connection {
        Error::new(
          ErrorKind::CircuitOpen,
          format!("the circuit for {} is open and it has no fallback", operation_name(&cmd.name)),
        )
        .with_sent(Sent::No)
      } else {
        e
      }
    })
  }

  /// Puts Redis' answers (for the `Redis` routes, in order) into the
  /// batch's order, with who served each, and accounts for them. The flag
  /// says a connection-level failure was seen (the service then checks
  /// whether Redis is down).
  pub fn finish(&self, plan: Plan, cmds: &[Command], redis: Vec<Result<Reply>>) -> (Answers, bool) {
    let now = Instant::now();
    let mut redis = redis.into_iter();
    let mut trouble = false;
    let mut answered = 0u64;
    // Writes the fallback answered: journalled, so with fsync 'always'
    // they resolve only once on disk (`commit` below).
    let mut journalled: Vec<usize> = Vec::new();
    // The last write the plan already answered from the fallback (so
    // journalled ahead of any Redis-routed write before it in the batch).
    let last_served_write =
      plan.routes.iter().zip(cmds).rposition(|(route, cmd)| matches!(route, Route::Served(Ok(_), _)) && !cmd.is_read());
    let mut served = Vec::with_capacity(cmds.len());
    let mut out: Vec<Result<Reply>> = plan
      .routes
      .into_iter()
      .zip(cmds)
      .enumerate()
      .map(|(i, (route, cmd))| match route {
        Route::Served(r, by) => {
          if r.is_ok() && !cmd.is_read() {
            journalled.push(i);
          }
          served.push(by);
          r
        }
        Route::Redis { breaker, permit } => {
          let mut by = Served::new(Source::Redis, permit.state());
          let r = redis.next().unwrap_or_else(|| Err(Error::new(ErrorKind::Internal, "a command lost its result")));
          let r = match r {
            // A neighbour's protocol error closed the connection before
            // this ran: Redis is there, so no breaker, fallback or outage.
            Err(e) if e.is_unrun_after_protocol_error() => {
              breaker.release(permit);
              Err(e)
            }
            Err(e) if matches!(e.kind, ErrorKind::Timeout | ErrorKind::Connection) => {
              if !trouble {
                // Writes Redis acknowledged just before must be in the
                // fallback before it answers for Redis (the async paths
                // see the failure before the service turns degraded).
                self.fallback.settle_mirror();
              }
              trouble = true;
              let kind = if e.kind == ErrorKind::Timeout { FailureKind::Timeout } else { FailureKind::Connection };
              if kind == FailureKind::Timeout {
                self.stats.timeouts.fetch_add(1, Ordering::Relaxed);
              }
              self.stats.errors.fetch_add(1, Ordering::Relaxed);
              let t = breaker.on_failure(permit, now, kind);
              self.transition(&cmd.name, t);
              // A write behind which later writes of this batch are already
              // journalled (a half-open breaker's trial) would land after
              // them: refused as never run instead, keeping the caller's order.
              let out_of_order = !cmd.is_read() && last_served_write.is_some_and(|j| j > i);
              // Never repeat what may have run; the rest is answered locally.
              if out_of_order {
                Err(e)
              } else if e.sent == Sent::No || cmd.is_idempotent() {
                by.source = Some(Source::Fallback);
                match self.serve(cmd, Some(&breaker)) {
                  Ok(reply) => {
                    if !cmd.is_read() {
                      journalled.push(i);
                    }
                    Ok(reply)
                  }
                  // Not stored anywhere; whether Redis ran it is what the send says.
                  Err(full) if full.kind == ErrorKind::FallbackFull => Err(full.with_sent(e.sent)),
                  // No fallback for it: Redis' failure is the answer.
                  Err(_) => {
                    by.source = Some(Source::Redis);
                    Err(e)
                  }
                }
              } else {
                Err(e)
              }
            }
            other => {
              answered += 1;
              if other.is_err() {
                self.stats.errors.fetch_add(1, Ordering::Relaxed);
              }
              let t = breaker.on_success(permit, now);
              self.transition(&cmd.name, t);
              self.fallback.mirror(cmd, &other);
              other
            }
          };
          served.push(by);
          r
        }
      })
      .collect();
    if answered > 0 {
      self.stats.record_batch(answered, now.saturating_duration_since(plan.started));
    }
    if !journalled.is_empty() {
      if let Err(e) = self.fallback.commit() {
        // Not on disk: the fallback's writes of this batch are not acknowledged.
        for i in journalled {
          out[i] = Err(e.clone());
        }
      }
    }
    (Answers { replies: out, served }, trouble)
  }
}

#[cfg(test)]
#[path = "resilience_tests.rs"]
mod tests;
