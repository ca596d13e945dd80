//! Pub/sub receiving: one subscriber connection per service (fred's
//! `SubscriberClient`, on the same deployment as the pool: standalone,
//! sentinel or cluster), opened on the first subscribe and closed by the
//! service's `disconnect()`. Commands never share it, so a subscription
//! does not hold the service's other commands back.
//!
//! Every message goes to one sink (the binding's completion queue). After
//! each reconnect (a killed connection, a restarted server, a sentinel or
//! cluster failover) the channels, patterns and shard channels held are
//! subscribed again; fred's own `manage_subscriptions` is not used because
//! it stops at the first empty set (`SUBSCRIBE` with no channel is an
//! error), so a pattern-only subscriber would never get its patterns back.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use bytes::Bytes;
use fred::clients::SubscriberClient;
use fred::interfaces::{ClientLike, EventInterface, PubsubInterface};
use fred::prelude::{ReconnectPolicy, Value};
use fred::types::config::{ConnectionConfig, PerformanceConfig};
use fred::types::MessageKind;

use crate::core::config::Config;
use crate::core::error::{Error, ErrorKind, Result};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
  Message,
  PMessage,
  SMessage,
}

impl Kind {
  pub fn name(self) -> &'static str {
    match self {
      Kind::Message => "message",
      Kind::PMessage => "pmessage",
      Kind::SMessage => "smessage",
    }
  }
}

/// One received message; `pattern` is set for `pmessage` only.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
  pub kind: Kind,
  pub channel: Bytes,
  pub pattern: Option<Bytes>,
  pub payload: Bytes,
}

pub type Sink = Box<dyn Fn(Message) + Send + Sync>;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
  Subscribe,
  PSubscribe,
  SSubscribe,
  Unsubscribe,
  PUnsubscribe,
  SUnsubscribe,
}

impl Op {
  pub fn parse(name: &str) -> Option<Op> {
    Some(match name.to_ascii_lowercase().as_str() {
      "subscribe" => Op::Subscribe,
      "psubscribe" => Op::PSubscribe,
      "ssubscribe" => Op::SSubscribe,
      "unsubscribe" => Op::Unsubscribe,
      "punsubscribe" => Op::PUnsubscribe,
      "sunsubscribe" => Op::SUnsubscribe,
      _ => return None,
    })
  }

  fn opens(self) -> bool {
    matches!(self, Op::Subscribe | Op::PSubscribe | Op::SSubscribe)
  }
}

/// The open subscriber and the tasks that feed the sink and resubscribe.
struct Open {
  client: SubscriberClient,
  tasks: Vec<tokio::task::JoinHandle<()>>,
}

pub struct PubSub {
  sink: Arc<RwLock<Option<Sink>>>,
  open: tokio::sync::Mutex<Option<Open>>,
  /// Messages lost because the receiver fell more than the buffer behind.
  pub dropped: Arc<std::sync::atomic::AtomicU64>,
}

impl Default for PubSub {
  fn default() -> Self {
    PubSub::new()
  }
}

impl PubSub {
  pub fn new() -> PubSub {
    PubSub {
      sink: Arc::new(RwLock::new(None)),
      open: tokio::sync::Mutex::new(None),
      dropped: Arc::new(std::sync::atomic::AtomicU64::new(0)),
    }
  }

  pub fn set_sink(&self, sink: Sink) {
    if let Ok(mut slot) = self.sink.write() {
      *slot = Some(sink);
    }
  }

