//! The pure-Rust core: configuration, the service and its request pipeline,
//! the transports (lanes, fred, memory) behind one seam.

pub mod blocking;
pub mod breaker;
pub mod client;
pub mod command;
pub mod commands;
pub mod compression;
pub mod config;
pub mod copies;
pub mod error;
pub mod events;
pub mod fallback;
pub mod guard;
pub mod journal;
pub mod journal_file;
pub mod lane;
pub mod limits;
pub mod link;
pub mod memory;
pub mod near_cache;
pub mod node_tracking;
pub mod partitioning;
pub mod pubsub;
pub mod recent_keys;
pub mod reply;
pub mod resilience;
pub mod resp;
pub mod served;
pub mod service;
pub mod stats;
#[cfg(test)]
pub mod test_server;
pub mod topology;
pub mod tracking;
pub mod transport;
pub mod upstash;
pub mod wire;
