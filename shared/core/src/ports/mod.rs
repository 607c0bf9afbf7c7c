//! The traits the handlers are written against. Each has a real adapter
//! (DynamoDB/SQS in `hookline-aws`, SQLite in `hookline-sqlite`) and an
//! in-memory fake in [`fakes`] (feature `fakes`, for tests). Nothing in this
//! crate imports an SDK, a database or an async runtime.

#[cfg(any(test, feature = "fakes"))]
pub mod contract;
#[cfg(any(test, feature = "fakes"))]
pub mod fakes;
#[cfg(any(test, feature = "fakes"))]
pub mod samples;

mod catalog;
mod claims;
mod clock;
mod counts;
mod deliveries;
mod entropy;
mod error;
mod events;
mod page;
mod queue;
mod rate;
mod sender;
mod subscriptions;
mod tenants;

pub use catalog::*;
pub use claims::*;
pub use clock::*;
pub use counts::*;
pub use deliveries::*;
pub use entropy::*;
pub use error::*;
pub use events::*;
pub use page::*;
pub use queue::*;
pub use rate::*;
pub use sender::*;
pub use subscriptions::*;
pub use tenants::*;

/// Every store port in one object, as each adapter provides them.
pub trait Store:
    SubscriptionStore + TenantStore + EventStore + DeliveryStore + CatalogStore + CountStore + ClaimStore
{
}

impl<T: SubscriptionStore + TenantStore + EventStore + DeliveryStore + CatalogStore + CountStore + ClaimStore>
    Store for T
{
}
