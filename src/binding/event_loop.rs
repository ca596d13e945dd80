//! Drives fast lanes from Node's own event loop. libuv polls the lane's
//! socket; replies are read, parsed and their promises woken on the JS
//! thread, with no thread hop in between (with tokio as the driver, a
//! reply crossed two: the tokio worker, then the threadsafe-function wake).
//!
//! libuv's functions are looked up in the running process (Node exports
//! them) so the crate still links into `cargo test` binaries. Linux only;
//! elsewhere the core's tokio driver is used.

use std::cell::{Cell, RefCell};
use std::ffi::{c_int, c_void};
use std::ptr;
use std::sync::{Arc, OnceLock};

use napi::sys;

use crate::binding::completions::{completion_to_js, flat_array, set_driving, Completions, Drained};
use crate::core::error::{Error, ErrorKind, Sent};
use crate::core::lane::{Lane, LaneDriver};

const UV_POLL: c_int = 8;
const UV_READABLE: c_int = 1;
const UV_WRITABLE: c_int = 2;

type PollCb = unsafe extern "C" fn(*mut c_void, c_int, c_int);
type CloseCb = unsafe extern "C" fn(*mut c_void);

type HandleSizeFn = unsafe extern "C" fn(c_int) -> usize;
type PollInitFn = unsafe extern "C" fn(*mut c_void, *mut c_void, c_int) -> c_int;
type PollStartFn = unsafe extern "C" fn(*mut c_void, c_int, PollCb) -> c_int;
type PollStopFn = unsafe extern "C" fn(*mut c_void) -> c_int;
type CloseFn = unsafe extern "C" fn(*mut c_void, Option<CloseCb>);
type UnrefFn = unsafe extern "C" fn(*mut c_void);

struct Uv {
  handle_size: HandleSizeFn,
  poll_init: PollInitFn,
  poll_start: PollStartFn,
  poll_stop: PollStopFn,
  close: CloseFn,
  unref: UnrefFn,
}

fn uv() -> Option<&'static Uv> {
  use crate::binding::symbols::find;
  static UV: OnceLock<Option<Uv>> = OnceLock::new();
  UV.get_or_init(|| {
    // SAFETY: the signatures are libuv's public, stable ABI.
    unsafe {
      Some(Uv {
        handle_size: std::mem::transmute::<*mut c_void, HandleSizeFn>(find(c"uv_handle_size")?),
        poll_init: std::mem::transmute::<*mut c_void, PollInitFn>(find(c"uv_poll_init")?),
        poll_start: std::mem::transmute::<*mut c_void, PollStartFn>(find(c"uv_poll_start")?),
        poll_stop: std::mem::transmute::<*mut c_void, PollStopFn>(find(c"uv_poll_stop")?),
        close: std::mem::transmute::<*mut c_void, CloseFn>(find(c"uv_close")?),
        unref: std::mem::transmute::<*mut c_void, UnrefFn>(find(c"uv_unref")?),
      })
    }
  })
  .as_ref()
}

/// A poll's results from this many on are settled in two halves (`wake_js`).
const SPLIT_FROM: usize = 8;

/// Calls the facade's `onWake` from a poll callback, inside a proper
/// callback scope so promise reactions run before control returns to libuv.
pub struct JsWaker {
  env: sys::napi_env,
  on_wake: sys::napi_ref,
  async_context: sys::napi_async_context,
  uv_loop: *mut c_void,
  completions: Arc<Completions>,
  /// Open poll handles, closed when the environment is torn down.
  polls: RefCell<Vec<*mut c_void>>,
  torn_down: Cell<bool>,
}

impl JsWaker {
  /// `None` where libuv cannot be reached: lanes are then driven by tokio.
  pub fn new(env: sys::napi_env, on_wake: sys::napi_value, completions: Arc<Completions>) -> Option<Box<JsWaker>> {
    uv()?;
    unsafe {
      let mut uv_loop = ptr::null_mut();
      if sys::napi_get_uv_event_loop(env, &mut uv_loop) != sys::Status::napi_ok || uv_loop.is_null() {
        return None;
      }
      let mut on_wake_ref = ptr::null_mut();
      if sys::napi_create_reference(env, on_wake, 1, &mut on_wake_ref) != sys::Status::napi_ok {
        return None;
      }
      let (mut resource, mut name, mut async_context) = (ptr::null_mut(), ptr::null_mut(), ptr::null_mut());
      sys::napi_create_object(env, &mut resource);
      sys::napi_create_string_utf8(env, c"resilis:reply".as_ptr(), -1, &mut name);
      if sys::napi_async_init(env, resource, name, &mut async_context) != sys::Status::napi_ok {
        return None;
      }
      let waker = Box::new(JsWaker {
        env,
        on_wake: on_wake_ref,
        async_context,
        uv_loop: uv_loop.cast(),
        completions,
        polls: RefCell::new(Vec::new()),
        torn_down: Cell::new(false),
      });
      let raw: *const JsWaker = &*waker;
      sys::napi_add_env_cleanup_hook(env, Some(close_all_polls), raw as *mut c_void);
      Some(waker)
    }
  }

