//! Subscriptions: an endpoint, the event types it wants and how requests to
//! it are made. The request bodies arrive with loose types (strings, raw
//! JSON) so each field is checked here, by name, into the model types; the
//! views never carry a secret unless they hand one out, nor a custom
//! header's value. Every change is written conditioned on the version it
//! was made from, and made again from a fresh read when it lost a race.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tracing::info;

use super::delivery_settings::{DeliverySettingsInput, DeliverySettingsView, check_secret_fits};
use super::page::ListResponse;
use super::{ApiError, reserved};
use crate::auth::Caller;
use crate::context::Context;
use crate::model::TypeSchedules;
use crate::model::{DeliverySettings, EventTypePattern, Subscription, SubscriptionId, TenantId};
use crate::policy::RateLimit;
use crate::ports::{PageRequest, Written, span};
use crate::signing::{Secret, SecretSet};
use crate::target::TargetUrl;
use crate::validation::ValidationError;

/// Longest subscription description.
pub const MAX_DESCRIPTION_LEN: usize = 1024;
/// Most event type patterns on one subscription.
pub const MAX_EVENT_TYPES: usize = 64;
/// How many times a change is made again after losing a race. Each round
/// of a race has a winner, so a change loses at most as many rounds as
/// there are writers racing it: 16 rides out 15 concurrent changes to one
/// subscription (5 did not, on a loaded CI machine: a rotation racing 8
/// PATCHes lost five rounds in a row); past that the caller gets 409.
const TRIES: usize = 16;

/// `POST /v1/subscriptions`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateSubscriptionRequest {
    /// Owner.
    pub tenant: String,
    /// Endpoint.
    pub url: String,
    /// Exact types and `prefix.*` patterns; absent or empty: all.
    #[serde(default)]
    pub event_types: Option<Vec<String>>,
    /// Free text.
    #[serde(default)]
    pub description: Option<String>,
    /// Defaults to true.
    #[serde(default)]
    pub active: Option<bool>,
    /// `"standard"` or a format object.
    #[serde(default)]
    pub signature: Option<serde_json::Value>,
    /// A body format object; defaults to the standard envelope.
    #[serde(default)]
    pub body: Option<serde_json::Value>,
    /// Extra headers.
    #[serde(default)]
    pub headers: Option<BTreeMap<String, String>>,
    /// Per-attempt timeout, 1000–30000 ms.
    #[serde(default)]
    pub timeout_ms: Option<u64>,
    /// Delays such as `["5s", "5m"]`; absent: the preset's or the service's.
    #[serde(default)]
    pub retry_schedule: Option<serde_json::Value>,
    /// A secret to keep (migrating receivers); absent: one is generated.
    #[serde(default)]
    pub secret: Option<String>,
    /// A provider's preset (`transcodely`, `heapstream`, …): its signature,
    /// body, schedule and timeout, each overridable by the fields above.
    #[serde(default)]
    pub preset: Option<String>,
    /// A wait before the first attempt: `30s`, `2m` or seconds, at most 15 min.
    #[serde(default)]
    pub initial_delay: Option<serde_json::Value>,
    /// The most deliveries a second, 1–1000; absent: no limit.
    #[serde(default)]
    pub rate_limit: Option<u64>,
    /// Channels to listen on (up to 100); absent or empty: all events.
    #[serde(default)]
    pub channels: Option<Vec<String>>,
    /// A payload filter ([`crate::model::Filter`]); absent: none.
    #[serde(default)]
    pub filter: Option<serde_json::Value>,
    /// Retry schedules for some event types or prefixes, over `retry_schedule`.
    #[serde(default)]
    pub retry_schedules: Option<BTreeMap<String, serde_json::Value>>,
    /// Deliver the events of one `ordering_key` one at a time, in order.
    #[serde(default)]
    pub ordered: Option<bool>,
}

/// Checks a subscription's channels.
fn parse_subscription_channels(names: &[String]) -> Result<Vec<String>, ValidationError> {
    crate::model::parse_channels("channels", names, crate::model::MAX_SUBSCRIPTION_CHANNELS)
}

/// Checks event type patterns.
pub fn parse_event_types(raw: &[String]) -> Result<Vec<EventTypePattern>, ValidationError> {
    if raw.len() > MAX_EVENT_TYPES {
        return Err(ValidationError::too_long("event_types", MAX_EVENT_TYPES, "entries"));
    }
    raw.iter().map(|s| EventTypePattern::parse(s)).collect()
}

