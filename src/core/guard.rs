//! Panics inside the core's tasks become `Internal` errors that settle
//! their callers, never a lost promise or an abort of Node.

use std::future::Future;
use std::panic::AssertUnwindSafe;

use futures::FutureExt;

use crate::core::error::{Error, ErrorKind};

pub fn panic_error(payload: Box<dyn std::any::Any + Send>) -> Error {
  let what = payload
    .downcast_ref::<&str>()
    .map(|s| s.to_string())
    .or_else(|| payload.downcast_ref::<String>().cloned())
    .unwrap_or_else(|| "unknown panic".into());
  Error::new(ErrorKind::Internal, format!("internal error in resilis (please report it): {what}"))
}

/// Runs `fut`; a panic inside becomes an `Internal` error result.
pub async fn guarded<T>(fut: impl Future<Output = Result<T, Error>>) -> Result<T, Error> {
  match AssertUnwindSafe(fut).catch_unwind().await {
    Ok(r) => r,
    Err(payload) => Err(panic_error(payload)),
  }
}
