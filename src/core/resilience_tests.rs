//! The resilience policy against a scripted transport: no server, no
//! socket. Each batch is planned, the "transport" answers with the results
//! a test scripts (a reply, an error reply, a timeout, a drop before or
//! after sending), and `finish` decides what the caller gets, what the
//! journal holds and what the breakers count. Milliseconds per test.

use std::sync::Arc;

use fred::prelude::Value;

use super::*;
use crate::core::breaker::State;
use crate::core::config::Config;
use crate::core::error::{Error, ErrorKind, Sent};
use crate::core::memory::MemoryStore;

fn cmd(name: &str, args: &[&str]) -> Command {
  Command::new(name.to_string(), args.iter().map(|a| Value::from(*a)).collect())
}

fn policy() -> Resilience {
  match Resilience::new(&Config::default(), Arc::new(MemoryStore::new(1 << 20, None))) {
    Ok(r) => r,
    Err(e) => panic!("{e}"),
  }
}

/// One batch through the policy; `transport` answers the commands the plan
/// sends to Redis (it is told how many).
fn run(r: &Resilience, cmds: &[Command], transport: impl FnOnce(usize) -> Vec<Result<Reply>>) -> Vec<Result<Reply>> {
  answer(r, cmds, transport).replies
}

/// `run`, with who served each command.
fn answer(r: &Resilience, cmds: &[Command], transport: impl FnOnce(usize) -> Vec<Result<Reply>>) -> Answers {
  let plan = r.plan(cmds, |_| None);
  let sent = plan.redis_count();
  r.finish(plan, cmds, transport(sent)).0
}

fn timeouts(n: usize) -> Vec<Result<Reply>> {
  (0..n).map(|_| Err(Error::new(ErrorKind::Timeout, "no reply within the command timeout"))).collect()
}

fn lost(sent: Sent) -> Result<Reply> {
  Err(Error::new(ErrorKind::Connection, "the connection to Redis was lost").with_sent(sent))
}

#[test]
fn an_answer_is_passed_through_and_nothing_is_journalled() {
  let r = policy();
  let out = run(&r, &[cmd("set", &["k", "v"]), cmd("get", &["k"])], |n| {
    assert_eq!(n, 2);
    vec![Ok(Reply::ok()), Ok(Reply::from_str("v"))]
  });
  assert!(matches!(&out[0], Ok(reply) if *reply == Reply::ok()));
  assert_eq!(r.fallback().journal_stats().journaled, 0);
  assert!(!r.is_degraded());
}

#[test]
fn an_error_reply_is_the_callers_answer_not_an_outage() {
  let r = policy();
  for _ in 0..20 {
    let out = run(&r, &[cmd("incr", &["k"])], |_| {
      vec![Err(Error::new(ErrorKind::Reply, "WRONGTYPE Operation against a key holding the wrong kind of value"))]
    });
    assert!(matches!(&out[0], Err(e) if e.kind == ErrorKind::Reply));
  }
  // Twenty error replies: the breaker stays closed, nothing was journalled.
  let plan = r.plan(&[cmd("incr", &["k"])], |_| None);
  assert_eq!(plan.redis_count(), 1, "an error reply opened the breaker");
  r.finish(plan, &[cmd("incr", &["k"])], vec![Ok(Reply::Int(1))]);
  assert_eq!(r.fallback().journal_stats().journaled, 0);
}

#[test]
fn a_write_never_sent_is_journalled_and_acknowledged() {
  let r = policy();
  let out = run(&r, &[cmd("rpush", &["list", "a"])], |_| vec![lost(Sent::No)]);
  assert!(out[0].is_ok(), "{:?}", out[0].as_ref().err().map(|e| &e.message));
  let journal = r.fallback().journal_stats();
  assert_eq!((journal.journaled, journal.pending, journal.dropped), (1, 1, 0));
}

#[test]
fn a_write_dropped_after_sending_is_rejected_as_unknown_and_not_journalled() {
  let r = policy();
  let out = run(&r, &[cmd("incr", &["counter"])], |_| vec![lost(Sent::Unknown)]);
  match &out[0] {
    Err(e) => assert_eq!((e.kind, e.sent), (ErrorKind::Connection, Sent::Unknown), "{}", e.message),
    Ok(reply) => panic!("an INCR that may have run was acknowledged: {reply:?}"),
  }
  assert_eq!(r.fallback().journal_stats().journaled, 0, "it could run twice on replay");
}

