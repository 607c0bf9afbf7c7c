//! What every role's logic works with: the ports ([`Context`]) and the
//! service-wide settings ([`ServiceSettings`]). The API operations ([`crate::api`]),
//! the deliver handler ([`crate::deliver`]) and the scheduler
//! ([`crate::scheduler`]) are methods on the one context, which the Lambda
//! functions and the embedded binary build once per process.

use std::sync::Arc;
use std::time::Duration;

use crate::guard::TargetGuard;
use crate::policy::{DisablePolicy, RetryPolicy};
use crate::ports::{
    Clock, DeadLetters, DeliveryQueue, DeliveryStore, Entropy, EventStore, NoDeadLetters, Store,
    SubscriptionStore, TenantStore,
};

/// Most subscriptions one tenant may have unless configured
/// (`HOOKLINE_MAX_SUBSCRIPTIONS_PER_TENANT`).
pub const DEFAULT_MAX_SUBSCRIPTIONS_PER_TENANT: usize = 1000;
/// The most that limit may be set to: one event goes to at most
/// [`crate::model::MAX_DELIVERIES_PER_EVENT`] targets (its one-off URL
/// among them), and an event item on DynamoDB holds a stub for each.
pub const MAX_SUBSCRIPTIONS_LIMIT: usize = crate::model::MAX_DELIVERIES_PER_EVENT - 1;
/// Default payload limit: 256 KiB.
pub const DEFAULT_MAX_PAYLOAD_BYTES: usize = 256 * 1024;
/// The most a payload limit may be set to: an SQS message holds 1 MiB, and
/// a delivery's message carries ids only, but the event record and the
/// request body must stay well inside DynamoDB's 400 KB item limit.
pub const MAX_PAYLOAD_LIMIT_BYTES: usize = 350 * 1024;

/// Service-wide settings the handlers need (read once, by `Config`).
#[derive(Debug, Clone)]
pub struct ServiceSettings {
    /// The schedule of subscriptions without their own, and of one-off URLs.
    pub retry: RetryPolicy,
    /// When an endpoint is disabled for failing.
    pub disable: DisablePolicy,
    /// Largest accepted event payload, in bytes.
    pub max_payload_bytes: usize,
    /// How long a delivery whose message is on the queue may wait before the
    /// scheduler assumes the message lost and enqueues it again; also the
    /// lease a scheduler run holds on what it claims.
    pub queue_grace: Duration,
    /// How long an old secret keeps signing after a rotation.
    pub rotation_grace: Duration,
    /// Which targets are allowed.
    pub guard: TargetGuard,
    /// Where hookline's own operational events go (`HOOKLINE_OPS_WEBHOOK_URL`).
    pub ops_url: Option<crate::target::TargetUrl>,
    /// What signs them (`HOOKLINE_OPS_WEBHOOK_SECRET`).
    pub ops_secret: Option<crate::signing::Secret>,
    /// A delivery failing this many attempts in a row announces its
    /// subscription as failing (`subscription.failing`).
    pub failing_after: u32,
    /// Whether events accepted are counted by tenant
    /// (`HOOKLINE_METRICS_BY_TENANT`).
    pub metrics_by_tenant: bool,
    /// What signs portal links and sessions (`HOOKLINE_PORTAL_KEY`); none:
    /// no portal.
    pub portal_key: Option<crate::auth::PortalKey>,
    /// The sites whose pages may show the portal in a frame
    /// (`HOOKLINE_PORTAL_FRAME_ANCESTORS`, origins); none: only the
    /// portal's own.
    pub portal_frame_ancestors: Vec<String>,
    /// The HTTP proxy every delivery goes through (`HOOKLINE_EGRESS_PROXY`);
    /// none: straight to the receiver.
    pub egress_proxy: Option<url::Url>,
    /// The platform's name, logo and colour on the portal
    /// (`HOOKLINE_PORTAL_NAME`, `HOOKLINE_PORTAL_LOGO`,
    /// `HOOKLINE_PORTAL_ACCENT`).
    pub brand: crate::brand::Brand,
    /// Subscriptions may name only declared exact event types
    /// (`HOOKLINE_DECLARED_TYPES_ONLY`).
    pub declared_types_only: bool,
    /// Attempts are counted by hour for the charts (`HOOKLINE_CHARTS`).
    pub charts: bool,
    /// Most subscriptions one tenant may have
    /// (`HOOKLINE_MAX_SUBSCRIPTIONS_PER_TENANT`).
    pub max_subscriptions_per_tenant: usize,
}

/// The tenant hookline's operational events belong to. It is reserved: no
/// API caller publishes to it or subscribes to it; `HOOKLINE_OPS_WEBHOOK_SECRET`
/// signs its deliveries.
pub const OPS_TENANT: &str = "hookline-ops";

