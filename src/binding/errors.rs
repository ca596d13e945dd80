//! Core errors -> JS. Top-level failures travel as `[code, message, sent]`
//! and become typed Error subclasses in lib/errors.js; errors nested inside
//! a reply (EXEC, pipelines) are created here as real Error objects.

use napi::bindgen_prelude::ToNapiValue;
use napi::sys;

use crate::core::error::{Error, Sent};

pub fn sent_label(sent: Sent) -> &'static str {
  match sent {
    Sent::No => "no",
    Sent::Yes => "yes",
    Sent::Unknown => "unknown",
  }
}

/// `[code, message, sent]`: cheap to build, the facade makes the Error.
pub struct ErrorTriple(pub Error);

impl ToNapiValue for ErrorTriple {
  unsafe fn to_napi_value(env: sys::napi_env, val: Self) -> napi::Result<sys::napi_value> {
    let e = val.0;
    let items = vec![e.code().to_string(), e.message, sent_label(e.sent).to_string()];
    Vec::<String>::to_napi_value(env, items)
  }
}

/// A JS `Error` with `code` set, for errors nested inside replies.
pub unsafe fn js_error(env: sys::napi_env, code: &str, message: &str) -> napi::Result<sys::napi_value> {
  let code = <&str>::to_napi_value(env, code)?;
  let msg = <&str>::to_napi_value(env, message)?;
  let mut out = std::ptr::null_mut();
  napi::check_status!(sys::napi_create_error(env, code, msg, &mut out))?;
  Ok(out)
}
