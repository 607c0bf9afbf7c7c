//! The records that travel through the flow — events, subscriptions,
//! deliveries and their attempts — with their ids, names and the rules
//! that change them.

mod catalog;
mod delivery;
mod delivery_settings;
mod event;
mod ids;
mod names;
mod status;
mod subscription;
mod tenant;

pub use catalog::EventTypeInfo;
pub use delivery::{Attempt, AttemptUpdate, Delivery, DeliveryTarget};
pub use delivery_settings::DeliverySettings;
pub use event::Event;
pub use ids::{DeliveryId, EventId, MAX_DELIVERIES_PER_EVENT, SubscriptionId, tenant_hash, ulid};
pub use names::{EventType, EventTypePattern, TenantId, wants};
pub use status::{DeliveryStatus, IllegalTransition, Transition};
pub use subscription::{Health, Subscription};
pub use tenant::Tenant;
