//! One batch's results collected from several nodes (and, for a split
//! multi-key command, several parts), handed to its callback once, in the
//! caller's order, when the last one is in.

use std::sync::{Arc, Mutex};

use crate::core::error::{Error, ErrorKind, Result};
use crate::core::lane::Done;
use crate::core::reply::Reply;

struct Slots {
  results: Vec<Option<Result<Reply>>>,
  missing: usize,
  done: Option<Done>,
}

pub struct Gather(Mutex<Slots>);

/// Where one command's result goes: position `idx` of a gather.
#[derive(Clone)]
pub struct Sink {
  pub gather: Arc<Gather>,
  pub idx: usize,
}

impl Gather {
  pub fn new(n: usize, done: Done) -> Arc<Gather> {
    let gather =
      Arc::new(Gather(Mutex::new(Slots { results: (0..n).map(|_| None).collect(), missing: n, done: Some(done) })));
    if n == 0 {
      gather.set_many(Vec::new());
    }
    gather
  }

  /// Fills positions (a position already filled keeps its first result);
  /// the callback runs, outside the lock, once every position is filled.
  pub fn set_many(&self, items: Vec<(usize, Result<Reply>)>) {
    let finished = {
      let mut s = match self.0.lock() {
        Ok(s) => s,
        Err(poisoned) => poisoned.into_inner(),
      };
      for (idx, r) in items {
        if let Some(slot @ None) = s.results.get_mut(idx) {
          *slot = Some(r);
          s.missing -= 1;
        }
      }
      if s.missing == 0 {
        s.done.take().map(|done| (done, std::mem::take(&mut s.results)))
      } else {
        None
      }
    };
    if let Some((done, results)) = finished {
      let lost = || Err(Error::new(ErrorKind::Internal, "a command lost its result"));
      done(results.into_iter().map(|r| r.unwrap_or_else(lost)).collect());
    }
  }
}

impl Sink {
  pub fn set(&self, r: Result<Reply>) {
    self.gather.set_many(vec![(self.idx, r)]);
  }
}

/// Settles results, one lock per run of results bound for the same gather.
pub fn settle(results: Vec<(Sink, Result<Reply>)>) {
  let mut run: Vec<(usize, Result<Reply>)> = Vec::new();
  let mut current: Option<Arc<Gather>> = None;
  for (sink, r) in results {
    if current.as_ref().is_some_and(|g| !Arc::ptr_eq(g, &sink.gather)) {
      if let Some(g) = current.take() {
        g.set_many(std::mem::take(&mut run));
      }
    }
    current.get_or_insert_with(|| sink.gather.clone());
    run.push((sink.idx, r));
  }
  if let Some(g) = current {
    g.set_many(run);
  }
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn results_arrive_in_any_order_and_settle_once_in_the_callers_order() {
    let (tx, rx) = std::sync::mpsc::channel();
    let gather = Gather::new(3, Box::new(move |r| tx.send(r).unwrap_or(())));
    let sink = |idx| Sink { gather: gather.clone(), idx };
    settle(vec![(sink(2), Ok(Reply::Int(2))), (sink(0), Ok(Reply::Int(0)))]);
    assert!(rx.try_recv().is_err(), "one result still missing");
    sink(0).set(Ok(Reply::Int(99)));
    sink(1).set(Ok(Reply::Int(1)));
    let out: Vec<Reply> = rx.try_recv().expect("settled").into_iter().map(|r| r.expect("ok")).collect();
    assert_eq!(out, vec![Reply::Int(0), Reply::Int(1), Reply::Int(2)], "the first result of a position is kept");
    sink(1).set(Ok(Reply::Int(5)));
    assert!(rx.try_recv().is_err(), "the callback runs once");
  }
}
