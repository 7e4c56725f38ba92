//! Black-box tests: the real application on an ephemeral port, a stand-in platform.

mod binary;
mod browser;
mod client;
mod flow;
mod helpers;
mod logging;
mod ops;
mod pages;
mod sandbox;
mod state;