  /// Starts polling a new lane's socket on the JS thread's loop.
  pub fn attach(&self, lane: Arc<Lane>) {
    let Some(uv) = uv() else { return };
    unsafe {
      let size = (uv.handle_size)(UV_POLL);
      let Ok(layout) = std::alloc::Layout::from_size_align(size, 16) else { return };
      let handle = std::alloc::alloc_zeroed(layout).cast::<c_void>();
      if handle.is_null() {
        return;
      }
      if (uv.poll_init)(self.uv_loop, handle, lane.raw_fd()) != 0 {
        std::alloc::dealloc(handle.cast(), layout);
        return;
      }
      let ctx = Box::new(PollCtx { lane: lane.clone(), waker: self, handle, layout });
      // uv_handle_t starts with `void* data`.
      *handle.cast::<*mut c_void>() = Box::into_raw(ctx).cast();
      (uv.poll_start)(handle, UV_READABLE, on_poll);
      // The dispatcher's ref'd timer keeps Node alive while calls are
      // pending; an idle connection must not.
      (uv.unref)(handle);
      self.polls.borrow_mut().push(handle);
      lane.attach(Box::new(UvWriter { handle }));
      // Opened earlier on a tokio thread: the peer may have gone since.
      // A read now settles that before the first batch is written to it.
      set_driving(true);
      let alive = lane.read_ready();
      set_driving(false);
      if !alive {
        close_poll(handle);
      }
    }
  }

  /// Settles what the poll completed. Many results go in two calls: the
  /// first half's callers send their next commands (one write) before the
  /// second half is settled, so Redis works while JS settles the rest,
  /// instead of the two taking turns. Paired 1 s runs against ioredis in
  /// one process (9 rounds, medians): SET 100 B at 16 in flight 75k ->
  /// 90k ops/s, GET 111k -> 132k, GET 16 KiB 32k -> 40k, for about 6%
  /// more CPU per operation.
  fn wake_js(&self) {
    let mut ready = self.completions.drain();
    if let Some(first) = ready.split_front_half(SPLIT_FROM) {
      self.call_js(first);
      // What the first half's calls completed at once goes after the rest.
      ready.append(self.completions.drain());
    }
    if !ready.is_empty() {
      self.call_js(ready);
    }
  }

  /// `onWake(id, status, value)` for one result (most polls at one in
  /// flight: no array to build and fill), `onWake([id, status, value,
  /// ...])` for more.
  fn call_js(&self, drained: Drained) {
    let forms = drained.message_forms;
    let mut items = drained.into_vec();
    unsafe {
      let env = self.env;
      let mut scope = ptr::null_mut();
      if sys::napi_open_handle_scope(env, &mut scope) != sys::Status::napi_ok {
        return;
      }
      let (mut func, mut recv, mut result) = (ptr::null_mut(), ptr::null_mut(), ptr::null_mut());
      sys::napi_get_reference_value(env, self.on_wake, &mut func);
      sys::napi_get_global(env, &mut recv);
      // The results go along as arguments: no `drain()` call back in.
      let args = if items.len() > 1 {
        flat_array(env, &mut items, forms).map(|arr| ([arr, arr, arr], 1))
      } else if let Some(one) = items.pop() {
        completion_to_js(env, one, forms).map(|a| (a, 3))
      } else {
        Err(napi::Error::from_reason("nothing to settle"))
      };
      self.completions.recycle(items);
      let Ok((argv, argc)) = args else {
        sys::napi_close_handle_scope(env, scope);
        return;
      };
      let status = sys::napi_make_callback(env, self.async_context, recv, func, argc, argv.as_ptr(), &mut result);
      if status == sys::Status::napi_pending_exception {
        let mut exception = ptr::null_mut();
        sys::napi_get_and_clear_last_exception(env, &mut exception);
        sys::napi_fatal_exception(env, exception);
      }
      sys::napi_close_handle_scope(env, scope);
    }
  }

