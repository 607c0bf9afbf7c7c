//! The declared event types.

use async_trait::async_trait;

use super::error::StoreError;
use crate::model::{EventType, EventTypeInfo};

/// The platform's declared event types.
#[async_trait]
pub trait CatalogStore: Send + Sync {
    /// Declares (or replaces) an event type.
    async fn put_event_type(&self, info: &EventTypeInfo) -> Result<(), StoreError>;
    /// Every declared type, by name.
    async fn event_types(&self) -> Result<Vec<EventTypeInfo>, StoreError>;
    /// Removes a declaration; `false` if there was none.
    async fn delete_event_type(&self, name: &EventType) -> Result<bool, StoreError>;
}