/// Checks a description.
pub fn parse_description(raw: Option<String>) -> Result<Option<String>, ValidationError> {
    match raw {
        Some(d) if d.chars().count() > MAX_DESCRIPTION_LEN => {
            Err(ValidationError::too_long("description", MAX_DESCRIPTION_LEN, "characters"))
        }
        Some(d) if d.is_empty() => Ok(None),
        other => Ok(other),
    }
}

impl CreateSubscriptionRequest {
    /// Checks every field and builds the subscription (version 1).
    /// `generated` is used unless the request brings its own secret.
    pub fn into_subscription(
        self,
        id: SubscriptionId,
        now: DateTime<Utc>,
        generated: Secret,
    ) -> Result<Subscription, ValidationError> {
        let tenant = TenantId::parse(&self.tenant)?;
        let url = TargetUrl::parse(&self.url)?;
        let event_types = parse_event_types(self.event_types.as_deref().unwrap_or_default())?;
        let description = parse_description(self.description)?;
        let rate_limit = self.rate_limit.map(RateLimit::new).transpose()?;
        let channels = parse_subscription_channels(self.channels.as_deref().unwrap_or_default())?;
        let filter = self.filter.map(crate::model::Filter::parse).transpose()?;
        let retry_schedules =
            self.retry_schedules.as_ref().map(TypeSchedules::parse).transpose()?.unwrap_or_default();
        let settings = DeliverySettingsInput {
            preset: self.preset,
            signature: self.signature,
            body: self.body,
            headers: self.headers,
            timeout_ms: self.timeout_ms,
            retry_schedule: self.retry_schedule.map(Some),
            initial_delay: self.initial_delay.map(Some),
        }
        .apply(&DeliverySettings::default())?;
        let secret = match self.secret {
            Some(s) => Secret::parse(&s)?,
            None => generated,
        };
        check_secret_fits(&secret, &settings.signature)?;
        Ok(Subscription {
            id,
            tenant,
            url,
            event_types,
            channels,
            filter,
            ordered: self.ordered.unwrap_or(false),
            description,
            active: self.active.unwrap_or(true),
            disabled_reason: None,
            settings,
            retry_schedules,
            secrets: SecretSet::new(secret),
            rate_limit,
            paused_until: None,
            failing_since: None,
            failing_announced: false,
            created_at: now,
            updated_at: now,
            version: 1,
        })
    }
}

/// `PATCH /v1/subscriptions/{id}`: absent fields stay as they are; a
/// `null` description, retry schedule or initial delay clears it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateSubscriptionRequest {
    /// New endpoint.
    #[serde(default)]
    pub url: Option<String>,
    /// New patterns.
    #[serde(default)]
    pub event_types: Option<Vec<String>>,
    /// New description (`null` clears).
    #[serde(default, deserialize_with = "nullable")]
    pub description: Option<Option<String>>,
    /// Enable or disable.
    #[serde(default)]
    pub active: Option<bool>,
    /// New signature format.
    #[serde(default)]
    pub signature: Option<serde_json::Value>,
    /// New body format.
    #[serde(default)]
    pub body: Option<serde_json::Value>,
    /// New headers (replace the old set).
    #[serde(default)]
    pub headers: Option<BTreeMap<String, String>>,
    /// New timeout.
    #[serde(default)]
    pub timeout_ms: Option<u64>,
    /// New schedule (`null`: the service's).
    #[serde(default, deserialize_with = "nullable")]
    pub retry_schedule: Option<Option<serde_json::Value>>,
    /// New wait before first attempts (`null`: none).
    #[serde(default, deserialize_with = "nullable")]
    pub initial_delay: Option<Option<serde_json::Value>>,
    /// New rate limit (`null`: none).
    #[serde(default, deserialize_with = "nullable")]
    pub rate_limit: Option<Option<u64>>,
    /// Switch to a preset: its signature, body, schedule and timeout, each
    /// overridable by the fields above.
    #[serde(default)]
    pub preset: Option<String>,
    /// New channels (`[]` or `null`: all events).
    #[serde(default, deserialize_with = "nullable")]
    pub channels: Option<Option<Vec<String>>>,
    /// New filter (`null`: none).
    #[serde(default, deserialize_with = "nullable")]
    pub filter: Option<Option<serde_json::Value>>,
    /// New per-type schedules, replacing the old set (`null`: none).
    #[serde(default, deserialize_with = "nullable")]
    pub retry_schedules: Option<Option<BTreeMap<String, serde_json::Value>>>,
    /// Ordered per `ordering_key` or not, from the next event on.
    #[serde(default)]
    pub ordered: Option<bool>,
}

