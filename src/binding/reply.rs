//! Core replies -> JS values: bulk strings become JS strings (or Buffers
//! when the caller asked for bytes), integers numbers, nil null.

use napi::bindgen_prelude::{Buffer, Null, ToNapiValue};
use napi::sys;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::binding::errors::js_error;
use crate::core::copies::COPIES;
use crate::core::reply::Reply;

pub unsafe fn bytes_to_js(env: sys::napi_env, b: bytes::Bytes, buffers: bool) -> napi::Result<sys::napi_value> {
  if buffers {
    // Vec::from(Bytes) reuses the allocation when fred's buffer is unique
    // (counted as a copy all the same).
    COPIES.to_js(b.len());
    return Buffer::to_napi_value(env, Buffer::from(Vec::<u8>::from(b)));
  }
  // ASCII (most values) is latin1 to V8: a plain copy, no UTF-8 decoding.
  // Large values are not copied at all: the string points at the reply's
  // bytes, freed when V8 collects it (and the young generation never
  // copies the payload around).
  if b.len() >= EXTERNAL_MIN && b.is_ascii() {
    if let Some(v) = external_latin1(env, b.clone()) {
      return Ok(v);
    }
  }
  COPIES.to_js(b.len());
  if b.is_ascii() {
    let mut v = std::ptr::null_mut();
    napi::check_status!(sys::napi_create_string_latin1(env, b.as_ptr().cast(), b.len() as isize, &mut v))?;
    return Ok(v);
  }
  match std::str::from_utf8(&b) {
    Ok(s) => <&str>::to_napi_value(env, s),
    Err(_) => String::to_napi_value(env, String::from_utf8_lossy(&b).into_owned()),
  }
}

/// Largest array reply sent packed (data bytes): the values are slices of
/// one string, which stays alive while any of them does.
const PACK_MAX_BYTES: usize = 256 * 1024;
/// Length mark of a nil item in a packed array.
const PACK_NIL: usize = 0xFF_FFFF;

/// An array of ASCII bulk strings and nils as ONE latin1 string: a header
/// of 3-char big-endian lengths (count, then each item's, `PACK_NIL` for
/// nil) followed by the items' bytes. One V8 allocation and one copy
/// instead of a string and an element store per item; `lib/dispatcher.js`
/// `unpack` slices it. `None`: not packable, convert as usual.
pub unsafe fn packed_array(env: sys::napi_env, items: &[Reply]) -> Option<sys::napi_value> {
  if items.len() < 2 || items.len() >= PACK_NIL {
    return None;
  }
  let mut data = 0usize;
  for item in items {
    match item {
      Reply::Nil => {}
      Reply::Bytes(b) if b.len() < PACK_NIL && b.is_ascii() => data += b.len(),
      _ => return None,
    }
    if data > PACK_MAX_BYTES {
      return None;
    }
  }
  let mut out = Vec::with_capacity(3 + 3 * items.len() + data);
  let push_len = |out: &mut Vec<u8>, n: usize| out.extend_from_slice(&[(n >> 16) as u8, (n >> 8) as u8, n as u8]);
  push_len(&mut out, items.len());
  for item in items {
    push_len(&mut out, if let Reply::Bytes(b) = item { b.len() } else { PACK_NIL });
  }
  for item in items {
    if let Reply::Bytes(b) = item {
      out.extend_from_slice(b);
    }
  }
  // Two copies: into `out`, then V8's own.
  COPIES.to_js(2 * data);
  let mut v = std::ptr::null_mut();
  let status = sys::napi_create_string_latin1(env, out.as_ptr().cast(), out.len() as isize, &mut v);
  (status == sys::Status::napi_ok).then_some(v)
}

/// Values from this size up become external strings. Below it a copy into
/// V8's young generation is cheaper: measured at 16 KiB, external strings
/// (reported to V8, see `report_external`) cost a full collection every
/// 64 MiB, which in a large heap fell to 0.45x ioredis' GET throughput
/// (copied: 0.8-1.4x, the one copy ioredis makes too).
const EXTERNAL_MIN: usize = 64 * 1024;