impl Default for ServiceSettings {
    fn default() -> Self {
        Self {
            retry: RetryPolicy::default(),
            disable: DisablePolicy::default(),
            max_payload_bytes: DEFAULT_MAX_PAYLOAD_BYTES,
            queue_grace: Duration::from_secs(15 * 60),
            rotation_grace: Duration::from_secs(24 * 3600),
            guard: TargetGuard::default(),
            ops_url: None,
            ops_secret: None,
            failing_after: 4,
            metrics_by_tenant: true,
            portal_key: None,
            declared_types_only: false,
            charts: true,
            portal_frame_ancestors: Vec::new(),
            brand: crate::brand::Brand::default(),
            egress_proxy: None,
            max_subscriptions_per_tenant: DEFAULT_MAX_SUBSCRIPTIONS_PER_TENANT,
        }
    }
}

/// Everything a handler talks to.
#[derive(Clone)]
pub struct Context {
    /// Subscriptions.
    pub subscriptions: Arc<dyn SubscriptionStore>,
    /// Tenants' secrets.
    pub tenants: Arc<dyn TenantStore>,
    /// Events.
    pub events: Arc<dyn EventStore>,
    /// Deliveries and attempts.
    pub deliveries: Arc<dyn DeliveryStore>,
    /// The declared event types.
    pub catalog: Arc<dyn crate::ports::CatalogStore>,
    /// Names taken once (portal links).
    pub claims: Arc<dyn crate::ports::ClaimStore>,
    /// Hourly attempt counts.
    pub counts: Arc<dyn crate::ports::CountStore>,
    /// Attempts counted and not yet written to `counts`.
    pub tally: Arc<crate::tally::Tally>,
    /// The delivery queue.
    pub queue: Arc<dyn DeliveryQueue>,
    /// Its dead letters (none until [`Context::with_dead_letters`]).
    pub dead_letters: Arc<dyn DeadLetters>,
    /// Time.
    pub clock: Arc<dyn Clock>,
    /// Randomness.
    pub entropy: Arc<dyn Entropy>,
    /// The service-wide settings.
    pub settings: Arc<ServiceSettings>,
    /// This process's slots of rate-limited subscriptions (schedules kept
    /// in this process until [`Context::with_rate_slots`]).
    pub pacer: Arc<crate::pacing::Pacer>,
    /// The tenants' routes this process keeps between publishes.
    pub routes: Arc<crate::routes::RouteCache>,
}

impl Context {
    /// This context for one batch of deliveries: each subscription's
    /// cheaper read made once for the whole batch ([`crate::ports::ReadOnce`]),
    /// not once per delivery. Dropped with the batch, so the next batch reads
    /// afresh.
    pub fn for_one_batch(&self) -> Self {
        Self {
            subscriptions: Arc::new(crate::ports::ReadOnce::new(self.subscriptions.clone())),
            ..self.clone()
        }
    }

    /// A context whose four stores are one object (as every adapter is).
    pub fn new<S: Store + 'static>(
        store: Arc<S>,
        queue: Arc<dyn DeliveryQueue>,
        clock: Arc<dyn Clock>,
        entropy: Arc<dyn Entropy>,
        settings: ServiceSettings,
    ) -> Self {
        Self {
            subscriptions: store.clone(),
            tenants: store.clone(),
            events: store.clone(),
            catalog: store.clone(),
            claims: store.clone(),
            counts: store.clone(),
            tally: Arc::default(),
            deliveries: store,
            queue,
            dead_letters: Arc::new(NoDeadLetters),
            clock,
            entropy,
            settings: Arc::new(settings),
            pacer: Arc::new(crate::pacing::Pacer::new(Arc::new(crate::ports::LocalRateSlots::default()))),
            routes: Arc::default(),
        }
    }

    /// The context with rate-limited subscriptions' schedules shared in
    /// `slots` (several processes sending to the same endpoints).
    pub fn with_rate_slots(mut self, slots: Arc<dyn crate::ports::RateSlots>) -> Self {
        self.pacer = Arc::new(crate::pacing::Pacer::new(slots));
        self
    }

    /// The context with access to the delivery queue's dead letters.
    pub fn with_dead_letters(mut self, dead_letters: Arc<dyn DeadLetters>) -> Self {
        self.dead_letters = dead_letters;
        self
    }

    /// Writes the attempts counted since the last flush; how many sums it
    /// wrote. On failure they stay counted for the next flush.
    pub async fn flush_counts(&self) -> Result<usize, crate::ports::StoreError> {
        self.tally.flush(self.counts.as_ref()).await
    }

    /// A fresh secret from the context's entropy.
    pub(crate) fn new_secret(&self) -> crate::signing::Secret {
        crate::signing::Secret::generate(self.entropy.secret_bytes())
    }
}
