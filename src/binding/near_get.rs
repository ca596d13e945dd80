//! `nearGet(key)`: the near cache's hit path as a bare napi function. A
//! class method pays napi-rs' unwrap and borrow bookkeeping on every call;
//! this function carries the service in its callback data instead, reads
//! short keys into a stack buffer, and answers ASCII values as latin1
//! strings (a plain copy, no UTF-8 decoding).

use std::ffi::{c_char, c_void};
use std::ptr;
use std::sync::Arc;

use napi::bindgen_prelude::ToNapiValue;
use napi::sys;

use crate::binding::bare_fn;
use crate::binding::reply::reply_to_js;
use crate::core::reply::Reply;
use crate::core::service::Service;

/// Keys up to this many bytes are read without allocating.
const STACK_KEY: usize = 512;

/// Creates the function; it keeps the service alive until it is collected.
pub fn create(env: sys::napi_env, core: &Arc<Service>) -> napi::Result<sys::napi_value> {
  bare_fn::create(env, c"nearGet", near_get, core.clone())
}

unsafe extern "C" fn near_get(env: sys::napi_env, info: sys::napi_callback_info) -> sys::napi_value {
  let outcome = std::panic::catch_unwind(|| lookup(env, info));
  match outcome {
    Ok(Some(v)) => v,
    _ => bare_fn::undefined(env),
  }
}

/// `None` (-> `undefined`): a miss, or anything unexpected; the caller
/// then sends the GET as usual.
unsafe fn lookup(env: sys::napi_env, info: sys::napi_callback_info) -> Option<sys::napi_value> {
  let (service, argv) = bare_fn::call_args::<Arc<Service>, 1>(env, info)?;
  let mut stack = [0u8; STACK_KEY + 1];
  let mut len = 0usize;
  let ok = sys::napi_get_value_string_utf8(env, argv[0], stack.as_mut_ptr().cast::<c_char>(), stack.len(), &mut len);
  if ok != sys::Status::napi_ok {
    return None;
  }
  // UTF-8 is never cut inside a character: a cut string leaves at most 3
  // bytes of the buffer unused.
  let reply = if len + 4 <= STACK_KEY {
    service.near_get(&stack[..len])?
  } else {
    // Possibly truncated: read the whole key.
    let mut full = 0usize;
    sys::napi_get_value_string_utf8(env, argv[0], ptr::null_mut(), 0, &mut full);
    let mut heap = vec![0u8; full + 1];
    sys::napi_get_value_string_utf8(env, argv[0], heap.as_mut_ptr().cast::<c_char>(), heap.len(), &mut full);
    service.near_get(&heap[..full])?
  };
  match reply {
    Reply::Bytes(b) if b.is_ascii() => {
      let mut v = ptr::null_mut();
      let status = sys::napi_create_string_latin1(env, b.as_ptr().cast::<c_char>(), b.len() as isize, &mut v);
      (status == sys::Status::napi_ok).then_some(v)
    }
    Reply::Nil => napi::bindgen_prelude::Null::to_napi_value(env, napi::bindgen_prelude::Null).ok(),
    other => reply_to_js(env, other, false).ok(),
  }
}

/// The near cache's epoch as a 4-byte external ArrayBuffer (JS reads it
/// as a `Uint32Array`); it keeps the service alive until it is collected.
pub fn epoch_buffer(env: sys::napi_env, core: &Arc<Service>) -> napi::Result<sys::napi_value> {
  let Some(cell) = core.near_epoch() else {
    return unsafe { napi::bindgen_prelude::Null::to_napi_value(env, napi::bindgen_prelude::Null) };
  };
  let hint = Arc::into_raw(core.clone()) as *mut c_void;
  let mut buffer = ptr::null_mut();
  // SAFETY: the cell lives inside the service's near cache, which the
  // hint keeps alive until the buffer's finalizer runs.
  let status = unsafe {
    sys::napi_create_external_arraybuffer(
      env,
      cell.as_ptr().cast::<c_void>(),
      std::mem::size_of::<u32>(),
      Some(release_hint),
      hint,
      &mut buffer,
    )
  };
  if status != sys::Status::napi_ok {
    unsafe { drop(Arc::from_raw(hint as *const Service)) };
    return Err(napi::Error::from_reason("could not map the near cache epoch"));
  }
  Ok(buffer)
}

unsafe extern "C" fn release_hint(_env: sys::napi_env, _data: *mut c_void, hint: *mut c_void) {
  drop(Arc::from_raw(hint as *const Service));
}

/// The epoch buffer as a return value of a napi-rs method.
pub struct NearEpoch(pub Arc<Service>);

impl ToNapiValue for NearEpoch {
  unsafe fn to_napi_value(env: sys::napi_env, val: Self) -> napi::Result<sys::napi_value> {
    epoch_buffer(env, &val.0)
  }
}

/// The function as a return value of a napi-rs method.
pub struct NearGetFn(pub Arc<Service>);

impl ToNapiValue for NearGetFn {
  unsafe fn to_napi_value(env: sys::napi_env, val: Self) -> napi::Result<sys::napi_value> {
    create(env, &val.0)
  }
}
