//! Results come back to JS in batches: the first completion after a drain
//! wakes the JS thread once (one threadsafe-function call); JS then calls
//! `drain()` and settles every promise that is ready. Under load many
//! results share one wake-up instead of paying one each.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;

use napi::bindgen_prelude::ToNapiValue;
use napi::sys;
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi::Status;

use crate::binding::boundary::{CompletionStatus, FORM_BUFFERS, FORM_STRINGS, SERVED_SHIFT};
use crate::binding::errors::{js_error, ErrorTriple};
use crate::binding::reply::{bytes_to_js, packed_array, reply_to_js};
use crate::core::error::Result;
use crate::core::events::Event;
use crate::core::pubsub::Message;
use crate::core::reply::Reply;

pub enum Outcome {
  Single(Result<Reply>),
  Group(Result<Vec<Result<Reply>>>),
  /// A watched group's replies and each command's served code.
  ServedGroup(Vec<Result<Reply>>, Vec<u8>),
  /// Not a call's result: an event for the service's listeners (id 0).
  Event(Event),
  /// A pub/sub message for the subscribers (id 0).
  Message(Message),
}

pub struct Completion {
  pub id: u32,
  pub buffers: bool,
  /// A watched command's served code (boundary.rs `served_code`), 0 for
  /// the rest: sent as `status | served << SERVED_SHIFT`.
  pub served: u8,
  pub outcome: Outcome,
}

/// Weak: a pending wake-up alone does not keep Node alive; the facade
/// holds a ref'd timer while promises are pending.
pub type Wake = ThreadsafeFunction<(), (), (), Status, false, true>;

pub struct Completions {
  queue: Mutex<Vec<Completion>>,
  /// An emptied queue handed back after a drain (`recycle`): the next
  /// results go into it instead of a fresh allocation.
  spare: Mutex<Vec<Completion>>,
  wake: Wake,
  /// The forms pub/sub messages are wanted in (`FORM_STRINGS | FORM_BUFFERS`),
  /// set by JS as listeners come and go; read at each drain, on the JS thread.
  message_forms: AtomicU32,
}

