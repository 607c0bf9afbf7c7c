//! hookline's own events ("operational events"), published to the
//! operator's URL (`HOOKLINE_OPS_WEBHOOK_URL`) through the ordinary signed
//! delivery path: `delivery.exhausted`, `delivery.failed`,
//! `subscription.failing`, `.recovered`, `.disabled`, `.created`,
//! `.updated`, `.deleted` (docs/operations.md shows each payload).

use tracing::warn;

use crate::api::events::ValidEvent;
use crate::context::{Context, OPS_TENANT};
use crate::model::{EventType, Subscription, TenantId};

impl Context {
    /// Publishes one of hookline's own events to the operator's URL, through
    /// the ordinary signed delivery path (a one-off delivery of the
    /// [`OPS_TENANT`] tenant, signed with `HOOKLINE_OPS_WEBHOOK_SECRET`).
    /// `occurrence` names this occurrence: the same one is published once,
    /// however often its message is handled; another is a new event. Best
    /// effort: a failure to publish is logged, never a reason to handle the
    /// message again. Events about the ops tenant's own deliveries are not
    /// published (no loops).
    pub(crate) async fn emit(
        &self,
        about: &TenantId,
        ty: &str,
        occurrence: &str,
        payload: serde_json::Value,
    ) {
        let Some(url) = &self.settings.ops_url else { return };
        if about.as_str() == OPS_TENANT {
            return;
        }
        let (Ok(payload), Ok(tenant), Ok(event_type)) =
            (serde_json::value::to_raw_value(&payload), TenantId::parse(OPS_TENANT), EventType::parse(ty))
        else {
            return;
        };
        let ev = ValidEvent {
            tenant,
            event_type,
            payload,
            idempotency_key: Some(format!("{ty}:{occurrence}")),
            webhook_url: Some(url.clone()),
            channels: Vec::new(),
            ordering_key: None,
            keyed_at: None,
        };
        for result in self.accept_events(vec![Ok(ev)]).await {
            if let Err(e) = result {
                warn!(error = %e, event_type = ty, "could not publish an operational event");
            }
        }
    }

    /// Publishes a change of a subscription by the API: `subscription.` +
    /// `change`, its view (no secret, header values masked) and `extra`.
    pub(crate) async fn emit_subscription(
        &self,
        change: &str,
        occurrence: &str,
        sub: &Subscription,
        extra: serde_json::Value,
    ) {
        if self.settings.ops_url.is_none() {
            return;
        }
        let view = serde_json::to_value(crate::api::subscriptions::SubscriptionView::from(sub))
            .unwrap_or(serde_json::Value::Null);
        let payload = merged(serde_json::json!({"subscription": view}), extra);
        self.emit(&sub.tenant, &format!("subscription.{change}"), occurrence, payload).await;
    }
}

/// `base` with the fields of `more` added (both objects).
pub(crate) fn merged(mut base: serde_json::Value, more: serde_json::Value) -> serde_json::Value {
    if let (Some(b), serde_json::Value::Object(m)) = (base.as_object_mut(), more) {
        b.extend(m);
    }
    base
}
