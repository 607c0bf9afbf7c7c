//! The records that travel through the flow — events, subscriptions,
//! deliveries and their attempts — with their ids, names and the rules
//! that change them.

mod catalog;
mod delivery;
mod delivery_settings;
mod event;
mod filter;
mod ids;
mod names;
mod status;
mod subscription;
mod tenant;

pub use catalog::EventTypeInfo;
pub use delivery::{Attempt, AttemptUpdate, Delivery, DeliveryTarget, order_group};
pub use delivery_settings::DeliverySettings;
pub use event::{Event, MAX_ORDERING_KEY_LEN};
pub use filter::{
    Filter, MAX_CHANNEL_LEN, MAX_EVENT_CHANNELS, MAX_FILTER_BYTES, MAX_FILTER_DEPTH, MAX_FILTER_NODES,
    MAX_FILTER_SET, MAX_SUBSCRIPTION_CHANNELS, Routed, on_channels, parse_channels,
};
pub use ids::{DeliveryId, EventId, MAX_DELIVERIES_PER_EVENT, SubscriptionId, tenant_hash, ulid};
pub use names::{EventType, EventTypePattern, TenantId, wants};
pub use status::{DeliveryStatus, IllegalTransition, Transition};
pub use subscription::{Health, MAX_TYPE_SCHEDULES, Subscription, TypeSchedules};
pub use tenant::Tenant;
