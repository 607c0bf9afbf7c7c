//! The event-type catalog: the platform declares its event types (a name,
//! a description, an example payload, optionally a JSON Schema) so the
//! portal can show them as toggles. Operator keys declare and remove; any
//! key reads.

use serde::Deserialize;

use super::ApiError;
use super::page::ListResponse;
use crate::auth::Caller;
use crate::context::Context;
use crate::model::{EventType, EventTypeInfo};
use crate::validation::ValidationError;

/// Most types a platform declares.
pub const MAX_EVENT_TYPES: usize = 500;
/// Longest description.
pub const MAX_DESCRIPTION: usize = 1000;
/// Largest example or schema, as JSON text.
pub const MAX_DOCUMENT_BYTES: usize = 16 * 1024;

/// `PUT /v1/event-types/{name}`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeclareEventType {
    /// What it means.
    #[serde(default)]
    pub description: Option<String>,
    /// An example payload.
    #[serde(default)]
    pub example: Option<serde_json::Value>,
    /// A JSON Schema (an object or a boolean).
    #[serde(default)]
    pub schema: Option<serde_json::Value>,
}

fn document(
    field: &'static str,
    v: Option<serde_json::Value>,
) -> Result<Option<serde_json::Value>, ValidationError> {
    match v {
        Some(v) if v.to_string().len() > MAX_DOCUMENT_BYTES => {
            Err(ValidationError::too_long(field, MAX_DOCUMENT_BYTES, "bytes"))
        }
        other => Ok(other),
    }
}

impl Context {
    /// `PUT /v1/event-types/{name}`: declares or replaces a type.
    pub async fn declare_event_type(
        &self,
        caller: &Caller,
        name: &str,
        req: DeclareEventType,
    ) -> Result<EventTypeInfo, ApiError> {
        caller.operator()?;
        let name = EventType::parse(name)?;
        let description = match req.description {
            Some(d) if d.chars().count() > MAX_DESCRIPTION => {
                return Err(ValidationError::too_long("description", MAX_DESCRIPTION, "characters").into());
            }
            d => d.filter(|d| !d.is_empty()),
        };
        let schema = document("schema", req.schema)?;
        if schema.as_ref().is_some_and(|s| !s.is_object() && !s.is_boolean()) {
            return Err(ValidationError::invalid("schema", "a JSON Schema is an object or a boolean").into());
        }
        let info = EventTypeInfo {
            name,
            description,
            example: document("example", req.example)?,
            schema,
            updated_at: self.clock.now(),
        };
        let known = self.catalog.event_types().await?;
        if known.len() >= MAX_EVENT_TYPES && !known.iter().any(|t| t.name == info.name) {
            return Err(ApiError::Conflict(format!("at most {MAX_EVENT_TYPES} event types can be declared")));
        }
        self.catalog.put_event_type(&info).await?;
        Ok(info)
    }

    /// With `HOOKLINE_DECLARED_TYPES_ONLY`, every exact type a subscription
    /// names must be declared (prefixes such as `video.*` stay free).
    pub(crate) async fn check_declared(
        &self,
        patterns: &[crate::model::EventTypePattern],
    ) -> Result<(), ApiError> {
        if !self.settings.declared_types_only {
            return Ok(());
        }
        let declared = self.catalog.event_types().await?;
        for p in patterns {
            if let crate::model::EventTypePattern::Exact(t) = p
                && !declared.iter().any(|d| d.name == *t)
            {
                return Err(ValidationError::invalid(
                    "event_types",
                    format!("{t} is not a declared event type (GET /v1/event-types)"),
                )
                .into());
            }
        }
        Ok(())
    }

    /// `GET /v1/event-types`: every declared type, by name.
    pub async fn event_types(&self, _caller: &Caller) -> Result<ListResponse<EventTypeInfo>, ApiError> {
        Ok(ListResponse { data: self.catalog.event_types().await?, next_cursor: None })
    }

    /// `DELETE /v1/event-types/{name}`: removes a declaration (endpoints
    /// that chose it keep it).
    pub async fn remove_event_type(&self, caller: &Caller, name: &str) -> Result<(), ApiError> {
        caller.operator()?;
        let name = EventType::parse(name)?;
        if self.catalog.delete_event_type(&name).await? {
            Ok(())
        } else {
            Err(ApiError::NotFound("event type"))
        }
    }
}
