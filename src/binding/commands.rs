//! The command table (src/core/commands.rs) as the facade reads it, once
//! at load: lib/commands.js and lib/multi.js build their methods from it.

use napi_derive::napi;

use crate::core::commands::{self, Method};

/// One row of the command table.
#[napi(object)]
pub struct CommandRow {
  /// Lowercase.
  pub name: String,
  /// Changes no data.
  pub read: bool,
  pub write: bool,
  /// A write that leaves the same data when run twice.
  pub idempotent: bool,
  /// May hold its connection until data arrives (BLPOP, XREAD BLOCK, WAIT, ...).
  pub blocking: bool,
  /// Uses or changes connection state (SELECT, MULTI, WATCH, CLIENT, SUBSCRIBE, ...).
  pub stateful: bool,
  pub script: bool,
  pub pubsub: bool,
  /// The memory store answers it while Redis is away.
  pub memory: bool,
  /// The service's generated method: `keyed` (`name(key, ...rest)`), `keys`
  /// (`name(...keys)`) or `blocking` (`name(...keys, timeout)`); absent
  /// for a command without one.
  pub method: Option<String>,
}

#[napi]
pub fn command_table() -> Vec<CommandRow> {
  commands::all()
    .iter()
    .map(|c| CommandRow {
      name: c.name.to_string(),
      read: c.has(commands::READ),
      write: c.has(commands::WRITE),
      idempotent: c.has(commands::IDEMPOTENT),
      blocking: c.may_block(),
      stateful: c.has(commands::STATEFUL),
      script: c.has(commands::SCRIPT),
      pubsub: c.has(commands::PUBSUB),
      memory: c.memory.is_some(),
      method: c.method().map(|m| {
        match m {
          Method::Keyed => "keyed",
          Method::Keys => "keys",
          Method::Blocking => "blocking",
        }
        .to_string()
      }),
    })
    .collect()
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn every_row_crosses_with_its_flags_and_method() {
    let rows = command_table();
    assert_eq!(rows.len(), commands::all().len());
    let row = |name: &str| rows.iter().find(|r| r.name == name).expect(name);
    let get = row("get");
    assert!(get.read && !get.write && get.memory && get.method.as_deref() == Some("keyed"));
    assert_eq!(row("del").method.as_deref(), Some("keys"));
    let blpop = row("blpop");
    assert!(blpop.blocking && !blpop.memory && blpop.method.as_deref() == Some("blocking"));
    let watch = row("watch");
    assert!(watch.stateful && !watch.pubsub);
    assert!(row("subscribe").pubsub && row("evalsha_ro").script && row("set").idempotent);
    assert_eq!(row("wait").method, None);
  }
}
