//! The in-memory store (memory.rs) as a transport: every command answered
//! now, on the caller's thread.

use crate::core::command::Command;
use crate::core::error::Result;
use crate::core::memory::MemoryStore;
use crate::core::reply::Reply;
use crate::core::transport::Outbound;

pub fn send<B: Outbound>(store: &MemoryStore, batch: B) {
  let results = execute(store, batch.redis());
  batch.complete(results);
}

pub fn execute<'a>(store: &MemoryStore, cmds: impl Iterator<Item = &'a Command>) -> Vec<Result<Reply>> {
  cmds.map(|c| store.execute(c)).collect()
}
