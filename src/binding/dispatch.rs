//! From a tick's commands to the core: each converted once, collected into
//! the core's batches (core/service/chunks.rs) with the callback that
//! settles their promises, and handed to `Service::submit`. Shared by the
//! class (`NativeService`) and the bare `submit` function.

use std::sync::Arc;

use napi::bindgen_prelude::Array;

use crate::binding::boundary::{served_code, FLAG_BUFFERS, FLAG_WATCHED};
use crate::binding::completions::{Completion, Completions, Outcome};
use crate::binding::event_loop::JsWaker;
use crate::binding::packed::{read_batch, Text};
use crate::core::command::Command;
use crate::core::error::{Error, ErrorKind};
use crate::core::served::Settle;
use crate::core::service::chunks::Chunks;
use crate::core::service::Service;

pub struct Dispatch {
  pub core: Arc<Service>,
  pub completions: Arc<Completions>,
  /// Drives fast lanes from Node's event loop; `None`: tokio drives them.
  pub js_waker: Option<Box<JsWaker>>,
}

impl Dispatch {
  /// Lanes the core opened since the last call start polling here, on
  /// the JS thread (libuv is not thread-safe): before every submit, and on
  /// every wake-up (a cluster lane opened in the background pokes it).
  pub fn attach_new_lanes(&self) {
    if let Some(waker) = &self.js_waker {
      for lane in self.core.undriven_lanes() {
        waker.attach(lane.clone());
        if !lane.is_driven() {
          // libuv refused the socket: a dead lane is reopened, a stuck one never.
          lane.close();
        }
      }
    }
  }

  /// A tick's commands, packed by lib/dispatcher.js (see packed.rs):
  /// `ints` describes them, `text` holds their strings (or why it could
  /// not be read), `others` the arguments that are not short strings.
  pub fn submit(&self, text: Result<Text, Error>, ints: &[u32], others: Option<&Array<'_>>) {
    let mut text = match text {
      Ok(text) => text,
      Err(e) => {
        let mut i = 0;
        while i + 3 <= ints.len() {
          self.completions.push(Completion {
            id: ints[i],
            buffers: false,
            served: 0,
            outcome: Outcome::Single(Err(e.clone())),
          });
          i += 3 + ints[i + 2] as usize;
        }
        return;
      }
    };
    let completions = &self.completions;
    let mut chunks = Chunks::new(ints.len() / 4, |tags| settle(completions, tags));
    let max_value = self.core.resilience().max_value_bytes();
    read_batch(&mut text, ints, others, max_value, |entry| {
      let buffers = entry.flags & FLAG_BUFFERS != 0;
      match entry.cmd {
        Ok(cmd) => chunks.push(cmd, Tag { id: entry.id, buffers, watched: entry.flags & FLAG_WATCHED != 0 }),
        Err(e) => completions.push(Completion { id: entry.id, buffers, served: 0, outcome: Outcome::Single(Err(e)) }),
      }
    });
    self.submit_batches(chunks.into_batches());
  }

  /// Batches in order to the core (see `Service::submit`), after giving
  /// any lane opened since the last call its driver.
  pub fn submit_batches(&self, batches: Vec<(Vec<Command>, Settle)>) {
    self.attach_new_lanes();
    self.core.submit(batches);
  }
}

/// One command's promise: its id, whether it wants Buffers, whether it is
/// watched (then its completion says who served it).
pub struct Tag {
  id: u32,
  buffers: bool,
  watched: bool,
}

/// The callback that settles a batch's promises.
fn settle(completions: &Arc<Completions>, tags: Vec<Tag>) -> Settle {
  let completions = completions.clone();
  Box::new(move |answers| {
    // Every promise settles, even if a path returned too few results.
    let mut results = answers.replies.into_iter();
    let mut served = answers.served.into_iter();
    completions.push_all(tags.into_iter().map(|Tag { id, buffers, watched }| {
      let r = results.next().unwrap_or_else(|| Err(Error::new(ErrorKind::Internal, "a command lost its result")));
      let by = served.next().unwrap_or_default();
      Completion { id, buffers, served: if watched { served_code(by) } else { 0 }, outcome: Outcome::Single(r) }
    }));
  })
}
