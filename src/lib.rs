//! resilis: a Redis service layer for Node.js.
//!
//! `core` is pure Rust (no napi types) and is covered by `cargo test`;
//! `binding` only converts values and errors between JS and the core.

mod binding;
pub mod core;