/// A field that may be absent (`None`), `null` (`Some(None)`) or a value.
pub(crate) fn nullable<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

impl UpdateSubscriptionRequest {
    /// Applies the checked changes to `sub`, as its next version. Nothing
    /// changes unless every field is valid.
    pub fn apply(&self, sub: &Subscription, now: DateTime<Utc>) -> Result<Subscription, ValidationError> {
        let mut next = sub.clone();
        next.settings = DeliverySettingsInput {
            preset: self.preset.clone(),
            signature: self.signature.clone(),
            body: self.body.clone(),
            headers: self.headers.clone(),
            timeout_ms: self.timeout_ms,
            retry_schedule: self.retry_schedule.clone(),
            initial_delay: self.initial_delay.clone(),
        }
        .apply(&sub.settings)?;
        if self.preset.is_some() || self.signature.is_some() {
            check_secret_fits(&next.secrets.current, &next.settings.signature)?;
        }
        if let Some(url) = &self.url {
            next.url = TargetUrl::parse(url)?;
        }
        if let Some(types) = &self.event_types {
            next.event_types = parse_event_types(types)?;
        }
        if let Some(description) = &self.description {
            next.description = parse_description(description.clone())?;
        }
        if let Some(rate) = self.rate_limit {
            next.rate_limit = rate.map(RateLimit::new).transpose()?;
        }
        if let Some(channels) = &self.channels {
            next.channels = parse_subscription_channels(channels.as_deref().unwrap_or_default())?;
        }
        if let Some(filter) = &self.filter {
            next.filter = filter.clone().map(crate::model::Filter::parse).transpose()?;
        }
        if let Some(schedules) = &self.retry_schedules {
            next.retry_schedules =
                schedules.as_ref().map(TypeSchedules::parse).transpose()?.unwrap_or_default();
        }
        if let Some(ordered) = self.ordered {
            next.ordered = ordered;
        }
        if let Some(active) = self.active {
            next.active = active;
            if active {
                next.disabled_reason = None;
                next.failing_since = None;
            }
        }
        next.updated_at = now;
        next.version = sub.version + 1;
        Ok(next)
    }
}

/// A subscription as the API shows it: no secret, no custom header value.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SubscriptionView {
    /// Id.
    pub id: SubscriptionId,
    /// Owner.
    pub tenant: TenantId,
    /// Endpoint.
    pub url: TargetUrl,
    /// Patterns.
    pub event_types: Vec<EventTypePattern>,
    /// Channels it listens on (absent: all events).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub channels: Vec<String>,
    /// Its payload filter, as written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filter: Option<crate::model::Filter>,
    /// Whether the events of one `ordering_key` reach it in order.
    pub ordered: bool,
    /// Free text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Active flag.
    pub active: bool,
    /// Why hookline disabled it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disabled_reason: Option<String>,
    /// Since when every attempt to it has failed, while that lasts (an
    /// endpoint failing for the disable period is disabled).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failing_since: Option<DateTime<Utc>>,
    /// How requests are made.
    #[serde(flatten)]
    pub settings: DeliverySettingsView,
    /// Retry schedules by event type or prefix.
    #[serde(skip_serializing_if = "TypeSchedules::is_empty")]
    pub retry_schedules: TypeSchedules,
    /// The most deliveries a second.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<RateLimit>,
    /// Nothing is sent before this time: the endpoint answered 429 with
    /// `Retry-After`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub paused_until: Option<DateTime<Utc>>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

