//! Who answered each command of a batch, and the state of the breaker that
//! routed it: what tracing and the audit hook report per command
//! (lib/observe.js `source`, `breakerState`). The policy (resilience.rs)
//! knows it per command; the service hands it to the batch's callback with
//! the replies.

use crate::core::breaker::State;
use crate::core::error::Result;
use crate::core::reply::Reply;

/// Who answered a command (its reply or its error).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
  /// Redis: a reply, an error reply, or a failure no fallback answered.
  Redis,
  /// The in-memory fallback (a read, a journalled write, or its refusal),
  /// or the memory store in memory mode.
  Fallback,
  /// The near cache, without a round trip.
  NearCache,
}

/// One command's `source` (`None`: refused before routing: a value over
/// `maxValueBytes`, the service closed) and the state of its operation's
/// breaker when it was routed (`None`: no breaker was asked: near-cache
/// hits, memory mode, transactions).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Served {
  pub source: Option<Source>,
  pub breaker: Option<State>,
}

impl Served {
  pub const UNROUTED: Served = Served { source: None, breaker: None };
  pub const MEMORY: Served = Served { source: Some(Source::Fallback), breaker: None };
  pub const NEAR_CACHE: Served = Served { source: Some(Source::NearCache), breaker: None };
  /// Sent to Redis without a breaker (transactions).
  pub const REDIS: Served = Served { source: Some(Source::Redis), breaker: None };

  pub fn new(source: Source, breaker: State) -> Served {
    Served { source: Some(source), breaker: Some(breaker) }
  }
}

/// A batch's outcome: one reply per command, in order, and who served each.
pub struct Answers {
  pub replies: Vec<Result<Reply>>,
  pub served: Vec<Served>,
}

impl Answers {
  /// Every command served alike.
  pub fn all(replies: Vec<Result<Reply>>, served: Served) -> Answers {
    let served = vec![served; replies.len()];
    Answers { replies, served }
  }
}

/// A batch's callback at the service (`Service::submit`).
pub type Settle = Box<dyn FnOnce(Answers) + Send>;
