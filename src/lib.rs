//! iop-callback: the redirect_uri service for Alibaba's open platform (AliExpress, Lazada).
//!
//! The flow reads top to bottom: `iop` (the platform: signing, client, answers), `flow`
//! (states and results of authorizations in progress), `store` (tokens in SQLite), `web`
//! (routes and pages), `startup` (wiring and serving).

pub mod cli;
pub mod clock;
pub mod commands;
pub mod config;
pub mod demo;
pub mod error;
pub mod flow;
pub mod healthcheck;
pub mod iop;
pub mod metrics;
pub mod refresher;
pub mod sandbox;
pub mod startup;
pub mod store;
pub mod telemetry;
pub mod web;
