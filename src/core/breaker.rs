//! Per-operation circuit breakers (`redis-get`, `redis-set`, ...), after
//! opossum/cockatiel: Closed until the failure rate in a rolling window
//! reaches the threshold (after a minimum volume); Open (calls rejected, the
//! caller serves the fallback) for `reset_timeout`; then HalfOpen: a few
//! trial calls, whose successes close it and any failure re-opens it.
//!
//! Only timeouts and connection failures are failures: a Redis error reply
//! (WRONGTYPE, OOM, ...) means the server answered, report it as a success.
//! Every permit but `Rejected` and `Busy` is settled once: `on_success`, `on_failure`
//! or `release`. Time is passed in, so tests are deterministic. A change of
//! state is returned once, by the call that made it, so the caller emits
//! `circuitOpen` / `circuitClose` exactly once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::{Duration, Instant};

#[derive(Clone, Debug, PartialEq)]
pub struct BreakerConfig {
  /// Failure rate (percent) in the window at or above which it opens.
  pub error_threshold_percentage: f64,
  /// Minimum finished calls in the window before it may open.
  pub volume_threshold: u32,
  /// Length of the rolling window.
  pub rolling_window: Duration,
  /// How many buckets the window is counted in.
  pub rolling_buckets: u32,
  /// Cool-down while Open before trial calls are let through.
  pub reset_timeout: Duration,
  /// Trial calls allowed at the same time while HalfOpen.
  pub half_open_max_calls: u32,
  /// Trial successes needed to close.
  pub success_threshold: u32,
  /// When false the breaker only counts: it never opens.
  pub enabled: bool,
}

impl Default for BreakerConfig {
  fn default() -> Self {
    BreakerConfig {
      error_threshold_percentage: 50.0,
      volume_threshold: 5,
      rolling_window: Duration::from_secs(10),
      rolling_buckets: 10,
      reset_timeout: Duration::from_secs(30),
      half_open_max_calls: 1,
      success_threshold: 1,
      enabled: true,
    }
  }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum State {
  #[default]
  Closed,
  Open,
  HalfOpen,
}

impl State {
  /// The name JS sees in `getMetrics(...).state`.
  pub fn as_str(self) -> &'static str {
    match self {
      State::Closed => "closed",
      State::Open => "open",
      State::HalfOpen => "half-open",
    }
  }
}

/// A change of state, returned once by the call that caused it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transition {
  /// Closed or HalfOpen -> Open: emit `circuitOpen`.
  Opened,
  /// Open -> HalfOpen (the cool-down is over, a trial is let through).
  HalfOpened,
  /// HalfOpen -> Closed: emit `circuitClose`.
  Closed,
}

/// What `try_acquire` grants. `cycle` ties it to the state it was granted
/// in: a late outcome from an earlier state is counted, nothing more.
#[must_use]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Permit {
  /// Closed (or disabled): send the command.
  Allowed { cycle: u64 },
  /// HalfOpen: send the command as a trial.
  Trial { cycle: u64 },
  /// Open: do not send; serve from the fallback.
  Rejected,
  /// HalfOpen with every trial slot taken: do not send; serve from the fallback.
  Busy,
}

impl Permit {
  pub fn is_rejected(self) -> bool {
    matches!(self, Permit::Rejected | Permit::Busy)
  }

  /// The state the breaker was in when it granted this permit.
  pub fn state(self) -> State {
    match self {
      Permit::Allowed { .. } => State::Closed,
      Permit::Trial { .. } | Permit::Busy => State::HalfOpen,
      Permit::Rejected => State::Open,
    }
  }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailureKind {
  Timeout,
  Connection,
}

/// Lifetime counters of one breaker. `requests` counts every
/// `try_acquire`, rejected ones included.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Metrics {
  pub state: State,
  pub requests: u64,
  pub failures: u64,
  pub successes: u64,
  pub rejects: u64,
  pub timeouts: u64,
  pub fallbacks: u64,
}

#[derive(Clone, Copy, Default)]
struct Bucket {
  epoch: u64,
  calls: u32,
  failures: u32,
}

enum Mode {
  Closed,
  Open { since: Instant },
  HalfOpen { in_flight: u32, successes: u32 },
}

struct Inner {
  mode: Mode,
  /// Bumped on every transition; permits of an older cycle are stale.
  cycle: u64,
  /// Bucket epochs count from the first outcome seen.
  origin: Option<Instant>,
  buckets: Vec<Bucket>,
  m: Metrics,
}

