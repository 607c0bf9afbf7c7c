//! The `hookline` binary end to end, over real HTTP to receivers that
//! verify signatures with their own code: the API and the demo, the seed
//! providers' formats, the shared scenarios, hostile input and clients,
//! and the portal in a real headless browser.

// A test asserts by panicking, helpers included.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod adversarial;
mod e2e;
mod portal_browser;
mod portal_pages;
mod presets;
mod scenarios;
