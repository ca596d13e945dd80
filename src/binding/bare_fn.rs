//! Bare napi functions that carry their state in the callback data. A
//! napi-rs class method pays an unwrap, a type-tag check and borrow
//! bookkeeping on every call (about 3% of the CPU of a GET at one in
//! flight, `perf`); a bare function pays none.

use std::ffi::{c_void, CStr};
use std::ptr;

use napi::sys;

pub type Callback = unsafe extern "C" fn(sys::napi_env, sys::napi_callback_info) -> sys::napi_value;

/// A JS function named `name` that calls `cb` with `state` as its data;
/// the state is dropped when the function is collected.
pub fn create<T: 'static>(env: sys::napi_env, name: &CStr, cb: Callback, state: T) -> napi::Result<sys::napi_value> {
  let data = Box::into_raw(Box::new(state)).cast::<c_void>();
  let mut func = ptr::null_mut();
  // SAFETY: `data` stays valid until the finalizer frees it.
  unsafe {
    if sys::napi_create_function(env, name.as_ptr(), -1, Some(cb), data, &mut func) != sys::Status::napi_ok
      || sys::napi_add_finalizer(env, func, data, Some(release::<T>), ptr::null_mut(), ptr::null_mut())
        != sys::Status::napi_ok
    {
      drop(Box::from_raw(data.cast::<T>()));
      return Err(napi::Error::from_reason(format!("could not create {}", name.to_string_lossy())));
    }
  }
  Ok(func)
}

unsafe extern "C" fn release<T>(_env: sys::napi_env, data: *mut c_void, _hint: *mut c_void) {
  drop(Box::from_raw(data.cast::<T>()));
}

/// The call's first `N` arguments (missing ones are `undefined`) and the
/// state given to `create`.
///
/// # Safety
/// `info` is the current call's, of a function made by `create::<T>`.
pub unsafe fn call_args<'a, T, const N: usize>(
  env: sys::napi_env,
  info: sys::napi_callback_info,
) -> Option<(&'a T, [sys::napi_value; N])> {
  let mut argc = N;
  let mut argv = [ptr::null_mut(); N];
  let mut data = ptr::null_mut();
  let status = sys::napi_get_cb_info(env, info, &mut argc, argv.as_mut_ptr(), ptr::null_mut(), &mut data);
  if status != sys::Status::napi_ok || data.is_null() {
    return None;
  }
  Some((&*data.cast::<T>(), argv))
}

/// `undefined`, the answer of a function with nothing to return.
pub unsafe fn undefined(env: sys::napi_env) -> sys::napi_value {
  let mut v = ptr::null_mut();
  sys::napi_get_undefined(env, &mut v);
  v
}
