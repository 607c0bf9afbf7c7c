//! Signing in from a portal link, the session cookie, and form posts checked against the session's anti-forgery token.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use maud::html;

use hookline::auth::Caller;
use hookline::auth::portal::{SESSION_TTL, Session};
use hookline::model::SubscriptionId;

use super::COOKIE;
use super::layout::{capitalised, problem, secured, signed_out};
use crate::ApiState;
use crate::extract::{param, query};

/// The session the cookie holds.
pub(super) fn session(s: &ApiState, headers: &HeaderMap) -> Option<Session> {
    let cookies = headers.get_all(header::COOKIE).into_iter().filter_map(|v| v.to_str().ok());
    let token = cookies
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find_map(|(name, value)| (name == COOKIE).then_some(value))?;
    s.ctx.portal_session(token).ok()
}

/// The tenant's caller, from the session cookie.
pub(super) fn caller(s: &ApiState, headers: &HeaderMap) -> Option<Caller> {
    session(s, headers).map(|session| session.caller())
}

/// A posted form's fields.
pub(super) type Form = Vec<(String, String)>;

/// The largest form a portal action takes (a test event's payload, as a
/// form encodes it, is the largest field).
pub(super) const MAX_FORM: usize = 64 * 1024;

/// A form post that passed its checks: the session it came with, and its
/// fields.
pub(super) struct Posted {
    pub(super) session: Session,
    pub(super) fields: Form,
}

impl Posted {
    pub(super) fn caller(&self) -> Caller {
        self.session.caller()
    }

    /// A field's value, trimmed; empty when absent.
    pub(super) fn field(&self, name: &str) -> String {
        self.fields.iter().find(|(k, _)| k == name).map(|(_, v)| v.trim().to_owned()).unwrap_or_default()
    }
}

/// A form post: a session, and the session's anti-forgery token in the
/// form (a page of another site cannot know it).
pub(super) fn posted(s: &ApiState, headers: &HeaderMap, body: &[u8]) -> Result<Posted, Box<Response>> {
    let Some(session) = session(s, headers) else { return Err(Box::new(signed_out())) };
    if body.len() > MAX_FORM {
        return Err(Box::new(problem(
            StatusCode::PAYLOAD_TOO_LARGE,
            "Too much",
            "That form is larger than any of ours.",
        )));
    }
    let fields: Form = url::form_urlencoded::parse(body).into_owned().collect();
    let token = fields.iter().find(|(k, _)| k == "csrf").map(|(_, v)| v.as_str()).unwrap_or_default();
    if !s.ctx.portal_csrf_ok(&session, token) {
        return Err(Box::new(problem(
            StatusCode::FORBIDDEN,
            "This action was refused",
            "The form did not come from this page. Reload the page and try again.",
        )));
    }
    Ok(Posted { session, fields })
}

/// A form post to one endpoint's action, as an extractor: the checked
/// post ([`posted`]), the endpoint's id, and the id as the path had it.
pub(super) struct EndpointPost {
    pub(super) post: Posted,
    pub(super) id: SubscriptionId,
    pub(super) raw_id: String,
}

impl FromRequest<ApiState> for EndpointPost {
    type Rejection = Response;

    async fn from_request(req: axum::extract::Request, s: &ApiState) -> Result<Self, Response> {
        let (mut parts, body) = req.into_parts();
        let Path(raw_id) =
            Path::<String>::from_request_parts(&mut parts, s).await.map_err(IntoResponse::into_response)?;
        let headers = parts.headers.clone();
        let body = Bytes::from_request(axum::extract::Request::from_parts(parts, body), s)
            .await
            .map_err(IntoResponse::into_response)?;
        let post = posted(s, &headers, &body).map_err(|r| *r)?;
        let id = endpoint_id(&raw_id).map_err(|r| *r)?;
        Ok(Self { post, id, raw_id })
    }
}

/// An endpoint id from a path, or the page that says there is none.
pub(super) fn endpoint_id(id: &str) -> Result<SubscriptionId, Box<Response>> {
    id.parse().map_err(|_| {
        Box::new(problem(StatusCode::NOT_FOUND, "No such endpoint", "There is no endpoint with this id."))
    })
}

pub(super) fn https(headers: &HeaderMap) -> bool {
    headers.get("x-forwarded-proto").and_then(|v| v.to_str().ok()) == Some("https")
}

pub(super) async fn login(State(s): State<ApiState>, headers: HeaderMap, RawQuery(q): RawQuery) -> Response {
    let token = query(q.as_deref(), &["token"]).ok().and_then(|p| param(&p, "token").map(str::to_owned));
    let Some(token) = token else {
        return problem(StatusCode::BAD_REQUEST, "This link is incomplete", "The link has no token.");
    };
    match s.ctx.open_portal(&token).await {
        Err(e) => {
            let e = hookline::api::ApiError::from(e);
            e.log_if_ours();
            problem(
                StatusCode::from_u16(e.status()).unwrap_or(StatusCode::SERVICE_UNAVAILABLE),
                "Something went wrong",
                "The link could not be opened. Try it again in a moment.",
            )
        }
        Ok(Ok((session, _))) => {
            let attributes = if https(&headers) { "Secure; SameSite=None" } else { "SameSite=Lax" };
            let cookie = format!(
                "{COOKIE}={session}; Path=/portal; HttpOnly; Max-Age={}; {attributes}",
                SESSION_TTL.as_secs()
            );
            let mut response = secured(StatusCode::SEE_OTHER, html! {});
            if let Ok(value) = HeaderValue::from_str(&cookie) {
                response.headers_mut().insert(header::SET_COOKIE, value);
            }
            response.headers_mut().insert(header::LOCATION, HeaderValue::from_static("/portal/"));
            response
        }
        Ok(Err(e)) => problem(
            StatusCode::UNAUTHORIZED,
            "This link cannot be used",
            &format!(
                "{}. Open the webhooks page again from the application that sent you here.",
                capitalised(&e.to_string())
            ),
        ),
    }
}