impl From<&Subscription> for SubscriptionView {
    fn from(s: &Subscription) -> Self {
        Self {
            id: s.id.clone(),
            tenant: s.tenant.clone(),
            url: s.url.clone(),
            event_types: s.event_types.clone(),
            channels: s.channels.clone(),
            filter: s.filter.clone(),
            ordered: s.ordered,
            description: s.description.clone(),
            active: s.active,
            disabled_reason: s.disabled_reason.clone(),
            failing_since: s.failing_since,
            settings: DeliverySettingsView::from(&s.settings),
            retry_schedules: s.retry_schedules.clone(),
            rate_limit: s.rate_limit,
            paused_until: s.paused_until,
            created_at: s.created_at,
            updated_at: s.updated_at,
        }
    }
}

/// A subscription's current secret, read on purpose (and audited).
#[derive(Debug, Clone, Serialize)]
pub struct SubscriptionSecret {
    /// The subscription.
    pub subscription_id: SubscriptionId,
    /// Its current secret.
    pub secret: String,
}

/// The answer to a creation or rotation: the only time a secret is shown
/// unasked.
#[derive(Debug, Clone, Serialize)]
pub struct SubscriptionWithSecret {
    /// The subscription.
    #[serde(flatten)]
    pub subscription: SubscriptionView,
    /// Its (new) secret.
    pub secret: String,
}

impl Context {
    /// A subscription the caller may reach, as stored now.
    pub(crate) async fn reachable_subscription(
        &self,
        caller: &Caller,
        id: &SubscriptionId,
    ) -> Result<Subscription, ApiError> {
        let sub = self.subscriptions.get_subscription(id).await?.ok_or(ApiError::NotFound("subscription"))?;
        caller.check(&sub.tenant, "subscription")?;
        Ok(sub)
    }

    /// Reads a subscription, makes its next version with `change`, and
    /// writes it conditioned on the version read; a write that lost a race
    /// is made again from a fresh read, a bounded number of times.
    async fn revise_subscription<F>(
        &self,
        caller: &Caller,
        id: &SubscriptionId,
        mut change: F,
    ) -> Result<(Subscription, Subscription), ApiError>
    where
        F: FnMut(&Subscription) -> Result<Subscription, ApiError>,
    {
        for _ in 0..TRIES {
            let read = self.reachable_subscription(caller, id).await?;
            let next = change(&read)?;
            debug_assert_eq!(next.version, read.version + 1);
            match self.subscriptions.update_subscription(&next).await? {
                Written::Done => return Ok((read, next)),
                Written::Missing => return Err(ApiError::NotFound("subscription")),
                Written::Stale => continue,
            }
        }
        Err(ApiError::Conflict(format!(
            "subscription {id} kept changing while this change was made; try again"
        )))
    }

    /// `POST /v1/subscriptions`. A tenant holds at most
    /// `max_subscriptions_per_tenant`, however many are created at once.
    pub async fn create_subscription(
        &self,
        caller: &Caller,
        req: CreateSubscriptionRequest,
    ) -> Result<SubscriptionWithSecret, ApiError> {
        let now = self.clock.now();
        let id = SubscriptionId::generate(now, self.entropy.id_bytes());
        let sub = req.into_subscription(id, now, self.new_secret())?;
        reserved("tenant", &sub.tenant)?;
        caller.check(&sub.tenant, "tenant")?;
        self.settings.guard.accept("url", &sub.url)?;
        self.check_declared(&sub.event_types).await?;
        let max = self.settings.max_subscriptions_per_tenant;
        if !self.subscriptions.insert_subscription(&sub, max).await? {
            return Err(ApiError::Conflict(format!(
                "tenant {} already has {max} subscriptions, the most allowed; delete one first",
                sub.tenant
            )));
        }
        info!(subscription_id = %sub.id, tenant = %sub.tenant, key = %caller.key_id, "subscription created");
        self.emit_subscription("created", sub.id.as_str(), &sub, serde_json::json!({})).await;
        Ok(SubscriptionWithSecret {
            subscription: SubscriptionView::from(&sub),
            secret: sub.secrets.current.expose().to_owned(),
        })
    }

    /// `GET /v1/subscriptions/{id}`.
    pub async fn get_subscription(
        &self,
        caller: &Caller,
        id: &SubscriptionId,
    ) -> Result<SubscriptionView, ApiError> {
        Ok(SubscriptionView::from(&self.reachable_subscription(caller, id).await?))
    }

