//! Portal sessions: the platform's backend, with its API key, asks for a
//! link to the portal for one of its tenants; the link carries a short-lived
//! token, signed with the service's portal key, that is exchanged once
//! opened for a session cookie scoped to that tenant.
//! The tokens themselves are [`crate::auth::portal`]'s.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::auth::portal::{Kind, LINK_TTL, SESSION_TTL, Session, nonce};
use crate::auth::{BadToken, Caller, Scope};
use crate::model::TenantId;
use crate::ports::StoreError;

impl crate::Context {
    /// `POST /v1/tenants/{tenant}/portal-sessions`: a link that opens the
    /// portal for `tenant`, for a caller who reaches it.
    pub fn portal_link(&self, caller: &Caller, tenant: &str) -> Result<PortalLink, super::ApiError> {
        let tenant = TenantId::parse(tenant)?;
        caller.check(&tenant, "tenant")?;
        let key = self.settings.portal_key.as_ref().ok_or_else(|| {
            super::ApiError::Conflict("the portal is not configured: set HOOKLINE_PORTAL_KEY".into())
        })?;
        let expires_at = self.clock.now() + crate::ports::span(LINK_TTL);
        let token =
            key.sign(Kind::Link, &Scope::Tenant(tenant.clone()), expires_at, nonce(self.entropy.as_ref()));
        tracing::info!(tenant = %tenant, key = %caller.key_id, "portal link issued");
        Ok(PortalLink { url: format!("/portal/login?token={token}"), tenant: Some(tenant), expires_at })
    }

    /// `POST /v1/portal-sessions`: a link that opens the portal over every
    /// tenant, for an operator's key alone.
    pub fn operator_portal_link(&self, caller: &Caller) -> Result<PortalLink, super::ApiError> {
        caller.operator()?;
        let key = self.settings.portal_key.as_ref().ok_or_else(|| {
            super::ApiError::Conflict("the portal is not configured: set HOOKLINE_PORTAL_KEY".into())
        })?;
        let expires_at = self.clock.now() + crate::ports::span(LINK_TTL);
        let token = key.sign(Kind::Link, &Scope::Global, expires_at, nonce(self.entropy.as_ref()));
        tracing::info!(key = %caller.key_id, "operator portal link issued");
        Ok(PortalLink { url: format!("/portal/login?token={token}"), tenant: None, expires_at })
    }

    /// Opens a portal link, once: the session cookie's token and when it
    /// ends. The link's nonce is claimed in the store, so a second opening
    /// — a link leaked through a log, a referrer or a shared screen — is
    /// refused ([`BadToken::Used`]). The outer error: the store failed.
    pub async fn open_portal(&self, link: &str) -> Result<Result<(String, Session), BadToken>, StoreError> {
        let Some(key) = self.settings.portal_key.as_ref() else { return Ok(Err(BadToken::Forged)) };
        let now = self.clock.now();
        let opened = match key.verify(Kind::Link, link, now) {
            Ok(opened) => opened,
            Err(e) => return Ok(Err(e)),
        };
        if !self.claims.claim(&format!("portal-link:{}", opened.nonce), opened.expires_at).await? {
            tracing::warn!(key = %opened.caller().key_id, "a portal link opened a second time was refused");
            return Ok(Err(BadToken::Used));
        }
        let expires_at = now + crate::ports::span(SESSION_TTL);
        let token = key.sign(Kind::Session, &opened.scope, expires_at, nonce(self.entropy.as_ref()));
        Ok(key.verify(Kind::Session, &token, now).map(|session| (token, session)))
    }

    /// A ticket for `session` to see `what` once, within a minute: the page
    /// a reveal form redirects to carries it, so the form is never posted
    /// again by a reload and the secret never sits at a URL that shows it
    /// twice. None without a portal key.
    pub fn portal_reveal_ticket(&self, session: &Session, what: &str) -> Option<String> {
        let key = self.settings.portal_key.as_ref()?;
        let expires_at = self.clock.now() + chrono::Duration::seconds(REVEAL_TTL_SECS);
        Some(key.reveal_ticket(session, what, expires_at, nonce(self.entropy.as_ref())))
    }

    /// Whether `ticket` lets `session` see `what` now: made for them, in
    /// time, and not used before (claimed in the store, so a reload or a
    /// copy of the address shows nothing). The outer error: the store failed.
    pub async fn open_reveal_ticket(
        &self,
        session: &Session,
        what: &str,
        ticket: &str,
    ) -> Result<Result<(), BadToken>, StoreError> {
        let Some(key) = self.settings.portal_key.as_ref() else { return Ok(Err(BadToken::Forged)) };
        let now = self.clock.now();
        let nonce = match key.verify_reveal_ticket(session, what, ticket, now) {
            Ok(n) => n,
            Err(e) => return Ok(Err(e)),
        };
        let until = now + chrono::Duration::seconds(REVEAL_TTL_SECS);
        Ok(match self.claims.claim(&format!("portal-reveal:{nonce}"), until).await? {
            true => Ok(()),
            false => Err(BadToken::Used),
        })
    }

    /// The anti-forgery token of a session, for its pages' forms: bound to
    /// the session (its nonce) by the portal key, so no other site can
    /// know it.
    pub fn portal_csrf(&self, session: &Session) -> String {
        match &self.settings.portal_key {
            Some(key) => key.csrf(session),
            None => String::new(),
        }
    }