  fn forget(&self, handle: *mut c_void) {
    self.polls.borrow_mut().retain(|h| *h != handle);
  }
}

struct PollCtx {
  lane: Arc<Lane>,
  /// The waker lives in the `NativeService`, which outlives its lanes'
  /// polls (closing the service kills the lanes, whose polls then close).
  waker: *const JsWaker,
  handle: *mut c_void,
  layout: std::alloc::Layout,
}

/// Asks libuv to watch for writability; only ever called on the JS thread
/// (lanes are submitted to from the JS thread only).
struct UvWriter {
  handle: *mut c_void,
}

// SAFETY: see `UvWriter`: the handle is touched on the JS thread only, and
// `closed` (any thread) does nothing; the socket shutdown wakes the poll.
unsafe impl Send for UvWriter {}
unsafe impl Sync for UvWriter {}

impl LaneDriver for UvWriter {
  fn want_write(&self) {
    if let Some(uv) = uv() {
      unsafe { (uv.poll_start)(self.handle, UV_READABLE | UV_WRITABLE, on_poll) };
    }
  }
}

unsafe extern "C" fn on_poll(handle: *mut c_void, status: c_int, events: c_int) {
  let ctx = *handle.cast::<*mut PollCtx>();
  if ctx.is_null() {
    return;
  }
  let ctx = &*ctx;
  let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
    set_driving(true);
    let mut alive = true;
    if status < 0 {
      // libuv reports a socket error (a reset peer) as a status: reading
      // names the cause; the fallback message covers the rest.
      ctx.lane.read_ready();
      ctx.lane.die(Error::new(ErrorKind::Connection, "the connection to Redis was reset").with_sent(Sent::Unknown));
      alive = false;
    } else {
      if events & UV_WRITABLE != 0 && !ctx.lane.write_ready() {
        if let Some(uv) = uv() {
          (uv.poll_start)(handle, UV_READABLE, on_poll);
        }
      }
      if events & UV_READABLE != 0 {
        alive = ctx.lane.read_ready();
      }
    }
    set_driving(false);
    alive && ctx.lane.is_alive()
  }));
  set_driving(false);
  let waker = &*ctx.waker;
  if !matches!(outcome, Ok(true)) {
    ctx.lane.die(Error::new(ErrorKind::Connection, "the fast lane stopped").with_sent(Sent::Unknown));
    close_poll(handle);
  }
  waker.wake_js();
}

unsafe fn close_poll(handle: *mut c_void) {
  let Some(uv) = uv() else { return };
  let ctx = *handle.cast::<*mut PollCtx>();
  if !ctx.is_null() {
    (*(*ctx).waker).forget(handle);
  }
  (uv.poll_stop)(handle);
  (uv.close)(handle, Some(on_closed));
}

unsafe extern "C" fn on_closed(handle: *mut c_void) {
  let ctx = *handle.cast::<*mut PollCtx>();
  if ctx.is_null() {
    return;
  }
  let ctx = Box::from_raw(ctx);
  let (h, layout) = (ctx.handle, ctx.layout);
  drop(ctx);
  std::alloc::dealloc(h.cast(), layout);
}

/// The service went away (its JS object was collected): its polls go too,
/// since they point back at this waker.
impl Drop for JsWaker {
  fn drop(&mut self) {
    let raw: *const JsWaker = self;
    unsafe {
      if !self.torn_down.get() {
        sys::napi_remove_env_cleanup_hook(self.env, Some(close_all_polls), raw as *mut c_void);
        close_all_polls(raw as *mut c_void);
      }
    }
  }
}

/// Environment teardown: stop every poll so none outlives the loop's owner.
unsafe extern "C" fn close_all_polls(arg: *mut c_void) {
  let waker = &*arg.cast::<JsWaker>();
  waker.torn_down.set(true);
  let polls: Vec<_> = waker.polls.borrow_mut().drain(..).collect();
  for handle in polls {
    let ctx = *handle.cast::<*mut PollCtx>();
    if !ctx.is_null() {
      (*ctx).lane.close();
    }
    close_poll(handle);
  }
}
