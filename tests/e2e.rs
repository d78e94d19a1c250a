//! Harmonia's end-to-end tests, one binary: each module drives the real `harmonia` binary, a
//! real `harmonia serve` on a loopback port, or the server library over real RocksDB.
//! (One binary rather than one per file: each links wasmtime, and linking them was most of a
//! rebuild.)

mod support;

mod api_contract;
mod auth;
mod cli;
mod connections;
mod console;
mod console_use;
mod crash;
mod event_streams;
mod events;
mod limits;
mod patterns;
mod plugins_api;
mod serve;
mod subscriptions;
mod templates;
mod tls;
mod waits;
mod workflows;
