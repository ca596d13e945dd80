//! The napi layer: converts JS values to core commands and core replies
//! and errors back to JS. No Redis logic lives here.

mod args;
mod bare_fn;
mod boundary;
mod commands;
mod completions;
mod dispatch;
mod errors;
mod event_loop;
mod near_get;
mod packed;
mod partitioning;
mod reply;
mod service;
mod submit;
mod symbols;