    /// `GET /v1/subscriptions?tenant=` (a tenant key lists its own).
    pub async fn list_subscriptions(
        &self,
        caller: &Caller,
        tenant: Option<TenantId>,
        page: &PageRequest,
    ) -> Result<ListResponse<SubscriptionView>, ApiError> {
        let tenant = listed_tenant(caller, tenant)?;
        let p = self.subscriptions.list_subscriptions(&tenant, page).await?;
        Ok(ListResponse {
            data: p.items.iter().map(SubscriptionView::from).collect(),
            next_cursor: p.next_cursor,
        })
    }

    /// A page of a tenant's subscriptions whose URL, description, id or one
    /// of whose channels contains `text` (ignoring case), newest first: the
    /// portal's search. Matched on the tenant's routes (what a publish reads,
    /// kept by the process: no scan of the store), each match on the page
    /// then read as it is stored now.
    pub async fn find_subscriptions(
        &self,
        caller: &Caller,
        tenant: Option<TenantId>,
        text: &str,
        page: &PageRequest,
    ) -> Result<ListResponse<SubscriptionView>, ApiError> {
        let tenant = listed_tenant(caller, tenant)?;
        let needle = text.trim().to_lowercase();
        if needle.len() > MAX_SEARCH_LEN {
            return Err(ValidationError::too_long("q", MAX_SEARCH_LEN, "bytes").into());
        }
        let routes = self.routes.routes(self.subscriptions.as_ref(), self.clock.as_ref(), &tenant).await?;
        let mut hits: Vec<&Subscription> = routes
            .iter()
            .filter(|s| page.cursor.as_deref().is_none_or(|c| s.id.as_str() < c))
            .filter(|s| {
                let has = |text: &str| text.to_lowercase().contains(&needle);
                has(s.url.as_str())
                    || has(s.id.as_str())
                    || s.description.as_deref().is_some_and(has)
                    || s.channels.iter().any(|c| has(c.as_str()))
            })
            .collect();
        hits.sort_by(|a, b| b.id.cmp(&a.id));
        let more = hits.len() > page.limit;
        hits.truncate(page.limit);
        let reads = hits.iter().map(|hit| self.subscriptions.get_subscription(&hit.id));
        let data = futures_util::future::try_join_all(reads)
            .await?
            .iter()
            .flatten()
            .map(SubscriptionView::from)
            .collect();
        Ok(ListResponse { data, next_cursor: more.then(|| hits.last().map(|s| s.id.to_string())).flatten() })
    }

    /// The URL and description of each of a tenant's subscriptions, by id:
    /// what the portal names an endpoint by in its delivery log, on a
    /// delivery's page and an event's. Read from the tenant's routes (one
    /// small read when they are kept).
    pub async fn endpoint_names(
        &self,
        caller: &Caller,
        tenant: &TenantId,
    ) -> Result<std::collections::HashMap<SubscriptionId, EndpointName>, ApiError> {
        caller.check(tenant, "tenant")?;
        let routes = self.routes.routes(self.subscriptions.as_ref(), self.clock.as_ref(), tenant).await?;
        Ok(routes
            .iter()
            .map(|s| {
                (s.id.clone(), EndpointName { url: s.url.to_string(), description: s.description.clone() })
            })
            .collect())
    }

    /// `PATCH /v1/subscriptions/{id}`. Disabling cancels pending deliveries.
    pub async fn update_subscription(
        &self,
        caller: &Caller,
        id: &SubscriptionId,
        req: UpdateSubscriptionRequest,
    ) -> Result<SubscriptionView, ApiError> {
        let now = self.clock.now();
        let guard = &self.settings.guard;
        if let Some(types) = &req.event_types {
            self.check_declared(&parse_event_types(types)?).await?;
        }
        let (read, next) = self
            .revise_subscription(caller, id, |sub| {
                let next = req.apply(sub, now)?;
                guard.accept("url", &next.url)?;
                Ok(next)
            })
            .await?;
        if read.active && !next.active {
            let n = self.deliveries.cancel_subscription_deliveries(id, now).await?;
            info!(subscription_id = %id, canceled = n, "subscription disabled");
        }
        let changed = changed_fields(&read, &next);
        if !changed.is_empty() {
            let occurrence = format!("{id}:{}", next.version);
            self.emit_subscription("updated", &occurrence, &next, serde_json::json!({"changed": changed}))
                .await;
        }
        Ok(SubscriptionView::from(&next))
    }

