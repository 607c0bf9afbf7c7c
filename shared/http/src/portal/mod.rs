//! The portal: HTML pages for one tenant, served by the same router as the
//! API, rendered on the server (maud: escaped by construction, checked at
//! compile time) with no script and no request to another site.
//!
//! `GET /portal/login?token=` opens a link from
//! `POST /v1/tenants/{tenant}/portal-sessions` and sets the session cookie
//! (HttpOnly, scoped to `/portal`; `SameSite=None; Secure` over HTTPS so it
//! works inside the platform's iframe, `Lax` over plain HTTP). Every page
//! then acts as that tenant's caller through the same operations as the
//! API, so a session reaches nothing of another tenant: anything else
//! answers as not found.

mod charts;
mod deliveries;
mod endpoints;
mod events;
mod forms;
mod layout;
mod operator;
mod session;
mod test_events;

use axum::Router;
use axum::routing::{get, post};
use deliveries::{attempt_request, deliveries, delivery, redeliver};
use endpoints::{
    create_endpoint, delete_endpoint, edit_endpoint, endpoint, endpoints, replay_endpoint, reveal_secret,
    rotate_secret, set_active, shown_secret,
};

use crate::ApiState;

pub(crate) use layout::{branded, frame_policy};
use operator::{dead_letters, event_types, service, tenants};
use session::{MAX_FORM, login};
use test_events::test_endpoint;

/// The session cookie's name.
pub const COOKIE: &str = "hookline_portal";

/// The portal's routes.
pub(crate) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/portal/login", get(login))
        .route("/portal/logo", get(layout::logo))
        .route("/portal/copy.js", get(layout::copy_js))
        .route("/portal", get(endpoints))
        .route("/portal/", get(endpoints))
        .route("/portal/deliveries", get(deliveries))
        .route("/portal/deliveries/{id}", get(delivery))
        .route("/portal/deliveries/{id}/redeliver", post(redeliver))
        .route("/portal/deliveries/{id}/attempts/{number}", get(attempt_request))
        .route("/portal/events/{id}", get(events::event))
        .route("/portal/endpoints/{id}/active", post(set_active))
        .route("/portal/endpoints", post(create_endpoint))
        .route("/portal/endpoints/{id}", get(endpoint).post(edit_endpoint))
        .route("/portal/endpoints/{id}/delete", post(delete_endpoint))
        .route("/portal/endpoints/{id}/test", post(test_endpoint))
        .route("/portal/endpoints/{id}/replay", post(replay_endpoint))
        .route("/portal/endpoints/{id}/reveal-secret", post(reveal_secret))
        .route("/portal/endpoints/{id}/secret", get(shown_secret))
        .route("/portal/dead-letters", get(dead_letters))
        .route("/portal/service", get(service))
        .route("/portal/tenants", get(tenants))
        .route("/portal/event-types", get(event_types))
        .route("/portal/endpoints/{id}/rotate-secret", post(rotate_secret))
        // No form is near this; a larger body is refused before it is read.
        .layer(axum::extract::DefaultBodyLimit::max(2 * MAX_FORM))
}
