//! Error kinds with stable codes. Every failure that reaches JS is one of
//! these; the binding maps `code()` onto `err.code`. The list also holds the
//! codes only the facade (lib/) raises, so it is the one list of them all.

use std::fmt;

/// Defines `ErrorKind` and its code table from one list.
macro_rules! error_kinds {
  ($($(#[doc = $doc:literal])* $kind:ident => $code:literal,)*) => {
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub enum ErrorKind {
      $($(#[doc = $doc])* $kind,)*
    }

    impl ErrorKind {
      /// Every kind, in the order listed.
      pub const ALL: &'static [ErrorKind] = &[$(ErrorKind::$kind,)*];

      /// The stable `err.code` JS sees.
      pub fn code(self) -> &'static str {
        match self {
          $(ErrorKind::$kind => $code,)*
        }
      }
    }
  };
}

// Every code a resilis error can carry, the core's and the facade's (lib/):
// the binding exports this list (`errorCodes()`) and a test holds
// `ResilisError['code']` in index.d.ts to it.
error_kinds! {
  /// A malformed option or environment variable.
  Config => "ERR_RESILIS_CONFIG",
  /// Could not reach Redis, or the connection was lost.
  Connection => "ERR_RESILIS_CONNECTION",
  /// No reply within the command timeout (the outcome is unknown).
  Timeout => "ERR_RESILIS_TIMEOUT",
  /// Redis answered with an error reply (WRONGTYPE, NOSCRIPT, ...).
  Reply => "ERR_RESILIS_REPLY",
  /// The service was disconnected by the user.
  Closed => "ERR_RESILIS_CLOSED",
  /// A wrong argument from the caller.
  Argument => "ERR_RESILIS_ARGUMENT",
  /// A bug inside resilis (including a caught panic).
  Internal => "ERR_RESILIS_INTERNAL",
  /// Too many commands waiting for replies: the call was not sent.
  Backpressure => "ERR_RESILIS_BACKPRESSURE",
  /// The operation's circuit breaker is open and it has no fallback.
  CircuitOpen => "ERR_RESILIS_CIRCUIT_OPEN",
  /// Redis is away and the outage journal cannot take this write (full,
  /// or the write alone is over its bound): nothing was stored anywhere.
  FallbackFull => "ERR_RESILIS_FALLBACK_FULL",
  /// The durable outage journal's path is in use by another process (or
  /// service): its lock file is held.
  JournalLocked => "ERR_RESILIS_JOURNAL_LOCKED",
  /// A command or call this service does not offer (the message names
  /// it); nothing was sent.
  Unsupported => "ERR_RESILIS_UNSUPPORTED",
  /// `withLock` (lib/patterns/locks.js): the lock stayed taken after its retries.
  Locked => "ERR_RESILIS_LOCKED",
  /// `withLock`: the reason its `signal` aborts, an extension found the lock gone.
  LockLost => "ERR_RESILIS_LOCK_LOST",
  /// `RedisPartitioningService.addNode`/`removeNode` (lib/partitioning.js)
  /// while another migration runs or is unfinished.
  Busy => "ERR_RESILIS_BUSY",
  /// A value reply carries resilis' compression header (README:
  /// Compression) but this service cannot read it: no `compression`
  /// option, or the value is corrupt. The command ran.
  Decode => "ERR_RESILIS_DECODE",
  /// The native addon for this platform is missing: thrown by the loader
  /// (binding.js), which cannot ask the addon; listed to be complete.
  NativeBinding => "ERR_RESILIS_NATIVE_BINDING",
}

/// Whether the command reached the server: `No` means it never ran,
/// `Unknown` that it may have run (timeout or connection lost after send).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sent {
  No,
  Yes,
  Unknown,
}

#[derive(Clone, Debug)]
pub struct Error {
  pub kind: ErrorKind,
  pub message: String,
  pub sent: Sent,
}

pub type Result<T> = std::result::Result<T, Error>;

const UNRUN_AFTER_PROTOCOL_ERROR: &str =
  "not run: Redis closed the connection after refusing an earlier command on it \
  with a protocol error (a value over its proto-max-bulk-len? see maxValueBytes); this command can be sent again";

impl Error {
  pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
    let sent = match kind {
      ErrorKind::Reply | ErrorKind::Decode => Sent::Yes,
      ErrorKind::Timeout => Sent::Unknown,
      _ => Sent::No,
    };
    Error { kind, message: message.into(), sent }
  }

  pub fn config(message: impl Into<String>) -> Self {
    Error::new(ErrorKind::Config, message)
  }

  pub fn argument(message: impl Into<String>) -> Self {
    Error::new(ErrorKind::Argument, message)
  }

  pub fn closed() -> Self {
    Error::new(ErrorKind::Closed, "the Redis service was disconnected; create a new service or call connect() again")
  }

  /// A command Redis never ran: it followed, on the same connection, one
  /// that Redis refused with a protocol error (it then closes the
  /// connection). Not an outage: safe to send again.
  pub fn unrun_after_protocol_error() -> Self {
    Error::new(ErrorKind::Connection, UNRUN_AFTER_PROTOCOL_ERROR).with_sent(Sent::No)
  }

  pub fn is_unrun_after_protocol_error(&self) -> bool {
    self.kind == ErrorKind::Connection && self.message == UNRUN_AFTER_PROTOCOL_ERROR
  }

  pub fn with_sent(mut self, sent: Sent) -> Self {
    self.sent = sent;
    self
  }

  pub fn code(&self) -> &'static str {
    self.kind.code()
  }
}

