//! fred (client.rs) as a transport: sentinel, read replicas, TLS, and
//! every command the lanes refuse. Its sends are async: they run as a
//! task on the service's runtime.

use std::sync::Arc;

use futures::FutureExt;

use crate::core::client::RedisClients;
use crate::core::command::Command;
use crate::core::error::Result;
use crate::core::reply::Reply;
use crate::core::transport::Outbound;

pub fn send<B: Outbound>(clients: &Arc<RedisClients>, runtime: &tokio::runtime::Handle, batch: B) {
  let cmds: Vec<Command> = batch.redis().cloned().collect();
  let clients = clients.clone();
  runtime.spawn(async move {
    let n = cmds.len();
    // A panic inside fred answers the batch, it does not lose it.
    let results = match std::panic::AssertUnwindSafe(pipeline(&clients, cmds)).catch_unwind().await {
      Ok(results) => results,
      Err(payload) => {
        let e = crate::core::guard::panic_error(payload);
        (0..n).map(|_| Err(e.clone())).collect()
      }
    };
    batch.complete(results);
  });
}

/// One pipeline on one connection, so the batch's order is kept. Blocking
/// commands go on their own so they do not hold the others back.
pub async fn pipeline(clients: &RedisClients, cmds: Vec<Command>) -> Vec<Result<Reply>> {
  if cmds.is_empty() {
    Vec::new()
  } else if cmds.len() == 1 || cmds.iter().any(Command::is_blocking) {
    futures::future::join_all(cmds.into_iter().map(|c| clients.send(c))).await
  } else {
    clients.pipeline(cmds).await
  }
}
