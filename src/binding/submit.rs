//! `submit(text, ints, n, others)`: the one call a tick's commands make
//! into Rust (lib/dispatcher.js `flushBatch`), as a bare function: its
//! arguments are read with raw napi calls, no class unwrap and no borrow
//! bookkeeping (see bare_fn.rs).

use std::ffi::c_void;
use std::panic::AssertUnwindSafe;
use std::ptr;
use std::rc::Rc;

use napi::bindgen_prelude::{Array, FromNapiValue, ToNapiValue};
use napi::sys;

use crate::binding::bare_fn;
use crate::binding::dispatch::Dispatch;
use crate::binding::packed::Text;

/// The function as a return value of a napi-rs method.
pub struct SubmitFn(pub Rc<Dispatch>);

impl ToNapiValue for SubmitFn {
  unsafe fn to_napi_value(env: sys::napi_env, val: Self) -> napi::Result<sys::napi_value> {
    bare_fn::create(env, c"submit", submit, val.0)
  }
}

/// Throws a JS error: the dispatcher rejects every command of the batch.
unsafe fn throw(env: sys::napi_env, message: &std::ffi::CStr) -> sys::napi_value {
  sys::napi_throw_error(env, c"ERR_RESILIS_INTERNAL".as_ptr(), message.as_ptr());
  bare_fn::undefined(env)
}

unsafe extern "C" fn submit(env: sys::napi_env, info: sys::napi_callback_info) -> sys::napi_value {
  let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| submit_batch(env, info)));
  match outcome {
    Ok(Ok(())) => bare_fn::undefined(env),
    Ok(Err(message)) => throw(env, message),
    Err(_) => throw(env, c"internal error in resilis (please report it): submit panicked"),
  }
}

unsafe fn submit_batch(env: sys::napi_env, info: sys::napi_callback_info) -> Result<(), &'static std::ffi::CStr> {
  let (dispatch, [text, ints, n, others]) =
    bare_fn::call_args::<Rc<Dispatch>, 4>(env, info).ok_or(c"submit: could not read its arguments")?;
  let ints = u32_slice(env, ints).ok_or(c"submit: `ints` must be a Uint32Array")?;
  let mut count = 0u32;
  if sys::napi_get_value_uint32(env, n, &mut count) != sys::Status::napi_ok {
    return Err(c"submit: `n` must be a number");
  }
  let ints = &ints[..(count as usize).min(ints.len())];
  // Absent (`undefined`) when every argument of the tick is a short string.
  let others = match value_type(env, others) {
    sys::ValueType::napi_undefined => None,
    _ => Some(Array::from_napi_value(env, others).map_err(|_| c"submit: `others` must be an array")?),
  };
  dispatch.submit(Text::read(env, text), ints, others.as_ref());
  Ok(())
}

unsafe fn value_type(env: sys::napi_env, v: sys::napi_value) -> sys::napi_valuetype {
  let mut t = sys::ValueType::napi_undefined;
  sys::napi_typeof(env, v, &mut t);
  t
}

/// A Uint32Array's elements, borrowed for this call.
unsafe fn u32_slice<'a>(env: sys::napi_env, v: sys::napi_value) -> Option<&'a [u32]> {
  let (mut kind, mut len, mut data, mut offset) = (0, 0usize, ptr::null_mut::<c_void>(), 0usize);
  let status = sys::napi_get_typedarray_info(env, v, &mut kind, &mut len, &mut data, ptr::null_mut(), &mut offset);
  if status != sys::Status::napi_ok || kind != sys::TypedarrayType::uint32_array {
    return None;
  }
  if len == 0 || data.is_null() {
    return Some(&[]);
  }
  // SAFETY: `data` is the array's first element (napi adds the offset),
  // aligned for u32, and V8 keeps it alive while this call runs.
  Some(std::slice::from_raw_parts(data.cast::<u32>(), len))
}