impl fmt::Display for Error {
  fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    write!(f, "{}: {}", self.code(), self.message)
  }
}

impl std::error::Error for Error {}

impl From<fred::error::Error> for Error {
  fn from(e: fred::error::Error) -> Self {
    use fred::error::ErrorKind as F;
    let details = e.details().to_string();
    match e.kind() {
      F::Timeout => Error::new(ErrorKind::Timeout, format!("no reply within the command timeout ({details})")),
      // fred's fail-fast check: the client was not connected, so the
      // command was never written (the only place fred says this).
      F::Canceled if details == "Connection closed unexpectedly." => {
        Error::new(ErrorKind::Connection, format!("connection to Redis failed: {details}")).with_sent(Sent::No)
      }
      F::IO | F::Canceled | F::Backpressure => {
        Error::new(ErrorKind::Connection, format!("connection to Redis failed: {details}")).with_sent(Sent::Unknown)
      }
      F::Tls => Error::new(ErrorKind::Connection, format!("TLS failure: {details}")),
      F::Auth => {
        Error::new(ErrorKind::Config, format!("authentication failed: {details}; check the username and password"))
      }
      F::Config | F::Url => Error::config(details),
      F::InvalidArgument | F::InvalidCommand => Error::argument(details),
      F::Cluster | F::Routing | F::Sentinel => Error::new(ErrorKind::Connection, details),
      F::NotFound | F::Unknown | F::Protocol | F::Parse => Error::new(ErrorKind::Reply, details),
      _ => Error::new(ErrorKind::Internal, details),
    }
  }
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn every_kind_is_listed_once_with_its_own_code() {
    let codes: std::collections::BTreeSet<&str> = ErrorKind::ALL.iter().map(|k| k.code()).collect();
    assert_eq!(codes.len(), ErrorKind::ALL.len());
    assert!(codes.iter().all(|c| c.starts_with("ERR_RESILIS_")));
  }

  #[test]
  fn codes_are_stable() {
    assert_eq!(ErrorKind::Config.code(), "ERR_RESILIS_CONFIG");
    assert_eq!(Error::closed().code(), "ERR_RESILIS_CLOSED");
    assert_eq!(Error::new(ErrorKind::Timeout, "x").sent, Sent::Unknown);
    assert_eq!(Error::argument("x").sent, Sent::No);
  }
}