    /// Whether `presented` is `session`'s anti-forgery token (constant time).
    pub fn portal_csrf_ok(&self, session: &Session, presented: &str) -> bool {
        use subtle::ConstantTimeEq;
        let expected = self.portal_csrf(session);
        !expected.is_empty() && bool::from(expected.as_bytes().ct_eq(presented.as_bytes()))
    }

    /// The session a portal cookie holds, if it is valid now.
    pub fn portal_session(&self, cookie: &str) -> Result<Session, BadToken> {
        let key = self.settings.portal_key.as_ref().ok_or(BadToken::Forged)?;
        key.verify(Kind::Session, cookie, self.clock.now())
    }
}

/// How long a reveal ticket waits to be used.
const REVEAL_TTL_SECS: i64 = 60;

/// `POST /v1/tenants/{tenant}/portal-sessions`: the link to open.
#[derive(Debug, Clone, Serialize)]
pub struct PortalLink {
    /// The tenant; none for an operator's link.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tenant: Option<TenantId>,
    /// Open this (path and query; the caller's base URL in front).
    pub url: String,
    /// When it stops opening.
    pub expires_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::PortalKey;
    use chrono::TimeZone;

    fn key() -> PortalKey {
        PortalKey::from_bytes(vec![7; 32]).unwrap()
    }

    /// A context over the fakes with the test key as its portal key.
    fn context() -> crate::Context {
        use crate::ports::fakes::{ManualClock, MemoryQueue, MemoryStore, SeededEntropy};
        use std::sync::Arc;
        let settings =
            crate::ServiceSettings { portal_key: Some(key()), ..crate::ServiceSettings::default() };
        crate::Context::new(
            Arc::new(MemoryStore::new()),
            Arc::new(MemoryQueue::new()),
            Arc::new(ManualClock::new(t0())),
            Arc::new(SeededEntropy::new(1)),
            settings,
        )
    }

    fn t0() -> DateTime<Utc> {
        Utc.timestamp_opt(1_800_000_000, 0).unwrap()
    }

    /// A link to acme's portal with nonce `n`, for a minute.
    fn link(n: u8) -> String {
        let acme = Scope::Tenant(TenantId::parse("acme").unwrap());
        key().sign(Kind::Link, &acme, t0() + chrono::Duration::minutes(1), [n; 16])
    }

    #[tokio::test]
    async fn a_link_opens_one_session() {
        let ctx = context();
        let (cookie, _) = ctx.open_portal(&link(1)).await.unwrap().unwrap();
        assert!(ctx.portal_session(&cookie).is_ok());
        assert_eq!(ctx.open_portal(&link(1)).await.unwrap().unwrap_err(), BadToken::Used, "opened once");
        assert!(ctx.open_portal(&link(2)).await.unwrap().is_ok(), "another link is its own");
        assert_eq!(ctx.open_portal("v1.x.y").await.unwrap().unwrap_err(), BadToken::Malformed);
    }

    #[tokio::test]
    async fn a_reveal_ticket_shows_its_sessions_secret_once_and_no_other() {
        let ctx = context();
        let (_, one) = ctx.open_portal(&link(1)).await.unwrap().unwrap();
        let (_, two) = ctx.open_portal(&link(2)).await.unwrap().unwrap();
        let ticket = ctx.portal_reveal_ticket(&one, "sub_a").unwrap();
        assert_eq!(
            ctx.open_reveal_ticket(&two, "sub_a", &ticket).await.unwrap(),
            Err(BadToken::Forged),
            "another session's"
        );
        assert_eq!(
            ctx.open_reveal_ticket(&one, "sub_b", &ticket).await.unwrap(),
            Err(BadToken::Forged),
            "another secret"
        );
        assert_eq!(ctx.open_reveal_ticket(&one, "sub_a", &ticket).await.unwrap(), Ok(()));
        assert_eq!(
            ctx.open_reveal_ticket(&one, "sub_a", &ticket).await.unwrap(),
            Err(BadToken::Used),
            "once"
        );
        assert_eq!(ctx.open_reveal_ticket(&one, "sub_a", "1.2").await.unwrap(), Err(BadToken::Malformed));
    }

    #[tokio::test]
    async fn a_sessions_form_token_is_its_own() {
        let ctx = context();
        let (_, one) = ctx.open_portal(&link(1)).await.unwrap().unwrap();
        let (_, two) = ctx.open_portal(&link(2)).await.unwrap().unwrap();
        let token = ctx.portal_csrf(&one);
        assert!(ctx.portal_csrf_ok(&one, &token));
        assert!(!ctx.portal_csrf_ok(&two, &token), "another session's token");
        assert!(!ctx.portal_csrf_ok(&one, ""));
    }

    #[tokio::test]
    async fn only_an_operators_key_gets_an_operators_link() {
        let ctx = context();
        let acme = TenantId::parse("acme").unwrap();
        let tenant_key = Caller { scope: Scope::Tenant(acme.clone()), key_id: "k".into() };
        assert_eq!(ctx.operator_portal_link(&tenant_key).unwrap_err().status(), 403);
        let link = ctx.operator_portal_link(&Caller::internal()).unwrap();
        let token = link.url.split("token=").nth(1).unwrap();
        let (_, session) = ctx.open_portal(token).await.unwrap().unwrap();
        assert_eq!(session.scope, Scope::Global);
        let own = ctx.portal_link(&tenant_key, "acme").unwrap();
        let (_, session) = ctx.open_portal(own.url.split("token=").nth(1).unwrap()).await.unwrap().unwrap();
        assert_eq!(session.scope, Scope::Tenant(acme));
        assert_eq!(ctx.portal_link(&tenant_key, "globex").unwrap_err().status(), 404);
    }
}