    /// `GET /v1/subscriptions/{id}/secret`: the secret that signs its
    /// requests now, for a receiver that lost it; every read is logged for
    /// audit (`hookline::audit`, with the key).
    pub async fn reveal_subscription_secret(
        &self,
        caller: &Caller,
        id: &SubscriptionId,
    ) -> Result<SubscriptionSecret, ApiError> {
        let sub = self.reachable_subscription(caller, id).await?;
        info!(target: "hookline::audit", subscription_id = %id, tenant = %sub.tenant, key = %caller.key_id, "subscription secret read");
        Ok(SubscriptionSecret { subscription_id: sub.id, secret: sub.secrets.current.expose().to_owned() })
    }

    /// `DELETE /v1/subscriptions/{id}`: pending deliveries are canceled.
    pub async fn delete_subscription(&self, caller: &Caller, id: &SubscriptionId) -> Result<(), ApiError> {
        let sub = self.reachable_subscription(caller, id).await?;
        if !self.subscriptions.delete_subscription(id).await? {
            return Err(ApiError::NotFound("subscription"));
        }
        let n = self.deliveries.cancel_subscription_deliveries(id, self.clock.now()).await?;
        info!(subscription_id = %id, canceled = n, key = %caller.key_id, "subscription deleted");
        let extra = serde_json::json!({"canceled_deliveries": n});
        self.emit_subscription("deleted", id.as_str(), &sub, extra).await;
        Ok(())
    }

    /// `POST /v1/subscriptions/{id}/rotate-secret`: the old secret keeps
    /// signing beside the new one for `grace` (default: the service's).
    pub async fn rotate_subscription_secret(
        &self,
        caller: &Caller,
        id: &SubscriptionId,
        grace: Option<std::time::Duration>,
    ) -> Result<SubscriptionWithSecret, ApiError> {
        let now = self.clock.now();
        let fresh = self.new_secret();
        let until = now + span(grace.unwrap_or(self.settings.rotation_grace));
        let (_, next) = self
            .revise_subscription(caller, id, |sub| {
                let mut next = sub.clone();
                next.secrets.rotate(fresh.clone(), now, until);
                next.updated_at = now;
                next.version = sub.version + 1;
                Ok(next)
            })
            .await?;
        info!(subscription_id = %id, key = %caller.key_id, "subscription secret rotated");
        let occurrence = format!("{id}:{}", next.version);
        self.emit_subscription("updated", &occurrence, &next, serde_json::json!({"changed": ["secret"]}))
            .await;
        Ok(SubscriptionWithSecret {
            subscription: SubscriptionView::from(&next),
            secret: fresh.expose().to_owned(),
        })
    }
}

/// The names of the fields that differ between two versions of a
/// subscription (its bookkeeping aside), compared on the stored record, so
/// a header value that the API masks still counts; `secret` for a rotation.
fn changed_fields(before: &Subscription, after: &Subscription) -> Vec<String> {
    let record = |s: &Subscription| match serde_json::to_value(s) {
        Ok(serde_json::Value::Object(map)) => map,
        _ => serde_json::Map::new(),
    };
    let (before, after) = (record(before), record(after));
    let mut names: Vec<String> = before.keys().chain(after.keys()).cloned().collect();
    names.sort();
    names.dedup();
    names.retain(|k| {
        !matches!(k.as_str(), "updated_at" | "version" | "failing_since" | "failing_announced")
            && before.get(k) != after.get(k)
    });
    names.into_iter().map(|k| if k == "secrets" { "secret".to_owned() } else { k }).collect()
}

/// The longest text a subscription search takes.
pub const MAX_SEARCH_LEN: usize = 200;

/// The tenant a listing is of: the one asked for, else the caller's own.
/// What names an endpoint to a person: its URL, and its description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointName {
    /// Where its requests go.
    pub url: String,
    /// What its owner calls it.
    pub description: Option<String>,
}