/// One breaker: a mutex over a few words, one lock per call, no allocation.
pub struct Breaker {
  config: BreakerConfig,
  bucket_nanos: u128,
  inner: Mutex<Inner>,
}

impl Breaker {
  pub fn new(config: BreakerConfig) -> Self {
    let n = config.rolling_buckets.max(1);
    let bucket_nanos = (config.rolling_window.as_nanos() / n as u128).max(1);
    let buckets = vec![Bucket::default(); n as usize];
    let inner = Inner { mode: Mode::Closed, cycle: 0, origin: None, buckets, m: Metrics::default() };
    Breaker { config, bucket_nanos, inner: Mutex::new(inner) }
  }

  fn lock(&self) -> MutexGuard<'_, Inner> {
    // Nothing panics while holding the lock; a poisoned one is still sound.
    self.inner.lock().unwrap_or_else(|e| e.into_inner())
  }

  /// Asks to send one call. Returns the permit and, when this call moved the
  /// breaker from Open to HalfOpen, that transition.
  pub fn try_acquire(&self, now: Instant) -> (Permit, Option<Transition>) {
    let mut g = self.lock();
    let st = &mut *g;
    st.m.requests += 1;
    if !self.config.enabled {
      return (Permit::Allowed { cycle: st.cycle }, None);
    }
    let mut transition = None;
    if let Mode::Open { since } = st.mode {
      if now.saturating_duration_since(since) < self.config.reset_timeout {
        st.m.rejects += 1;
        return (Permit::Rejected, None);
      }
      st.mode = Mode::HalfOpen { in_flight: 0, successes: 0 };
      st.cycle += 1;
      transition = Some(Transition::HalfOpened);
    }
    match &mut st.mode {
      Mode::Closed => (Permit::Allowed { cycle: st.cycle }, None),
      Mode::HalfOpen { in_flight, .. } if *in_flight < self.config.half_open_max_calls.max(1) => {
        *in_flight += 1;
        (Permit::Trial { cycle: st.cycle }, transition)
      }
      _ => {
        st.m.rejects += 1;
        (Permit::Busy, transition)
      }
    }
  }

  /// Outside evidence that the dependency is back (a probe answered): an
  /// Open breaker skips the rest of its cool-down and lets trials through.
  pub fn probe_succeeded(&self) -> Option<Transition> {
    let mut g = self.lock();
    let st = &mut *g;
    if let Mode::Open { .. } = st.mode {
      st.mode = Mode::HalfOpen { in_flight: 0, successes: 0 };
      st.cycle += 1;
      return Some(Transition::HalfOpened);
    }
    None
  }

  /// The call got an answer (a Redis error reply included).
  pub fn on_success(&self, permit: Permit, now: Instant) -> Option<Transition> {
    self.settle(permit, now, None)
  }

  /// The call timed out or its connection failed.
  pub fn on_failure(&self, permit: Permit, now: Instant, kind: FailureKind) -> Option<Transition> {
    self.settle(permit, now, Some(kind))
  }

  fn settle(&self, permit: Permit, now: Instant, failure: Option<FailureKind>) -> Option<Transition> {
    let (trial, cycle) = match permit {
      Permit::Rejected | Permit::Busy => return None,
      Permit::Allowed { cycle } => (false, cycle),
      Permit::Trial { cycle } => (true, cycle),
    };
    let mut g = self.lock();
    let st = &mut *g;
    match failure {
      None => st.m.successes += 1,
      Some(kind) => {
        st.m.failures += 1;
        st.m.timeouts += (kind == FailureKind::Timeout) as u64;
      }
    }
    if cycle != st.cycle || !self.config.enabled {
      return None;
    }
    // Same cycle: an Allowed permit finds the breaker Closed, a Trial HalfOpen.
    let next = if !trial {
      self.record(st, now, failure.is_some()).then_some(Transition::Opened)
    } else if let Mode::HalfOpen { in_flight, successes } = &mut st.mode {
      *in_flight = in_flight.saturating_sub(1);
      *successes += failure.is_none() as u32;
      match failure {
        Some(_) => Some(Transition::Opened),
        None => (*successes >= self.config.success_threshold.max(1)).then_some(Transition::Closed),
      }
    } else {
      None
    };
    match next? {
      Transition::Opened => st.mode = Mode::Open { since: now },
      _ => {
        st.mode = Mode::Closed;
        st.buckets.fill(Bucket::default());
      }
    }
    st.cycle += 1;
    next
  }

  /// Settles a permit whose outcome says nothing about Redis (cancelled,
  /// bad argument): frees a trial slot, counts nothing.
  pub fn release(&self, permit: Permit) {
    let mut g = self.lock();
    let st = &mut *g;
    if let (Permit::Trial { cycle }, Mode::HalfOpen { in_flight, .. }) = (permit, &mut st.mode) {
      if cycle == st.cycle {
        *in_flight = in_flight.saturating_sub(1);
      }
    }
  }

  /// A call was served from the fallback.
  pub fn on_fallback(&self) {
    self.lock().m.fallbacks += 1;
  }

  /// The state at `now` (Open reads as HalfOpen once the cool-down is over).
  pub fn state(&self, now: Instant) -> State {
    self.state_of(&self.lock(), now)
  }

  pub fn metrics(&self, now: Instant) -> Metrics {
    let g = self.lock();
    Metrics { state: self.state_of(&g, now), ..g.m }
  }

  fn state_of(&self, st: &Inner, now: Instant) -> State {
    match st.mode {
      Mode::Closed => State::Closed,
      Mode::HalfOpen { .. } => State::HalfOpen,
      Mode::Open { since } if now.saturating_duration_since(since) >= self.config.reset_timeout => State::HalfOpen,
      Mode::Open { .. } => State::Open,
    }
  }

  /// Counts one outcome in the window; true when the breaker must open.
  fn record(&self, st: &mut Inner, now: Instant, failed: bool) -> bool {
    let origin = *st.origin.get_or_insert(now);
    let epoch = (now.saturating_duration_since(origin).as_nanos() / self.bucket_nanos) as u64;
    let n = st.buckets.len() as u64;
    let b = &mut st.buckets[(epoch % n) as usize];
    if b.epoch != epoch {
      *b = Bucket { epoch, calls: 0, failures: 0 };
    }
    b.calls = b.calls.saturating_add(1);
    b.failures = b.failures.saturating_add(failed as u32);
    if !failed {
      return false;
    }
    let (mut calls, mut failures) = (0u64, 0u64);
    for b in st.buckets.iter().filter(|b| b.epoch <= epoch && b.epoch + n > epoch) {
      calls += b.calls as u64;
      failures += b.failures as u64;
    }
    calls >= self.config.volume_threshold as u64
      && failures as f64 * 100.0 >= self.config.error_threshold_percentage * calls as f64
  }
}