  /// Runs one subscribe-family call; resolves the number of subscriptions
  /// held afterwards (channels + patterns; shard channels for the `S` ops),
  /// as the server's own reply counts them.
  /// `switches`: the sentinel follower's count of master switches; the
  /// subscriber reconnects (and resubscribes) on the new master when it moves.
  pub async fn run(
    &self,
    config: &Config,
    op: Op,
    names: Vec<String>,
    switches: Option<Arc<AtomicU64>>,
  ) -> Result<u64> {
    if op.opens() && names.is_empty() {
      return Err(Error::argument("subscribe needs at least one channel or pattern"));
    }
    let mut slot = self.open.lock().await;
    if slot.is_none() {
      if !op.opens() {
        return Ok(0); // nothing to unsubscribe from
      }
      *slot = Some(self.connect(config, switches).await?);
    }
    let Some(open) = slot.as_ref() else { return Ok(0) };
    let client = &open.client;
    let list = match op {
      Op::Unsubscribe => unsubscribe_list(names, client.tracked_channels()),
      Op::PUnsubscribe => unsubscribe_list(names, client.tracked_patterns()),
      Op::SUnsubscribe => unsubscribe_list(names, client.tracked_shard_channels()),
      _ => names,
    };
    // Nothing held to drop: no command (a bare UNSUBSCRIBE would mean "all").
    let sent = if list.is_empty() {
      Ok(())
    } else {
      match op {
        Op::Subscribe => client.subscribe(list).await,
        Op::PSubscribe => client.psubscribe(list).await,
        Op::Unsubscribe => client.unsubscribe(list).await,
        Op::PUnsubscribe => client.punsubscribe(list).await,
        // One command per channel: shard channels of one call may live in different slots.
        Op::SSubscribe => each(list, |n| client.ssubscribe(n)).await,
        Op::SUnsubscribe => each(list, |n| client.sunsubscribe(n)).await,
      }
    };
    sent.map_err(Error::from)?;
    Ok(match op {
      Op::SSubscribe | Op::SUnsubscribe => client.tracked_shard_channels().len() as u64,
      _ => (client.tracked_channels().len() + client.tracked_patterns().len()) as u64,
    })
  }

  async fn connect(&self, config: &Config, switches: Option<Arc<AtomicU64>>) -> Result<Open> {
    let fred = crate::core::client::fred_config(config)?;
    let perf = PerformanceConfig {
      default_command_timeout: config.command_timeout,
      // A burst of messages waits here for the receiving task, not dropped.
      broadcast_channel_capacity: 1 << 16,
      ..PerformanceConfig::default()
    };
    let connection = ConnectionConfig {
      connection_timeout: config.connect_timeout,
      internal_command_timeout: config.connect_timeout,
      max_command_attempts: config.max_retries.saturating_add(1),
      ..ConnectionConfig::default()
    };
    let ms = |d: Duration| d.as_millis().min(u32::MAX as u128) as u32;
    // Retries forever: a subscription outlives any outage.
    let mut policy =
      ReconnectPolicy::new_exponential(0, ms(config.reconnect_min_delay), ms(config.reconnect_max_delay), 2);
    policy.set_jitter(100);
    let client = SubscriberClient::new(fred, Some(perf), Some(connection), Some(policy));
    let mut tasks = Vec::new();
    let mut messages = client.message_rx();
    let sink = self.sink.clone();
    let dropped = self.dropped.clone();
    let patterns = client.clone();
    tasks.push(tokio::spawn(async move {
      use tokio::sync::broadcast::error::RecvError;
      let mut namer = PatternNamer::default();
      loop {
        let msg = match messages.recv().await {
          Ok(m) => m,
          Err(RecvError::Lagged(n)) => {
            dropped.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
            continue;
          }
          Err(RecvError::Closed) => break,
        };
        let channel = msg.channel.into_inner();
        let payload = value_bytes(msg.value);
        let (kind, pattern) = match msg.kind {
          MessageKind::Message => (Kind::Message, None),
          MessageKind::SMessage => (Kind::SMessage, None),
          MessageKind::PMessage => {
            let held: Vec<Bytes> = patterns.tracked_patterns().into_iter().map(|p| p.into_inner()).collect();
            (Kind::PMessage, namer.name(&held, &channel, &payload))
          }
        };
        if let Ok(guard) = sink.read() {
          if let Some(sink) = guard.as_ref() {
            sink(Message { kind, channel, pattern, payload });
          }
        }
      }
    }));
    let started = tokio::time::timeout(config.connect_timeout, client.init()).await;
    match started {
      Ok(Ok(_connection_task)) => {}
      failed => {
        for t in &tasks {
          t.abort();
        }
        let _ = tokio::time::timeout(Duration::from_millis(200), client.quit()).await;
        return Err(match failed {
          Ok(Err(e)) => Error::from(e),
          _ => Error::new(
            ErrorKind::Connection,
            format!("the pub/sub connection did not open within {} ms", config.connect_timeout.as_millis()),
          ),
        });
      }
    }
    let mut reconnects = client.reconnect_rx();
    let again = client.clone();
    tasks.push(tokio::spawn(async move {
      use tokio::sync::broadcast::error::RecvError;
      while let Ok(_) | Err(RecvError::Lagged(_)) = reconnects.recv().await {
        resubscribe(&again).await;
      }
    }));
    if let Some(switches) = switches {
      // fred asks the sentinels again only when it reconnects: make it
      // reconnect as soon as the follower has seen +switch-master.
      let follower = client.clone();
      tasks.push(tokio::spawn(async move {
        let mut seen = switches.load(Ordering::Acquire);
        loop {
          tokio::time::sleep(Duration::from_millis(20)).await;
          let now = switches.load(Ordering::Acquire);
          if now != seen {
            seen = now;
            let _ = follower.force_reconnection().await;
          }
        }
      }));
    }
    Ok(Open { client, tasks })
  }

