//! The resilience policy against a scripted transport: no server, no
//! socket. Each batch is planned, the "transport" answers with the results
//! a test scripts (a reply, an error reply, a timeout, a drop before or
//! after sending), and `finish` decides what the caller gets, what the
//! journal holds and what the breakers count. Milliseconds per test.

use std::sync::Arc;

use fred::prelude::Value;

use super::*;
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
  let plan = r.plan(cmds, |_| None);
  let sent = plan.redis_count();
  r.finish(plan, cmds, transport(sent)).0
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
  assert!(out[0].is_ok(), "the fallback did not take the write");
  assert!(r.fallback().journal_stats().journaled >= 1);
}