/// `GET` -> `redis-get`.
pub fn operation_name(command_name: &str) -> String {
  format!("redis-{}", command_name.to_ascii_lowercase())
}

/// The breakers by operation name, created on first use.
pub struct Breakers {
  config: BreakerConfig,
  map: RwLock<HashMap<String, Arc<Breaker>>>,
}

impl Breakers {
  pub fn new(config: BreakerConfig) -> Self {
    Breakers { config, map: RwLock::new(HashMap::new()) }
  }

  pub fn get(&self, op: &str) -> Arc<Breaker> {
    if let Some(b) = self.map.read().unwrap_or_else(|e| e.into_inner()).get(op) {
      return b.clone();
    }
    let mut w = self.map.write().unwrap_or_else(|e| e.into_inner());
    w.entry(op.to_string()).or_insert_with(|| Arc::new(Breaker::new(self.config.clone()))).clone()
  }

  /// Metrics of every breaker created so far, sorted by name.
  pub fn all_metrics(&self, now: Instant) -> Vec<(String, Metrics)> {
    let r = self.map.read().unwrap_or_else(|e| e.into_inner());
    let mut v: Vec<_> = r.iter().map(|(k, b)| (k.clone(), b.metrics(now))).collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
  }

  /// True when some breaker is not Closed (Open or HalfOpen).
  /// `probe_succeeded` on every breaker.
  pub fn probe_succeeded(&self) {
    let all: Vec<Arc<Breaker>> = match self.map.read() {
      Ok(m) => m.values().cloned().collect(),
      Err(e) => e.into_inner().values().cloned().collect(),
    };
    for b in all {
      let _ = b.probe_succeeded();
    }
  }

  pub fn any_open(&self, now: Instant) -> bool {
    self.map.read().unwrap_or_else(|e| e.into_inner()).values().any(|b| b.state(now) != State::Closed)
  }
}

#[cfg(test)]
mod tests {
  use super::*;