  /// Closes the subscriber (the service's `disconnect()`); the next
  /// subscribe opens a new one.
  pub async fn close(&self) {
    let Some(open) = self.open.lock().await.take() else { return };
    for t in &open.tasks {
      t.abort();
    }
    let _ = tokio::time::timeout(Duration::from_millis(1_000), open.client.quit()).await;
  }
}

/// Subscribes again to everything held, skipping empty sets.
async fn resubscribe(client: &SubscriberClient) {
  let channels: Vec<String> = client.tracked_channels().iter().map(|s| s.to_string()).collect();
  let patterns: Vec<String> = client.tracked_patterns().iter().map(|s| s.to_string()).collect();
  if !channels.is_empty() {
    let _ = client.subscribe(channels).await;
  }
  if !patterns.is_empty() {
    let _ = client.psubscribe(patterns).await;
  }
  for shard in client.tracked_shard_channels() {
    let _ = client.ssubscribe(shard.to_string()).await;
  }
}

async fn each<F, Fut>(names: Vec<String>, f: F) -> std::result::Result<(), fred::error::Error>
where
  F: Fn(String) -> Fut,
  Fut: std::future::Future<Output = std::result::Result<(), fred::error::Error>>,
{
  for n in names {
    f(n).await?;
  }
  Ok(())
}

/// No names: every one held (the server's own meaning of a bare UNSUBSCRIBE).
fn unsubscribe_list(names: Vec<String>, held: std::collections::BTreeSet<fred::bytes_utils::Str>) -> Vec<String> {
  if names.is_empty() {
    held.iter().map(|s| s.to_string()).collect()
  } else {
    names
  }
}

fn value_bytes(v: Value) -> Bytes {
  match v {
    Value::Bytes(b) => b,
    Value::String(s) => s.into_inner(),
    Value::Null => Bytes::new(),
    other => Bytes::from(other.into_string().unwrap_or_default()),
  }
}

/// fred drops the pattern of a `pmessage`; it is recovered from the
/// patterns held. When several match one channel, the server sends one
/// `pmessage` per pattern, back to back: the k-th copy of the same
/// (channel, payload) in a row gets the k-th matching pattern (sorted), so
/// each pattern's listeners see each message once.
#[derive(Default)]
struct PatternNamer {
  last: Option<(Bytes, Bytes)>,
  next: usize,
}

impl PatternNamer {
  fn name(&mut self, held: &[Bytes], channel: &Bytes, payload: &Bytes) -> Option<Bytes> {
    let mut matching: Vec<&Bytes> = held.iter().filter(|p| glob_match(p, channel)).collect();
    matching.sort();
    if matching.is_empty() {
      self.last = None;
      return None;
    }
    let same = self.last.as_ref().is_some_and(|(c, p)| c == channel && p == payload);
    if !same || self.next >= matching.len() {
      self.next = 0;
    }
    self.last = Some((channel.clone(), payload.clone()));
    let chosen = matching[self.next].clone();
    self.next += 1;
    Some(chosen)
  }
}

