//! hookline's core: everything the functions and the embedded binary share
//! that does no I/O of its own.
//!
//! The platform publishes an event once; hookline fans it out to every
//! subscription that wants it, signs each request, delivers it, retries
//! failures on a schedule and records every attempt. This crate holds the
//! models, signing, the retry policy, the ports the logic is written
//! against, and the logic itself: the API's operations ([`api`]), one
//! delivery attempt ([`deliver`]) and the retry scheduler ([`scheduler`]).
//! The adapters — the HTTP API, the HTTP sender, SQLite, AWS — are crates
//! of their own beside this one, so no layer can reach past another.
//!
//! Layers, bottom up: [`validation`] → [`target`], [`signing`], [`policy`]
//! → [`wire`] → [`presets`], [`model`] → [`guard`], [`ports`] → [`auth`],
//! [`tally`], [`pacing`] → [`context`], [`config`] → [`api`] → [`deliver`],
//! [`scheduler`]; [`telemetry`] names what they count. No module imports one
//! that imports it back (`scripts/check-modules`, in CI).

pub mod api;
pub mod auth;
pub mod brand;
pub mod config;
pub mod context;
pub mod deliver;
pub mod guard;
pub mod model;
mod ops;
pub mod pacing;
pub mod policy;
pub mod ports;
pub mod presets;
pub mod routes;
pub mod scheduler;
pub mod signing;
pub mod tally;
pub mod target;
pub mod telemetry;
pub mod validation;
pub mod wire;

pub use context::{Context, ServiceSettings};

#[cfg(test)]
mod flow_tests;
#[cfg(test)]
mod proptests;