  const S: Duration = Duration::from_secs(1);
  const C: FailureKind = FailureKind::Connection;

  fn ok(b: &Breaker, t: Instant) -> Option<Transition> {
    let (p, _) = b.try_acquire(t);
    b.on_success(p, t)
  }

  fn fail(b: &Breaker, t: Instant) -> Option<Transition> {
    let (p, _) = b.try_acquire(t);
    b.on_failure(p, t, C)
  }

  /// A default breaker opened by 5 failures at the returned instant.
  fn opened(cfg: BreakerConfig) -> (Breaker, Instant) {
    let (b, t) = (Breaker::new(cfg), Instant::now());
    let seen: Vec<_> = (0..5).filter_map(|_| fail(&b, t)).collect();
    assert_eq!(seen, vec![Transition::Opened]);
    (b, t)
  }

  #[test]
  fn opens_at_threshold_only_after_volume() {
    let (b, t) = (Breaker::new(BreakerConfig::default()), Instant::now());
    for _ in 0..4 {
      assert_eq!(fail(&b, t), None); // 100 % but below the volume of 5
    }
    assert_eq!(b.state(t), State::Closed);
    assert_eq!(fail(&b, t), Some(Transition::Opened));
    assert_eq!(b.state(t), State::Open);

    let (b, t) = (Breaker::new(BreakerConfig::default()), Instant::now());
    (0..6).for_each(|_| assert_eq!(ok(&b, t), None));
    (0..5).for_each(|_| assert_eq!(fail(&b, t), None)); // 5 of 11 < 50 %
    assert_eq!(fail(&b, t), Some(Transition::Opened)); // 6 of 12
  }

  #[test]
  fn old_buckets_roll_out() {
    let (b, t) = (Breaker::new(BreakerConfig::default()), Instant::now());
    (0..4).for_each(|_| assert_eq!(fail(&b, t), None));
    // 11 s later those four are out of the 10 s window.
    let later = t + 11 * S;
    (0..4).for_each(|_| assert_eq!(fail(&b, later), None));
    assert_eq!(b.state(later), State::Closed);
    assert_eq!(fail(&b, later + S), Some(Transition::Opened));
  }

  #[test]
  fn rejects_while_open() {
    let (b, t) = opened(BreakerConfig::default());
    for i in 0..3 {
      assert_eq!(b.try_acquire(t + i * 10 * S), (Permit::Rejected, None));
    }
    assert!(b.try_acquire(t).0.is_rejected());
    assert_eq!(b.metrics(t).rejects, 4);
  }

  #[test]
  fn half_open_allows_max_trials() {
    let (b, t0) = opened(BreakerConfig { half_open_max_calls: 2, ..Default::default() });
    let t = t0 + 30 * S;
    assert_eq!(b.state(t), State::HalfOpen);
    let (p1, tr) = b.try_acquire(t);
    assert!(matches!(p1, Permit::Trial { .. }) && tr == Some(Transition::HalfOpened));
    let (p2, tr) = b.try_acquire(t);
    assert!(matches!(p2, Permit::Trial { .. }) && tr.is_none());
    assert_eq!(b.try_acquire(t), (Permit::Busy, None));
    assert_eq!(Permit::Busy.state(), State::HalfOpen);
    b.release(p2);
    assert!(matches!(b.try_acquire(t).0, Permit::Trial { .. }));
    assert!(b.try_acquire(t).0.is_rejected());
  }

  #[test]
  fn trial_successes_close_and_reset_the_window() {
    let (b, t0) = opened(BreakerConfig { success_threshold: 2, ..Default::default() });
    let t = t0 + 30 * S;
    assert_eq!(ok(&b, t), None);
    assert_eq!(b.state(t), State::HalfOpen);
    assert_eq!(ok(&b, t), Some(Transition::Closed));
    assert_eq!(b.state(t), State::Closed);
    (0..4).for_each(|_| assert_eq!(fail(&b, t), None));
    assert_eq!(fail(&b, t), Some(Transition::Opened));
  }

  #[test]
  fn trial_failure_reopens_and_restarts_cooldown() {
    let (b, t0) = opened(BreakerConfig::default());
    let t = t0 + 30 * S;
    let (p, _) = b.try_acquire(t);
    assert_eq!(b.on_failure(p, t, FailureKind::Timeout), Some(Transition::Opened));
    assert_eq!(b.state(t + 29 * S), State::Open);
    assert_eq!(b.try_acquire(t + 29 * S).0, Permit::Rejected);
    assert_eq!(b.state(t + 30 * S), State::HalfOpen);
  }

