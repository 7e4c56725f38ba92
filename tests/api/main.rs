//! Black-box tests: the real application on an ephemeral port, a stand-in platform.

mod browser;
mod client;
mod flow;
mod helpers;
mod logging;
mod pages;
mod sandbox;
mod state;