thread_local! {
  /// Set while a poll callback settles batches (event_loop.rs): their
  /// completions need no threadsafe wake-up, the callback calls JS itself
  /// right after.
  static DRIVING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// True on the JS thread inside a poll callback.
pub fn driving() -> bool {
  DRIVING.with(std::cell::Cell::get)
}

/// Marks the JS thread as inside (or out of) a poll callback.
pub fn set_driving(on: bool) {
  DRIVING.with(|d| d.set(on));
}

/// The largest emptied queue kept for reuse (completions).
const SPARE_MAX: usize = 4096;

/// The guarded value, even if a panic poisoned the lock.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
  m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Completions {
  pub fn new(wake: Wake) -> Self {
    Completions {
      queue: Mutex::new(Vec::with_capacity(256)),
      spare: Mutex::new(Vec::new()),
      wake,
      message_forms: AtomicU32::new(FORM_STRINGS),
    }
  }

  pub fn set_message_forms(&self, forms: u32) {
    self.message_forms.store(forms, Ordering::Relaxed);
  }

  pub fn push(&self, c: Completion) {
    let first = {
      let mut q = lock(&self.queue);
      q.push(c);
      q.len() == 1
    };
    if first && !driving() {
      self.wake.call((), ThreadsafeFunctionCallMode::NonBlocking);
    }
  }

  /// A batch's results under one lock and at most one wake-up.
  pub fn push_all(&self, items: impl IntoIterator<Item = Completion>) {
    let first = {
      let mut q = lock(&self.queue);
      let was_empty = q.is_empty();
      q.extend(items);
      was_empty && !q.is_empty()
    };
    // Inside a poll callback the JS thread drains right after: no wake-up.
    if first && !driving() {
      self.wake.call((), ThreadsafeFunctionCallMode::NonBlocking);
    }
  }

  /// Wakes the JS thread (from any thread) even with nothing to settle:
  /// its `drain()` also attaches new lanes and sends deferred commands.
  pub fn poke(&self) {
    self.wake.call((), ThreadsafeFunctionCallMode::NonBlocking);
  }

  pub fn drain(&self) -> Drained {
    let spare = std::mem::take(&mut *lock(&self.spare));
    let items = std::mem::replace(&mut *lock(&self.queue), spare);
    Drained { items, message_forms: self.message_forms.load(Ordering::Relaxed) }
  }

  /// Keeps a drained batch's vector (emptied) for the next one; one grown
  /// by a burst is let go rather than held for good.
  pub fn recycle(&self, mut used: Vec<Completion>) {
    used.clear();
    let mut spare = lock(&self.spare);
    if used.capacity() > spare.capacity() && used.capacity() <= SPARE_MAX {
      *spare = used;
    }
  }
}

/// Flat `[id, status, value, ...]`, `status` a `CompletionStatus`.
pub struct Drained {
  items: Vec<Completion>,
  /// The message forms JS wanted when it drained.
  pub message_forms: u32,
}

impl Drained {
  pub fn is_empty(&self) -> bool {
    self.items.is_empty()
  }

  /// From `from` completions on, the older half; `self` keeps the rest.
  pub fn split_front_half(&mut self, from: usize) -> Option<Drained> {
    if self.items.len() < from {
      return None;
    }
    let rest = self.items.split_off(self.items.len() / 2);
    Some(Drained { items: std::mem::replace(&mut self.items, rest), message_forms: self.message_forms })
  }

  /// Appends completions that arrived later.
  pub fn append(&mut self, later: Drained) {
    self.items.extend(later.items);
  }

  /// The completions, for a caller that converts them one by one.
  pub fn into_vec(self) -> Vec<Completion> {
    self.items
  }
}

impl ToNapiValue for Drained {
  unsafe fn to_napi_value(env: sys::napi_env, mut val: Self) -> napi::Result<sys::napi_value> {
    flat_array(env, &mut val.items, val.message_forms)
  }
}

/// `[id, status, value, ...]` of every completion, taken out of `items`.
pub unsafe fn flat_array(
  env: sys::napi_env,
  items: &mut Vec<Completion>,
  message_forms: u32,
) -> napi::Result<sys::napi_value> {
  let mut arr = std::ptr::null_mut();
  napi::check_status!(sys::napi_create_array_with_length(env, items.len() * 3, &mut arr))?;
  for (i, c) in items.drain(..).enumerate() {
    let i = 3 * i as u32;
    for (j, v) in completion_to_js(env, c, message_forms)?.into_iter().enumerate() {
      napi::check_status!(sys::napi_set_element(env, arr, i + j as u32, v))?;
    }
  }
  Ok(arr)
}

/// One completion as its `[id, status, value]`.
pub unsafe fn completion_to_js(
  env: sys::napi_env,
  c: Completion,
  message_forms: u32,
) -> napi::Result<[sys::napi_value; 3]> {
  use CompletionStatus as S;
  let (status, value) = match c.outcome {
    Outcome::Single(Ok(Reply::Array(items))) if !c.buffers => match packed_array(env, &items) {
      Some(packed) => (S::Packed, packed),
      None => (S::Value, reply_to_js(env, Reply::Array(items), false)?),
    },
    Outcome::Single(Ok(reply)) => (S::Value, reply_to_js(env, reply, c.buffers)?),
    Outcome::Single(Err(e)) | Outcome::Group(Err(e)) => (S::Error, ErrorTriple::to_napi_value(env, ErrorTriple(e))?),
    Outcome::Group(Ok(items)) => (S::Group, group_to_js(env, items, c.buffers)?),
    Outcome::ServedGroup(items, served) => {
      let pair = [group_to_js(env, items, c.buffers)?, latin1(env, &served)?];
      let mut arr = std::ptr::null_mut();
      napi::check_status!(sys::napi_create_array_with_length(env, 2, &mut arr))?;
      for (j, v) in pair.into_iter().enumerate() {
        napi::check_status!(sys::napi_set_element(env, arr, j as u32, v))?;
      }
      (S::ServedGroup, arr)
    }
    Outcome::Event(event) => {
      let pair = vec![event.name().to_string(), event.payload().to_string()];
      (S::Event, Vec::<String>::to_napi_value(env, pair)?)
    }
    Outcome::Message(m) => (S::Message, message_to_js(env, m, message_forms)?),
  };
  let status = status as u32 | (c.served as u32) << SERVED_SHIFT;
  Ok([u32::to_napi_value(env, c.id)?, u32::to_napi_value(env, status)?, value])
}

/// A group's replies: values, or `Error` objects in the slots that failed.
unsafe fn group_to_js(env: sys::napi_env, items: Vec<Result<Reply>>, buffers: bool) -> napi::Result<sys::napi_value> {
  let mut group = std::ptr::null_mut();
  napi::check_status!(sys::napi_create_array_with_length(env, items.len(), &mut group))?;
  for (j, item) in items.into_iter().enumerate() {
    let v = match item {
      Ok(reply) => reply_to_js(env, reply, buffers)?,
      Err(e) => js_error(env, e.code(), &e.message)?,
    };
    napi::check_status!(sys::napi_set_element(env, group, j as u32, v))?;
  }
  Ok(group)
}

/// Bytes as a latin1 string: one char per byte.
unsafe fn latin1(env: sys::napi_env, bytes: &[u8]) -> napi::Result<sys::napi_value> {
  let mut v = std::ptr::null_mut();
  napi::check_status!(sys::napi_create_string_latin1(env, bytes.as_ptr().cast(), bytes.len() as isize, &mut v))?;
  Ok(v)
}

unsafe fn js_null(env: sys::napi_env) -> napi::Result<sys::napi_value> {
  let mut null = std::ptr::null_mut();
  napi::check_status!(sys::napi_get_null(env, &mut null))?;
  Ok(null)
}

/// `[kind, channel, pattern, payload, channelBuffer, patternBuffer,
/// payloadBuffer]`: the strings with `FORM_STRINGS`, the Buffers with
/// `FORM_BUFFERS`, null otherwise (and for the pattern of a non-`pmessage`).
/// Only the forms someone listens for are made.
unsafe fn message_to_js(env: sys::napi_env, m: Message, forms: u32) -> napi::Result<sys::napi_value> {
  let mut arr = std::ptr::null_mut();
  napi::check_status!(sys::napi_create_array_with_length(env, 7, &mut arr))?;
  let Message { kind, channel, pattern, payload } = m;
  let mut items = [js_null(env)?; 7];
  items[0] = bytes_to_js(env, bytes::Bytes::from_static(kind.name().as_bytes()), false)?;
  for (form, base) in [(FORM_STRINGS, 1), (FORM_BUFFERS, 4)] {
    if forms & form == 0 {
      continue;
    }
    let buffers = form == FORM_BUFFERS;
    items[base] = bytes_to_js(env, channel.clone(), buffers)?;
    if let Some(p) = &pattern {
      items[base + 1] = bytes_to_js(env, p.clone(), buffers)?;
    }
    items[base + 2] = bytes_to_js(env, payload.clone(), buffers)?;
  }
  for (i, v) in items.into_iter().enumerate() {
    napi::check_status!(sys::napi_set_element(env, arr, i as u32, v))?;
  }
  Ok(arr)
}
