//! The pure-Rust core: configuration, the fred clients, one dispatch path.

pub mod client;
pub mod command;
pub mod config;
pub mod error;
pub mod lane;
pub mod memory;
pub mod reply;
pub mod resp;
pub mod service;