  #[test]
  fn stale_permits_do_not_transition() {
    let (b, t0) = (Breaker::new(BreakerConfig::default()), Instant::now());
    let (late, _) = b.try_acquire(t0);
    for _ in 0..5 {
      fail(&b, t0);
    }
    let t = t0 + 30 * S;
    let (trial, _) = b.try_acquire(t);
    assert_eq!(b.on_failure(late, t, C), None); // from the Closed period
    assert_eq!(b.state(t), State::HalfOpen);
    assert_eq!(b.on_success(trial, t), Some(Transition::Closed));
    assert_eq!(b.on_success(trial, t), None);
    assert_eq!(b.metrics(t).failures, 6);
  }

  #[test]
  fn metrics_count() {
    let (b, t) = (Breaker::new(BreakerConfig::default()), Instant::now());
    ok(&b, t);
    ok(&b, t);
    let (p, _) = b.try_acquire(t);
    b.on_failure(p, t, FailureKind::Timeout);
    fail(&b, t);
    b.on_fallback();
    let want =
      Metrics { state: State::Closed, requests: 4, failures: 2, successes: 2, rejects: 0, timeouts: 1, fallbacks: 1 };
    assert_eq!(b.metrics(t), want);
    assert_eq!(State::HalfOpen.as_str(), "half-open");
  }

  #[test]
  fn transitions_reported_once() {
    let (b, t0) = (Breaker::new(BreakerConfig::default()), Instant::now());
    let mut seen = Vec::new();
    let mut permits = Vec::new();
    for _ in 0..8 {
      let (p, tr) = b.try_acquire(t0);
      seen.extend(tr);
      permits.push(p);
    }
    permits.into_iter().for_each(|p| seen.extend(b.on_failure(p, t0, C)));
    for _ in 0..3 {
      let (p, tr) = b.try_acquire(t0 + 30 * S);
      seen.extend(tr);
      seen.extend(b.on_success(p, t0 + 30 * S));
    }
    assert_eq!(seen, vec![Transition::Opened, Transition::HalfOpened, Transition::Closed]);
  }

  #[test]
  fn disabled_never_opens() {
    let (b, t) = (Breaker::new(BreakerConfig { enabled: false, ..Default::default() }), Instant::now());
    (0..100).for_each(|_| assert_eq!(fail(&b, t), None));
    assert_eq!(b.state(t), State::Closed);
    assert_eq!(b.metrics(t).failures, 100);
  }

  #[test]
  fn registry_by_operation() {
    assert_eq!(operation_name("GET"), "redis-get");
    let (r, t) = (Arc::new(Breakers::new(BreakerConfig::default())), Instant::now());
    let hs: Vec<_> =
      (0..4).map(|_| (r.clone(), t)).map(|(r, t)| std::thread::spawn(move || ok(&r.get("redis-get"), t))).collect();
    hs.into_iter().for_each(|h| assert!(h.join().is_ok()));
    assert!(Arc::ptr_eq(&r.get("redis-get"), &r.get("redis-get")));
    assert!(!r.any_open(t));
    for _ in 0..5 {
      fail(&r.get("redis-set"), t);
    }
    assert!(r.any_open(t));
    let all = r.all_metrics(t);
    assert_eq!(all.len(), 2);
    assert_eq!((all[0].0.as_str(), all[0].1.successes), ("redis-get", 4));
    assert_eq!((all[1].0.as_str(), all[1].1.state), ("redis-set", State::Open));
  }

  #[test]
  fn a_successful_probe_skips_the_cool_down() {
    let cfg =
      BreakerConfig { volume_threshold: 1, reset_timeout: Duration::from_secs(3600), ..BreakerConfig::default() };
    let b = Breaker::new(cfg);
    let now = Instant::now();
    let (p, _) = b.try_acquire(now);
    assert_eq!(b.on_failure(p, now, FailureKind::Connection), Some(Transition::Opened));
    assert!(b.try_acquire(now).0.is_rejected());
    assert_eq!(b.probe_succeeded(), Some(Transition::HalfOpened));
    let (trial, _) = b.try_acquire(now);
    assert!(matches!(trial, Permit::Trial { .. }));
    assert_eq!(b.on_success(trial, now), Some(Transition::Closed));
    assert_eq!(b.probe_succeeded(), None);
  }
}
