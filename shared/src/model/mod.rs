//! The payload models: ids, names, targets, and the records that travel
//! through the flow (events, subscriptions, deliveries, attempts), plus the
//! HTTP API's request and response types.

pub mod api;
mod error;
mod ids;
mod names;
mod records;
mod status;
mod target;

pub use error::ValidationError;
pub use ids::{DeliveryId, EventId, SubscriptionId};
pub use names::{EventType, EventTypePattern, TenantId, wants};
pub use records::{Attempt, Delivery, DeliveryTarget, Event, Subscription};
pub use status::{DeliveryStatus, IllegalTransition, Transition};
pub use target::{CustomHeaders, TargetUrl};