type CreateExternalLatin1 = unsafe extern "C" fn(
  sys::napi_env,
  *mut std::ffi::c_char,
  usize,
  sys::napi_finalize,
  *mut std::ffi::c_void,
  *mut sys::napi_value,
  *mut bool,
) -> sys::napi_status;

/// `node_api_create_external_string_latin1` (Node 20.4+), if this Node has it.
fn create_external_latin1() -> Option<CreateExternalLatin1> {
  static FOUND: std::sync::OnceLock<Option<CreateExternalLatin1>> = std::sync::OnceLock::new();
  *FOUND.get_or_init(|| {
    let p = crate::binding::symbols::find(c"node_api_create_external_string_latin1")?;
    // SAFETY: the signature is Node-API's, as declared in js_native_api.h.
    Some(unsafe { std::mem::transmute::<*mut std::ffi::c_void, CreateExternalLatin1>(p) })
  })
}

/// A JS string over `b`'s own memory; `b` lives until the string is collected.
unsafe fn external_latin1(env: sys::napi_env, b: bytes::Bytes) -> Option<sys::napi_value> {
  let create = create_external_latin1()?;
  let (ptr, len) = (b.as_ptr(), b.len());
  let owner = Box::into_raw(Box::new(b)).cast::<std::ffi::c_void>();
  let (mut v, mut copied) = (std::ptr::null_mut(), false);
  let status = create(env, ptr as *mut std::ffi::c_char, len, Some(release_bytes), owner, &mut v, &mut copied);
  if status != sys::Status::napi_ok {
    // Not created: the finalizer did not run, the bytes are still ours.
    drop(Box::from_raw(owner.cast::<bytes::Bytes>()));
    return None;
  }
  // `copied`: Node made its own copy and has already run the finalizer.
  if copied {
    COPIES.to_js(len);
  } else {
    COPIES.to_js_by_reference(len);
    report_external(env, len);
  }
  Some(v)
}

/// Bytes of collected external strings not yet reported back to V8.
static RELEASED: AtomicUsize = AtomicUsize::new(0);

/// Tells V8 about the memory its small external-string objects hold: it
/// schedules collections by heap use, and without this a young generation
/// full of 16 KiB values (each keeping its read buffer) grew the process to
/// gigabytes before a scavenge freed them. Releases are netted here, not in
/// the finalizer (which may run inside a collection).
unsafe fn report_external(env: sys::napi_env, len: usize) {
  let released = RELEASED.swap(0, Ordering::Relaxed);
  let mut total = 0i64;
  sys::napi_adjust_external_memory(env, len as i64 - released as i64, &mut total);
}

unsafe extern "C" fn release_bytes(_env: sys::napi_env, _data: *mut std::ffi::c_void, hint: *mut std::ffi::c_void) {
  let bytes = Box::from_raw(hint.cast::<bytes::Bytes>());
  RELEASED.fetch_add(bytes.len(), Ordering::Relaxed);
}

pub unsafe fn reply_to_js(env: sys::napi_env, reply: Reply, buffers: bool) -> napi::Result<sys::napi_value> {
  match reply {
    Reply::Nil => Null::to_napi_value(env, Null),
    Reply::Int(i) => {
      if i.unsigned_abs() < (1u64 << 53) {
        f64::to_napi_value(env, i as f64)
      } else {
        // Beyond 2^53 a JS number would silently round: keep the digits.
        String::to_napi_value(env, i.to_string())
      }
    }
    Reply::Double(d) => f64::to_napi_value(env, d),
    Reply::Bool(b) => f64::to_napi_value(env, if b { 1.0 } else { 0.0 }),
    Reply::Bytes(b) => bytes_to_js(env, b, buffers),
    Reply::Array(items) | Reply::Map(items) => {
      let mut arr = std::ptr::null_mut();
      napi::check_status!(sys::napi_create_array_with_length(env, items.len(), &mut arr))?;
      for (i, item) in items.into_iter().enumerate() {
        let v = reply_to_js(env, item, buffers)?;
        napi::check_status!(sys::napi_set_element(env, arr, i as u32, v))?;
      }
      Ok(arr)
    }
    Reply::Error(msg) => js_error(env, "ERR_RESILIS_REPLY", &msg),
  }
}
