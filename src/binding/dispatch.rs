//! From a tick's commands to the core: batches cut into chunks, each with
//! the callback that settles its promises; the fast lane first, fred for
//! what it refuses. Shared by the class (`NativeService`) and the bare
//! `submit` function.

use std::sync::Arc;

use napi::bindgen_prelude::Array;

use crate::binding::boundary::FLAG_BUFFERS;
use crate::binding::completions::{Completion, Completions, Outcome};
use crate::binding::event_loop::JsWaker;
use crate::binding::packed::{read_batch, Text};
use crate::binding::service::guarded;
use crate::core::command::Command;
use crate::core::error::{Error, ErrorKind};
use crate::core::lane::Done;
use crate::core::service::Service;

/// Arguments per batch handed to the core (see `submit`).
const CHUNK_WEIGHT: usize = 128;

/// Scripts run long on the server, and Redis answers all the commands it
/// read at once only after running them all: each goes in a chunk and a
/// write of its own, so Redis starts on the first while the rest arrive
/// (one write for a tick of scripts measured 0.5x ioredis' throughput).
fn is_script(cmd: &Command) -> bool {
  cmd.has(crate::core::commands::SCRIPT)
}

/// Argument bytes that weigh as much as one argument: a tick of 16 KiB SETs
/// goes out as chunks of 7 that settle apart (their callers send again
/// while Redis reads the rest: SET 16 KiB at 16 in flight 44k -> 60k/s).
const CHUNK_UNIT_BYTES: usize = 1024;

/// A command's share of a chunk: its arguments and their size; a script
/// fills one.
fn chunk_weight(cmd: &Command) -> usize {
  if is_script(cmd) {
    CHUNK_WEIGHT
  } else {
    let bytes: usize = cmd.args.iter().map(|a| if let fred::prelude::Value::Bytes(b) = a { b.len() } else { 0 }).sum();
    cmd.args.len().max(1) + bytes / CHUNK_UNIT_BYTES
  }
}

/// Commands bound for one batch, with their promises' ids and flags.
struct Chunk {
  tags: Vec<(u32, bool)>,
  cmds: Vec<Command>,
  /// See `chunk_weight`.
  weight: usize,
}

impl Chunk {
  fn with_capacity(n: usize) -> Self {
    Chunk { tags: Vec::with_capacity(n), cmds: Vec::with_capacity(n), weight: 0 }
  }
}

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
          self.completions.push(Completion { id: ints[i], buffers: false, outcome: Outcome::Single(Err(e.clone())) });
          i += 3 + ints[i + 2] as usize;
        }
        return;
      }
    };
    // A tick's batch settles when its last reply is in. Heavy commands
    // (MGET of many keys) go out in several batches, so the first replies
    // settle, and their callers send again, while Redis works on the rest.
    let mut chunks = Vec::new();
    let mut chunk = Chunk::with_capacity((ints.len() / 4).min(CHUNK_WEIGHT));
    let max_value = self.core.resilience().max_value_bytes();
    read_batch(&mut text, ints, others, max_value, |entry| {
      let buffers = entry.flags & FLAG_BUFFERS != 0;
      match entry.cmd {
        Ok(cmd) => {
          if chunk.weight >= CHUNK_WEIGHT {
            let room = chunk.cmds.len();
            let full = std::mem::replace(&mut chunk, Chunk::with_capacity(room));
            chunks.push(self.settle(full));
          }
          chunk.weight += chunk_weight(&cmd);
          chunk.tags.push((entry.id, buffers));
          chunk.cmds.push(cmd);
        }
        Err(e) => self.completions.push(Completion { id: entry.id, buffers, outcome: Outcome::Single(Err(e)) }),
      }
    });
    if !chunk.cmds.is_empty() {
      chunks.push(self.settle(chunk));
    }
    self.submit_chunks(chunks);
  }

  /// The chunk's commands, and the callback that settles their promises.
  fn settle(&self, chunk: Chunk) -> (Vec<Command>, Done) {
    let Chunk { tags, cmds, .. } = chunk;
    let completions = self.completions.clone();
    let done: Done = Box::new(move |results| {
      // Every promise settles, even if a path returned too few results.
      let mut results = results.into_iter();
      completions.push_all(tags.into_iter().map(|(id, buffers)| {
        let r = results.next().unwrap_or_else(|| Err(Error::new(ErrorKind::Internal, "a command lost its result")));
        Completion { id, buffers, outcome: Outcome::Single(r) }
      }));
    });
    (cmds, done)
  }

  /// Batches in order on the lane while it takes them; from the first it
  /// refuses, the rest go together (one batch, order kept) as one tokio
  /// task over fred.
  pub fn submit_chunks(&self, chunks: Vec<(Vec<Command>, Done)>) {
    self.attach_new_lanes();
    // Several batches, one write (scripts excepted, see `is_script`).
    let corked = if chunks.len() > 1 && !chunks.iter().any(|(cmds, _)| cmds.iter().any(is_script)) {
      self.core.cork_lane()
    } else {
      None
    };
    let mut chunks = chunks.into_iter();
    let mut refused = Vec::new();
    for (cmds, done) in chunks.by_ref() {
      if let Err(back) = self.core.submit_fast(cmds, done) {
        refused.push(back);
        break;
      }
    }
    if let Some(lane) = corked {
      lane.uncork();
    }
    refused.extend(chunks);
    if refused.is_empty() {
      return;
    }
    let sizes: Vec<usize> = refused.iter().map(|(c, _)| c.len()).collect();
    let (cmds, dones): (Vec<Vec<Command>>, Vec<Done>) = refused.into_iter().unzip();
    let cmds: Vec<Command> = cmds.into_iter().flatten().collect();
    let core = self.core.clone();
    napi::bindgen_prelude::spawn(async move {
      let n = cmds.len();
      let results = match guarded(async { Ok(core.dispatch_batch(cmds).await) }).await {
        Ok(results) => results,
        Err(e) => (0..n).map(|_| Err(e.clone())).collect(),
      };
      let mut results = results.into_iter();
      for (size, done) in sizes.into_iter().zip(dones) {
        done(results.by_ref().take(size).collect());
      }
    });
  }
}
