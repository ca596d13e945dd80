//! Functions looked up in the running process (Node exports libuv and the
//! newer Node-API calls), so the crate still links into `cargo test`
//! binaries and loads on Node versions that lack an optional call.

use std::ffi::{c_char, c_void, CStr};

/// The address of `name` in the process, if something exports it.
#[cfg(target_os = "linux")]
pub fn find(name: &CStr) -> Option<*mut c_void> {
  extern "C" {
    fn dlsym(handle: *mut c_void, symbol: *const c_char) -> *mut c_void;
  }
  // RTLD_DEFAULT (a null handle on Linux): the symbols Node exports.
  let p = unsafe { dlsym(std::ptr::null_mut(), name.as_ptr()) };
  (!p.is_null()).then_some(p)
}

#[cfg(not(target_os = "linux"))]
pub fn find(_name: &CStr) -> Option<*mut c_void> {
  None
}
