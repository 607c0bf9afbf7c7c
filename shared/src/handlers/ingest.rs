//! The HTTP API's behaviour, independent of HTTP: subscriptions, publishing
//! with fan-out and idempotency, and reading events and deliveries.

use chrono::{DateTime, Utc};
use tracing::{info, warn};

use super::{ApiError, Context};
use crate::model::api::{
    CreateSubscriptionRequest, DeliveryView, EventView, ListResponse, PublishEventRequest,
    PublishEventResponse, SubscriptionView, SubscriptionWithSecret, UpdateSubscriptionRequest,
};
use crate::model::{
    Delivery, DeliveryId, DeliveryStatus, DeliveryTarget, Event, EventId, SubscriptionId, TenantId,
};
use crate::ports::{DeliveryFilter, Inserted, PageRequest, QueueMessage, Queued, span};
use crate::signing::{Secret, SecretSet};

/// Most items on one page of a list.
pub const MAX_PAGE_LIMIT: usize = 100;
/// Items on a page when the client does not say.
pub const DEFAULT_PAGE_LIMIT: usize = 20;

/// Checks a client's page request.
pub fn page_request(cursor: Option<String>, limit: Option<usize>) -> Result<PageRequest, ApiError> {
    let limit = limit.unwrap_or(DEFAULT_PAGE_LIMIT);
    if limit == 0 || limit > MAX_PAGE_LIMIT {
        return Err(crate::model::ValidationError::OutOfRange {
            field: "limit".into(),
            min: 1,
            max: MAX_PAGE_LIMIT as u64,
        }
        .into());
    }
    if let Some(c) = &cursor
        && (c.len() > 64 || !c.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'))
    {
        return Err(
            crate::model::ValidationError::invalid("cursor", "is not a cursor this API gave out").into()
        );
    }
    Ok(PageRequest { cursor, limit })
}

impl Context {
    fn new_secret(&self) -> Secret {
        Secret::generate(self.entropy.secret_bytes())
    }

    /// `POST /v1/subscriptions`.
    pub async fn create_subscription(
        &self,
        req: CreateSubscriptionRequest,
    ) -> Result<SubscriptionWithSecret, ApiError> {
        let now = self.clock.now();
        let id = SubscriptionId::generate(now, self.entropy.id_bytes());
        let sub = req.into_subscription(id, now, self.new_secret())?;
        self.settings.guard.accept("url", &sub.url)?;
        let existing = self.subscriptions.tenant_subscriptions(&sub.tenant).await?.len();
        if existing >= super::MAX_SUBSCRIPTIONS_PER_TENANT {
            return Err(ApiError::Conflict(format!(
                "tenant {} already has {existing} subscriptions, the most allowed ({}); delete one first",
                sub.tenant,
                super::MAX_SUBSCRIPTIONS_PER_TENANT
            )));
        }
        self.subscriptions.insert_subscription(&sub).await?;
        info!(subscription_id = %sub.id, tenant = %sub.tenant, "subscription created");
        Ok(SubscriptionWithSecret {
            subscription: SubscriptionView::from(&sub),
            secret: sub.secrets.current.expose().to_owned(),
        })
    }

    /// `GET /v1/subscriptions/{id}`.
    pub async fn get_subscription(&self, id: &SubscriptionId) -> Result<SubscriptionView, ApiError> {
        let sub = self.subscriptions.get_subscription(id).await?.ok_or(ApiError::NotFound("subscription"))?;
        Ok(SubscriptionView::from(&sub))
    }

    /// `GET /v1/subscriptions?tenant=`.
    pub async fn list_subscriptions(
        &self,
        tenant: &TenantId,
        page: &PageRequest,
    ) -> Result<ListResponse<SubscriptionView>, ApiError> {
        let p = self.subscriptions.list_subscriptions(tenant, page).await?;
        Ok(ListResponse {
            data: p.items.iter().map(SubscriptionView::from).collect(),
            next_cursor: p.next_cursor,
        })
    }

    /// `PATCH /v1/subscriptions/{id}`. Disabling cancels pending deliveries.
    pub async fn update_subscription(
        &self,
        id: &SubscriptionId,
        req: UpdateSubscriptionRequest,
    ) -> Result<SubscriptionView, ApiError> {
        let sub = self.subscriptions.get_subscription(id).await?.ok_or(ApiError::NotFound("subscription"))?;
        let now = self.clock.now();
        let next = req.apply(&sub, now)?;
        self.settings.guard.accept("url", &next.url)?;
        if !self.subscriptions.update_subscription(&next).await? {
            return Err(ApiError::NotFound("subscription"));
        }
        if sub.active && !next.active {
            let n = self.deliveries.cancel_subscription_deliveries(id, now).await?;
            info!(subscription_id = %id, canceled = n, "subscription disabled");
        }
        Ok(SubscriptionView::from(&next))
    }

    /// `DELETE /v1/subscriptions/{id}`: pending deliveries are canceled.
    pub async fn delete_subscription(&self, id: &SubscriptionId) -> Result<(), ApiError> {
        if !self.subscriptions.delete_subscription(id).await? {
            return Err(ApiError::NotFound("subscription"));
        }
        let n = self.deliveries.cancel_subscription_deliveries(id, self.clock.now()).await?;
        info!(subscription_id = %id, canceled = n, "subscription deleted");
        Ok(())
    }

    /// `POST /v1/subscriptions/{id}/rotate-secret`: the old secret keeps
    /// signing beside the new one for `grace` (default: the service's).
    pub async fn rotate_subscription_secret(
        &self,
        id: &SubscriptionId,
        grace: Option<std::time::Duration>,
    ) -> Result<SubscriptionWithSecret, ApiError> {
        let mut sub =
            self.subscriptions.get_subscription(id).await?.ok_or(ApiError::NotFound("subscription"))?;
        let now = self.clock.now();
        let next = self.new_secret();
        sub.secrets.rotate(next.clone(), now, now + span(grace.unwrap_or(self.settings.rotation_grace)));
        sub.updated_at = now;
        if !self.subscriptions.update_subscription(&sub).await? {
            return Err(ApiError::NotFound("subscription"));
        }
        Ok(SubscriptionWithSecret {
            subscription: SubscriptionView::from(&sub),
            secret: next.expose().to_owned(),
        })
    }

    /// The tenant's secrets, created on first use.
    pub async fn tenant_secrets(&self, tenant: &TenantId) -> Result<SecretSet, ApiError> {
        if let Some(s) = self.tenants.tenant_secrets(tenant).await? {
            return Ok(s);
        }
        Ok(self.tenants.init_tenant_secrets(tenant, &SecretSet::new(self.new_secret())).await?)
    }

    /// `POST /v1/tenants/{tenant}/rotate-secret`: returns the new secret.
    pub async fn rotate_tenant_secret(
        &self,
        tenant: &TenantId,
        grace: Option<std::time::Duration>,
    ) -> Result<Secret, ApiError> {
        let mut set = self.tenant_secrets(tenant).await?;
        let now = self.clock.now();
        let next = self.new_secret();
        set.rotate(next.clone(), now, now + span(grace.unwrap_or(self.settings.rotation_grace)));
        self.tenants.put_tenant_secrets(tenant, &set).await?;
        Ok(next)
    }

    /// `POST /v1/events`: stores the event and one delivery per wanting
    /// subscription (plus the one-off `webhook_url`), then queues them. A
    /// repeated idempotency key answers the first call's result and creates
    /// nothing.
    pub async fn publish_event(
        &self,
        req: PublishEventRequest,
        header_key: Option<&str>,
    ) -> Result<PublishEventResponse, ApiError> {
        let ev = req.validate(header_key)?;
        if let Some(url) = &ev.webhook_url {
            self.settings.guard.accept("webhook_url", url)?;
        }
        let limit = self.settings.max_payload_bytes;
        if ev.payload.get().len() > limit {
            return Err(ApiError::TooLarge { what: "payload", limit });
        }
        let now = self.clock.now();
        let event = Event {
            id: EventId::generate(now, self.entropy.id_bytes()),
            tenant: ev.tenant,
            event_type: ev.event_type,
            payload: ev.payload,
            idempotency_key: ev.idempotency_key,
            webhook_url: ev.webhook_url,
            created_at: now,
        };
        // Every target, with the wait before its first attempt.
        let mut targets: Vec<(DeliveryTarget, std::time::Duration)> = self
            .subscriptions
            .tenant_subscriptions(&event.tenant)
            .await?
            .into_iter()
            .filter(|s| s.wants(&event.event_type))
            .map(|s| {
                let wait = s.initial_delay().min(self.queue.max_delay());
                (DeliveryTarget::Subscription { subscription_id: s.id }, wait)
            })
            .collect();
        if let Some(url) = &event.webhook_url {
            // Make sure the tenant has a secret before anything is queued.
            self.tenant_secrets(&event.tenant).await?;
            targets.push((DeliveryTarget::OneOff { url: url.clone() }, std::time::Duration::ZERO));
        }
        let grace = span(self.settings.queue_grace);
        let deliveries: Vec<Delivery> = sorted(
            targets
                .into_iter()
                .map(|(target, wait)| {
                    let first = now + span(wait);
                    Delivery {
                        id: DeliveryId::generate(now, self.entropy.id_bytes()),
                        event_id: event.id.clone(),
                        tenant: event.tenant.clone(),
                        event_type: event.event_type.clone(),
                        target,
                        status: DeliveryStatus::Pending,
                        attempts: 0,
                        next_attempt_at: Some(first),
                        due_at: Some(first + grace),
                        give_up_reason: None,
                        last_status_code: None,
                        created_at: now,
                        updated_at: now,
                    }
                })
                .collect(),
        );

        match self.events.insert_event(&event, &deliveries).await? {
            Inserted::Duplicate { event_id } => {
                let existing = self.deliveries.event_deliveries(&event_id).await?;
                info!(event_id = %event_id, "idempotent repeat of a published event");
                return Ok(PublishEventResponse::new(event_id, &sorted(existing)));
            }
            Inserted::New => {}
        }
        let messages: Vec<Queued> = deliveries
            .iter()
            .map(|d| Queued {
                message: QueueMessage::Deliver { delivery_id: d.id.clone(), attempt: 1 },
                delay: d.next_attempt_at.and_then(|t| (t - now).to_std().ok()).unwrap_or_default(),
            })
            .collect();
        if let Err(e) = self.queue.enqueue(&messages).await {
            // The event and its deliveries are stored with a due time: the
            // retry scheduler enqueues them when the grace period ends.
            warn!(event_id = %event.id, error = %e, "queue unavailable; the scheduler will pick these deliveries up");
        }
        info!(event_id = %event.id, tenant = %event.tenant, event_type = %event.event_type, deliveries = deliveries.len(), "event accepted");
        Ok(PublishEventResponse::new(event.id, &deliveries))
    }

    /// `GET /v1/events/{id}`.
    pub async fn get_event(&self, id: &EventId) -> Result<EventView, ApiError> {
        let event = self.events.get_event(id).await?.ok_or(ApiError::NotFound("event"))?;
        let deliveries = sorted(self.deliveries.event_deliveries(id).await?);
        Ok(EventView::new(&event, &deliveries))
    }

    /// `GET /v1/deliveries/{id}`, with every attempt.
    pub async fn get_delivery(&self, id: &DeliveryId) -> Result<DeliveryView, ApiError> {
        let d = self.deliveries.get_delivery(id).await?.ok_or(ApiError::NotFound("delivery"))?;
        let attempts = self.deliveries.attempts(id).await?;
        Ok(DeliveryView::new(&d, Some(attempts)))
    }

    /// `GET /v1/deliveries?…`.
    pub async fn list_deliveries(
        &self,
        filter: &DeliveryFilter,
        page: &PageRequest,
    ) -> Result<ListResponse<DeliveryView>, ApiError> {
        if !filter.is_scoped() {
            return Err(crate::model::ValidationError::invalid(
                "filter",
                "name a tenant, subscription or event (tenant=, subscription=, event=)",
            )
            .into());
        }
        let p = self.deliveries.list_deliveries(filter, page).await?;
        Ok(ListResponse {
            data: p.items.iter().map(|d| DeliveryView::new(d, None)).collect(),
            next_cursor: p.next_cursor,
        })
    }
}

fn sorted(mut deliveries: Vec<Delivery>) -> Vec<Delivery> {
    deliveries.sort_by(|a, b| a.id.cmp(&b.id));
    deliveries
}

/// Parses an RFC 3339 time from a query parameter.
pub fn parse_time(field: &'static str, s: &str) -> Result<DateTime<Utc>, ApiError> {
    DateTime::parse_from_rfc3339(s).map(|t| t.with_timezone(&Utc)).map_err(|_| {
        crate::model::ValidationError::invalid(field, "must be an RFC 3339 time like 2026-11-23T09:00:00Z")
            .into()
    })
}