/// Redis' glob (`stringmatchlen`): `*`, `?`, `[abc]`, `[^a-z]`, `\x`.
pub fn glob_match(pattern: &[u8], s: &[u8]) -> bool {
  let (mut p, mut i) = (0usize, 0usize);
  // Backtracking point for the last `*`: (pattern after it, string position).
  let mut star: Option<(usize, usize)> = None;
  while i < s.len() {
    let step = if p < pattern.len() {
      match pattern[p] {
        b'*' => {
          star = Some((p + 1, i));
          p += 1;
          continue;
        }
        b'?' => Some(p + 1),
        b'[' => class_match(pattern, p, s[i]),
        b'\\' if p + 1 < pattern.len() => (pattern[p + 1] == s[i]).then_some(p + 2),
        c => (c == s[i]).then_some(p + 1),
      }
    } else {
      None
    };
    match (step, star) {
      (Some(next), _) => {
        p = next;
        i += 1;
      }
      (None, Some((after, from))) => {
        p = after;
        i = from + 1;
        star = Some((after, from + 1));
      }
      (None, None) => return false,
    }
  }
  pattern[p.min(pattern.len())..].iter().all(|&c| c == b'*')
}

/// `[...]` at `pattern[start]` against `c`: the position after the class
/// when it matches.
fn class_match(pattern: &[u8], start: usize, c: u8) -> Option<usize> {
  let mut p = start + 1;
  let negate = pattern.get(p) == Some(&b'^');
  if negate {
    p += 1;
  }
  let mut matched = false;
  while p < pattern.len() && pattern[p] != b']' {
    if pattern[p] == b'\\' && p + 1 < pattern.len() {
      matched |= pattern[p + 1] == c;
      p += 2;
    } else if p + 2 < pattern.len() && pattern[p + 1] == b'-' && pattern[p + 2] != b']' {
      let (a, b) = (pattern[p].min(pattern[p + 2]), pattern[p].max(pattern[p + 2]));
      matched |= a <= c && c <= b;
      p += 3;
    } else {
      matched |= pattern[p] == c;
      p += 1;
    }
  }
  // An unterminated class ends the pattern (as Redis reads it).
  let after = if p < pattern.len() { p + 1 } else { p };
  (matched != negate).then_some(after)
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn globs_match_like_redis() {
    let m = |p: &str, s: &str| glob_match(p.as_bytes(), s.as_bytes());
    assert!(m("news.*", "news.sport"));
    assert!(m("*", ""));
    assert!(!m("news.*", "weather"));
    assert!(m("h?llo", "hello"));
    assert!(!m("h?llo", "hllo"));
    assert!(m("h[ae]llo", "hallo"));
    assert!(!m("h[^e]llo", "hello"));
    assert!(m("h[a-b]llo", "hbllo"));
    assert!(m("a*b*c", "axxbyyc"));
    assert!(!m("a*b*c", "axxbyy"));
    assert!(m("a\\*", "a*"));
    assert!(!m("a\\*", "ab"));
    assert!(m("*.x", "a.b.x"));
  }

  #[test]
  fn several_matching_patterns_each_get_one_copy() {
    let held = vec![Bytes::from("n*"), Bytes::from("news.*"), Bytes::from("other")];
    let (c, p) = (Bytes::from("news.a"), Bytes::from("hi"));
    let mut namer = PatternNamer::default();
    let names: Vec<_> = (0..4).map(|_| namer.name(&held, &c, &p)).collect();
    let want = |s: &str| Some(Bytes::from(s.to_string()));
    assert_eq!(names, vec![want("n*"), want("news.*"), want("n*"), want("news.*")]);
    assert_eq!(namer.name(&held, &Bytes::from("zzz"), &p), None);
  }

  #[test]
  fn ops_parse() {
    assert_eq!(Op::parse("PSubscribe"), Some(Op::PSubscribe));
    assert_eq!(Op::parse("get"), None);
    assert!(Op::SSubscribe.opens() && !Op::Unsubscribe.opens());
  }
}
