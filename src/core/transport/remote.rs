//! A remote client as a transport (service/backend.rs): fred (client.rs:
//! sentinel, read replicas, TLS, and every command the lanes refuse) or
//! the Upstash REST client. Its sends are async: they run as a task on
//! the service's runtime.

use std::sync::Arc;

use futures::FutureExt;

use crate::core::command::Command;
use crate::core::service::Backend;
use crate::core::transport::Outbound;

pub fn send<B: Outbound>(clients: &Arc<Backend>, runtime: &tokio::runtime::Handle, batch: B) {
  let cmds: Vec<Command> = batch.redis().cloned().collect();
  let clients = clients.clone();
  runtime.spawn(async move {
    let n = cmds.len();
    // A panic inside fred answers the batch, it does not lose it.
    let results = match std::panic::AssertUnwindSafe(clients.batch(cmds)).catch_unwind().await {
      Ok(results) => results,
      Err(payload) => {
        let e = crate::core::guard::panic_error(payload);
        (0..n).map(|_| Err(e.clone())).collect()
      }
    };
    batch.complete(results);
  });
}
