//! The pure-Rust core: configuration, the fred clients, one dispatch path.

pub mod client;
pub mod command;
pub mod config;
pub mod error;
pub mod memory;
pub mod reply;
pub mod service;