fn listed_tenant(caller: &Caller, tenant: Option<TenantId>) -> Result<TenantId, ApiError> {
    let tenant = match (tenant, caller.tenant()) {
        (Some(t), _) => t,
        (None, Some(own)) => own.clone(),
        (None, None) => return Err(ValidationError::missing("tenant").into()),
    };
    caller.check(&tenant, "tenant")?;
    Ok(tenant)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::AttemptTimeout;
    use crate::signing::{GENERATED_SECRET_BYTES, SignatureFormat};
    use crate::wire::BodyFormat;

    fn create(json: &str) -> Result<Subscription, ValidationError> {
        let req: CreateSubscriptionRequest = serde_json::from_str(json).unwrap();
        let now = Utc::now();
        req.into_subscription(
            SubscriptionId::generate(now, [0; 10]),
            now,
            Secret::generate([1; GENERATED_SECRET_BYTES]),
        )
    }

    #[test]
    fn a_minimal_subscription_gets_the_defaults() {
        let s = create(r#"{"tenant":"acme","url":"https://example.com/h"}"#).unwrap();
        assert!(s.active);
        assert!(s.event_types.is_empty());
        assert_eq!(s.settings.signature, SignatureFormat::standard());
        assert_eq!(s.settings.body, BodyFormat::Standard);
        assert_eq!(s.settings.timeout, AttemptTimeout::default());
        assert_eq!(s.settings.retry_schedule, None);
        assert_eq!(s.version, 1);
    }

    #[test]
    fn each_bad_field_is_named_in_its_error() {
        let cases = [
            (r#"{"tenant":"","url":"https://e.com"}"#, "tenant"),
            (r#"{"tenant":"a","url":"ftp://e.com"}"#, "url"),
            (r#"{"tenant":"a","url":"https://e.com","event_types":["a..b"]}"#, "event_types"),
            (r#"{"tenant":"a","url":"https://e.com","timeout_ms":60000}"#, "timeout_ms"),
            (r#"{"tenant":"a","url":"https://e.com","retry_schedule":["5y"]}"#, "retry_schedule"),
            (r#"{"tenant":"a","url":"https://e.com","signature":"md5"}"#, "signature"),
            (r#"{"tenant":"a","url":"https://e.com","headers":{"Host":"x"}}"#, "headers"),
            (r#"{"tenant":"a","url":"https://e.com","headers":{"webhook-id":"x"}}"#, "headers"),
            (r#"{"tenant":"a","url":"https://e.com","secret":"short"}"#, "secret"),
            (r#"{"tenant":"a","url":"https://e.com","secret":"plain-text-secret"}"#, "secret"),
            (r#"{"tenant":"a","url":"https://e.com","body":{"kind":"nope"}}"#, "body"),
        ];
        for (json, field) in cases {
            assert_eq!(create(json).unwrap_err().field(), field, "{json}");
        }
    }

    #[test]
    fn unknown_fields_are_refused() {
        let r = serde_json::from_str::<CreateSubscriptionRequest>(
            r#"{"tenant":"a","url":"https://e.com","colour":"red"}"#,
        );
        assert!(r.is_err());
    }

    #[test]
    fn patch_changes_only_what_it_names_and_null_clears() {
        let s = create(r#"{"tenant":"a","url":"https://e.com","description":"d","retry_schedule":["1s"]}"#)
            .unwrap();
        let patch: UpdateSubscriptionRequest =
            serde_json::from_str(r#"{"description":null,"timeout_ms":2000}"#).unwrap();
        let next = patch.apply(&s, Utc::now()).unwrap();
        assert_eq!(next.description, None);
        assert_eq!(next.settings.timeout.millis(), 2000);
        assert_eq!(next.settings.retry_schedule, s.settings.retry_schedule);
        assert_eq!(next.url, s.url);
        assert_eq!(next.version, s.version + 1, "a change is the next version");
        let patch: UpdateSubscriptionRequest = serde_json::from_str(r#"{"retry_schedule":null}"#).unwrap();
        assert_eq!(patch.apply(&s, Utc::now()).unwrap().settings.retry_schedule, None);
        let bad: UpdateSubscriptionRequest =
            serde_json::from_str(r#"{"url":"nope","active":false}"#).unwrap();
        assert!(bad.apply(&s, Utc::now()).is_err());
    }

    #[test]
    fn views_never_carry_secrets() {
        let s = create(r#"{"tenant":"a","url":"https://e.com","headers":{"Authorization":"Bearer tok_9"}}"#)
            .unwrap();
        let json = serde_json::to_string(&SubscriptionView::from(&s)).unwrap();
        let key_part = &s.secrets.current.expose()["whsec_".len()..];
        assert!(!json.contains(key_part), "{json}");
        assert!(!json.contains("tok_9"), "custom header values are write-only: {json}");
    }
}