#[test]
fn timeouts_open_the_breaker_and_later_calls_are_served_without_redis() {
  let r = policy();
  for _ in 0..5 {
    run(&r, &[cmd("set", &["k", "v"])], |n| {
      (0..n).map(|_| Err(Error::new(ErrorKind::Timeout, "no reply within the command timeout"))).collect()
    });
  }
  let plan = r.plan(&[cmd("set", &["k", "v2"])], |_| None);
  assert_eq!(plan.redis_count(), 0, "the breaker did not open after 5 timeouts");
  let (out, _) = r.finish(plan, &[cmd("set", &["k", "v2"])], Vec::new());
  assert!(out.replies[0].is_ok(), "the fallback did not take the write");
  assert_eq!(out.served, vec![Served::new(Source::Fallback, State::Open)]);
  assert!(r.fallback().journal_stats().journaled >= 1);
}

const REDIS_CLOSED: Served = Served { source: Some(Source::Redis), breaker: Some(State::Closed) };

#[test]
fn served_by_redis_with_the_breaker_closed() {
  let r = policy();
  let out = answer(&r, &[cmd("set", &["k", "v"]), cmd("incr", &["k"])], |_| {
    vec![Ok(Reply::ok()), Err(Error::new(ErrorKind::Reply, "ERR value is not an integer or out of range"))]
  });
  assert_eq!(out.served, vec![REDIS_CLOSED, REDIS_CLOSED], "an error reply is Redis' answer too");
}

#[test]
fn a_near_cache_hit_is_served_without_a_breaker() {
  let r = policy();
  let cmds = [cmd("get", &["cached"]), cmd("get", &["k"])];
  let plan = r.plan(&cmds, |c| (c.args[0] == Value::from("cached")).then(|| Reply::from_str("near")));
  let (out, _) = r.finish(plan, &cmds, vec![Ok(Reply::Nil)]);
  assert_eq!(out.served, vec![Served::NEAR_CACHE, REDIS_CLOSED]);
}

#[test]
fn a_never_sent_write_and_a_timed_out_read_are_served_by_the_fallback_while_not_degraded() {
  let r = policy();
  let out =
    answer(&r, &[cmd("rpush", &["list", "a"]), cmd("get", &["k"])], |_| vec![lost(Sent::No), timeouts(1).remove(0)]);
  assert!(out.replies.iter().all(|x| x.is_ok()));
  assert!(!r.is_degraded(), "one failure opens nothing");
  assert_eq!(out.served, vec![Served::new(Source::Fallback, State::Closed); 2]);
  // A write that may have run is nobody's to answer but Redis'.
  let out = answer(&r, &[cmd("incr", &["counter"])], |_| vec![lost(Sent::Unknown)]);
  assert!(out.replies[0].is_err());
  assert_eq!(out.served, vec![REDIS_CLOSED]);
}

#[test]
fn an_open_breaker_routes_to_the_fallback_while_the_service_is_not_degraded() {
  let r = policy();
  for _ in 0..5 {
    run(&r, &[cmd("get", &["k"])], timeouts);
  }
  assert!(r.is_degraded(), "the breaker opened and degraded the service");
  // The window between a breaker opening and the service leaving degraded
  // mode on the recovery loop's probe, seen from the breaker's side.
  r.degraded.store(false, Ordering::Release);
  let out = answer(&r, &[cmd("get", &["k"]), cmd("set", &["k", "v"])], |n| {
    assert_eq!(n, 1, "only the SET goes to Redis");
    vec![Ok(Reply::ok())]
  });
  assert_eq!(out.served, vec![Served::new(Source::Fallback, State::Open), REDIS_CLOSED]);
}

#[test]
fn a_half_open_trial_is_served_by_redis_and_the_calls_beside_it_by_the_fallback() {
  let r = policy();
  for _ in 0..5 {
    run(&r, &[cmd("get", &["k"])], timeouts);
  }
  // The recovery probe answered: open breakers let trials through.
  r.leave_degraded();
  let out = answer(&r, &[cmd("get", &["k"]), cmd("get", &["k"])], |n| {
    assert_eq!(n, 1, "one trial at a time");
    vec![Ok(Reply::Nil)]
  });
  let half_open = |source| Served::new(source, State::HalfOpen);
  assert_eq!(out.served, vec![half_open(Source::Redis), half_open(Source::Fallback)]);
  // The trial's success closed it.
  assert_eq!(answer(&r, &[cmd("get", &["k"])], |_| vec![Ok(Reply::Nil)]).served, vec![REDIS_CLOSED]);
}
