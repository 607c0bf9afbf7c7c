//! The embedded mode's adapters: the SQLite store, the durable queue in the
//! same file, and the worker loops that consume it.

pub mod db;
mod queue;
mod sql;
mod store;
mod subscriptions;
pub mod worker;

pub use queue::{Lease, MAX_RECEIVES, QueueStats, SqliteQueue};
pub use store::{Purged, SqliteStore};

#[cfg(test)]
mod tests;
