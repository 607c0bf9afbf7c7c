//! The platform's event-type catalog: the types it declares, so the portal
//! can offer them as toggles with a description and an example.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::names::EventType;

/// One declared event type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventTypeInfo {
    /// Its name (`video.created`).
    pub name: EventType,
    /// What it means, for the platform's customers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// An example payload.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub example: Option<serde_json::Value>,
    /// A JSON Schema of its payloads (kept and shown; not enforced).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<serde_json::Value>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}
