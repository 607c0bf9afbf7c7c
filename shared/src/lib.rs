//! hookline: a webhook delivery service's shared library.
//!
//! The platform publishes an event once; hookline fans it out to every
//! subscription that wants it, signs each request, delivers it, retries
//! failures on a schedule and records every attempt. This crate holds what
//! the Lambda functions and the embedded binary share: the models, signing,
//! the retry policy, the ports the handlers are written against, and the
//! handlers themselves.

#[cfg(feature = "http-api")]
pub mod api;
#[cfg(feature = "aws")]
pub mod aws;
pub mod config;
#[cfg(feature = "sqlite")]
pub mod embedded;
pub mod guard;
pub mod handlers;
pub mod model;
pub mod policy;
pub mod ports;
pub mod presets;
#[cfg(feature = "sender")]
pub mod sender;
pub mod signing;
pub mod wire;

#[cfg(test)]
mod proptests;
