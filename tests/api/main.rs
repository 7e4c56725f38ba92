//! Black-box tests: the real application on an ephemeral port, a stand-in platform.

// A test binary has no public API: its helpers are `pub` to be shared between modules.
#![allow(unreachable_pub)]

mod admin;
mod apps;
mod binary;
mod browser;
mod cli;
mod client;
mod failing_disk;
mod failover;
mod flood;
mod flow;
mod helpers;
mod hostile;
mod logging;
mod ops;
mod own_postgres;
mod pages;
mod proxy;
mod push;
mod refresher;
mod replicas;
mod sandbox;
mod slow_clients;
mod startup_errors;
mod state;
mod token_api;
mod webhooks;
