//! iop-callback: the redirect_uri service for Alibaba's open platform (AliExpress, Lazada).
//!
//! The flow reads top to bottom: `iop` (the platform: signing, the signed client, answers),
//! `flow` (the rules of authorizations in progress), `store` (all shared state: tokens,
//! claimed states, result grants, refresh leases), `web` (routes and pages), `startup`
//! (wiring and serving), `events` (pushes and lifecycle events handed on to webhooks). `sandbox` is a stand-in platform that only shares the HTTP
//! `layers` and `assets` with the service.

pub mod admin;
pub mod apps;
pub mod assets;
pub mod cli;
pub mod clock;
pub mod commands;
pub mod config;
pub mod demo;
pub mod events;
pub mod flow;
#[doc(hidden)]
pub mod fuzzing;
pub mod healthcheck;
pub mod iop;
pub mod layers;
mod lock;
mod log_budget;
pub mod metrics;
mod network;
pub mod proxy;
pub mod random;
mod redact;
pub mod renewal;
pub mod runtime;
pub mod sandbox;
pub mod serve;
pub mod services;
pub mod startup;
pub mod store;
pub mod telemetry;
pub mod tokens;
pub mod web;
