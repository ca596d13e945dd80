//! The invalidation connection of the near cache: one RESP3 connection
//! (`HELLO 3`) that receives the server's `invalidate` push frames; the
//! lane turns tracking on with `REDIRECT <this connection's id>` (on a
//! cluster node, this connection tracks in `BCAST` mode itself). Each push
//! drops keys (or, when it carries none, everything); losing the
//! connection flushes the cache and reconnects with backoff.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use fred::prelude::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::core::command::Command;
use crate::core::error::{Error, ErrorKind, Result};
use crate::core::lane::LaneSettings;
use crate::core::link::{self, Link};
use crate::core::near_cache::NearCache;
use crate::core::reply::Reply;
use crate::core::resp;

/// How this connection's invalidations come about.
#[derive(Clone)]
pub enum Mode {
  /// Standalone: the lane turns tracking on with `REDIRECT <our id>`; the
  /// id is published through `NearCache::set_redirect`.
  Redirect,
  /// Cluster: this connection turns on `BCAST` tracking for itself, so
  /// every write on its node is reported whatever connection read the
  /// key. `up` tells whether it is receiving.
  Broadcast(Arc<AtomicBool>),
}

/// Runs until aborted (the service's disconnect aborts the task).
pub async fn run(settings: LaneSettings, near: Arc<NearCache>, mode: Mode) {
  let mut pause = Duration::from_millis(50);
  loop {
    let outcome = listen(&settings, &near, &mode).await;
    match &mode {
      Mode::Redirect => near.set_redirect(0),
      Mode::Broadcast(up) => {
        // Off at once: this node's writes are not reported until it is back.
        up.store(false, Ordering::Release);
        near.set_broadcast_live(false);
      }
    }
    if outcome.is_ok() {
      pause = Duration::from_millis(50);
    }
    tokio::time::sleep(pause).await;
    pause = (pause * 2).min(Duration::from_secs(2));
  }
}

async fn exchange(stream: &mut Link, buf: &mut BytesMut, cmds: &[Command]) -> Result<Vec<Reply>> {
  let mut out = BytesMut::new();
  for cmd in cmds {
    resp::encode(&mut out, cmd);
  }
  stream.write_all(&out).await.map_err(|e| fail(&e.to_string()))?;
  stream.flush().await.map_err(|e| fail(&e.to_string()))?;
  let mut replies = Vec::with_capacity(cmds.len());
  while replies.len() < cmds.len() {
    while replies.len() < cmds.len() {
      match resp::next_reply(buf)? {
        Some(Ok(reply)) => replies.push(reply),
        Some(Err(e)) => return Err(fail(&e.message)),
        None => break,
      }
    }
    if replies.len() < cmds.len() && stream.read_buf(buf).await.map_err(|e| fail(&e.to_string()))? == 0 {
      return Err(fail("the invalidation connection was closed during setup"));
    }
  }
  Ok(replies)
}

async fn listen(settings: &LaneSettings, near: &NearCache, mode: &Mode) -> Result<()> {
  let mut stream = link::connect(&settings.endpoint, settings.tls.as_ref(), settings.connect_timeout)
    .await
    .map_err(|e| fail(&e.message))?;
  let mut buf = BytesMut::with_capacity(16 * 1024);
  let mut setup: Vec<Command> = crate::core::lane::auth_command(settings).into_iter().collect();
  // RESP3: invalidations arrive as push frames, no subscription needed.
  setup.push(Command::new("HELLO", vec![Value::from("3")]));
  let name =
    settings.connection_name.as_deref().map_or_else(|| "resilis-tracking".to_string(), |n| format!("{n}-tracking"));
  setup.push(Command::new("CLIENT", vec![Value::from("SETNAME"), Value::from(name.as_str())]));
  setup.push(Command::new("CLIENT", vec![Value::from("ID")]));
  let id = match exchange(&mut stream, &mut buf, &setup).await?.pop() {
    Some(Reply::Int(id)) => id,
    _ => return Err(fail("CLIENT ID gave no id")),
  };
  if let Mode::Broadcast(_) = mode {
    let args = ["TRACKING", "on", "BCAST"].iter().map(|a| Value::from(*a)).collect();
    exchange(&mut stream, &mut buf, &[Command::new("CLIENT", args)]).await?;
  }
  // Receiving from here on: reads may be cached.
  match mode {
    Mode::Redirect => near.set_redirect(id),
    Mode::Broadcast(up) => up.store(true, Ordering::Release),
  }
  let mut next_tick = tokio::time::Instant::now() + near.tick_every();
  loop {
    while let Some(reply) = resp::next_reply(&mut buf)? {
      if let Ok(Reply::Array(parts)) = reply {
        on_push(near, parts);
      }
    }
    // The TTL tick rides on this loop: it runs exactly while the cache can hold anything.
    let read = tokio::time::timeout_at(next_tick, stream.read_buf(&mut buf)).await;
    if tokio::time::Instant::now() >= next_tick {
      if matches!(mode, Mode::Redirect) {
        near.tick();
      }
      next_tick = tokio::time::Instant::now() + near.tick_every();
    }
    match read {
      Err(_) => {}
      Ok(Err(e)) => return Err(fail(&e.to_string())),
      Ok(Ok(0)) => return Err(fail("the invalidation connection was closed")),
      Ok(Ok(_)) => {}
    }
  }
}

/// `>2 invalidate (keys | null)`: drop the keys, or everything.
fn on_push(near: &NearCache, parts: Vec<Reply>) {
  let is_invalidate = matches!(parts.first(), Some(Reply::Bytes(kind)) if kind.as_ref() == b"invalidate");
  if !is_invalidate {
    return;
  }
  match parts.into_iter().nth(1) {
    Some(Reply::Array(keys)) => {
      for key in keys {
        if let Reply::Bytes(k) = key {
          near.invalidate(&k);
        }
      }
    }
    Some(Reply::Bytes(k)) => near.invalidate(&k),
    _ => near.flush(),
  }
}

fn fail(what: &str) -> Error {
  Error::new(ErrorKind::Connection, format!("near cache invalidation connection: {what}"))
}
