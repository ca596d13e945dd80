//! The standalone pipelined lane (lane.rs) as a transport, and which
//! services get one.

use crate::core::config::{Config, Topology};
use crate::core::error::{Error, ErrorKind, Result, Sent};
use crate::core::events::Events;
use crate::core::lane::{Lane, LaneSettings};
use crate::core::link::LinkTls;
use crate::core::transport::Outbound;

/// Encodes the batch while it is still borrowed (no copy of a command),
/// then hands it to the lane.
pub fn send<B: Outbound>(lane: &Lane, batch: B) {
  let (wire, n) = Lane::encode(batch.redis());
  if let Err(done) = lane.send(wire, n, Box::new(move |results| batch.complete(results))) {
    // The lane died since the route was chosen: nothing was sent.
    let e = Error::new(ErrorKind::Connection, "the connection to Redis was lost").with_sent(Sent::No);
    done((0..n).map(|_| Err(e.clone())).collect());
  }
}

/// Standalone (plain TCP or TLS) gets a fast lane; sentinel stays
/// entirely on fred. `base`: `connection_settings`.
pub fn lane_settings(config: &Config, base: &LaneSettings) -> Option<LaneSettings> {
  if !config.enabled || !matches!(config.topology, Topology::Standalone) {
    return None;
  }
  // Upstash: every command goes over REST.
  if !matches!(config.provider, crate::core::config::Provider::Local) {
    return None;
  }
  // Read replicas: reads are routed in RedisClients, so no lane to the primary.
  if !config.read_replicas.is_empty() {
    return None;
  }
  Some(base.clone())
}

/// What every connection of ours needs (the endpoint is the configured
/// one; cluster connections replace it). Fails only on TLS options that
/// do not build (the error names the option). `events` hears of every
/// lane opened (the `resilis:connect` channel).
pub fn connection_settings(config: &Config, events: &Events) -> Result<LaneSettings> {
  Ok(LaneSettings {
    endpoint: config.endpoint.clone(),
    username: config.username.clone(),
    password: config.password.clone(),
    db: config.db,
    connection_name: config.connection_name.clone(),
    connect_timeout: config.connect_timeout,
    command_timeout: config.command_timeout,
    max_in_flight: config.max_in_flight,
    tracking_redirect: None,
    tls: LinkTls::from_config(config)?,
    events: events.clone(),
  })
}
