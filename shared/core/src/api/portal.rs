//! Portal sessions: the platform's backend, with its API key, asks for a
//! link to the portal for one of its tenants; the link carries a short-lived
//! token, signed with the service's portal key, that is exchanged once
//! opened for a session cookie scoped to that tenant.
//!
//! A token is `v1.<payload>.<mac>`: the payload (base64url JSON: what it is
//! for, the tenant, when it expires, a nonce) and an HMAC-SHA256 of the
//! kind and payload under the portal key, compared in constant time. A link
//! token cannot serve as a session and the other way round; nothing in a
//! token reaches another tenant.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use super::access::{Caller, Scope};
use crate::model::TenantId;

/// How long a portal link may wait to be opened.
pub const LINK_TTL: Duration = Duration::from_secs(10 * 60);
/// How long a portal session lasts once opened.
pub const SESSION_TTL: Duration = Duration::from_secs(60 * 60);
/// The least key material accepted.
pub const MIN_KEY_BYTES: usize = 32;

/// The key that signs portal tokens.
#[derive(Clone)]
pub struct PortalKey(Vec<u8>);

impl std::fmt::Debug for PortalKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PortalKey(…)")
    }
}

/// Why a key cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a portal key must be at least {MIN_KEY_BYTES} bytes of hex or base64 ({0})")]
pub struct BadPortalKey(&'static str);

impl PortalKey {
    /// A key from its hex or base64 text.
    pub fn parse(text: &str) -> Result<Self, BadPortalKey> {
        let text = text.trim();
        let bytes = hex::decode(text)
            .ok()
            .or_else(|| base64::engine::general_purpose::STANDARD.decode(text).ok())
            .ok_or(BadPortalKey("neither hex nor base64"))?;
        Self::from_bytes(bytes)
    }

    /// A key from raw bytes (a generated one).
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Self, BadPortalKey> {
        if bytes.len() < MIN_KEY_BYTES {
            return Err(BadPortalKey("too short"));
        }
        Ok(Self(bytes))
    }

    fn mac(&self, kind: Kind, payload: &str) -> Hmac<Sha256> {
        // Any key length is accepted by HMAC.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.0).unwrap_or_else(|_| unreachable!());
        mac.update(b"hookline-portal.");
        mac.update(kind.as_str().as_bytes());
        mac.update(b".");
        mac.update(payload.as_bytes());
        mac
    }

    /// A token of `kind` for `scope` (one tenant, or the operator's every
    /// tenant), valid until `expires_at`.
    pub fn sign(&self, kind: Kind, scope: &Scope, expires_at: DateTime<Utc>, nonce: [u8; 16]) -> String {
        let (tenant, operator) = match scope {
            Scope::Tenant(t) => (t.as_str().to_owned(), false),
            Scope::Global => (String::new(), true),
        };
        let claims = Claims { tenant, operator, exp: expires_at.timestamp(), nonce: hex::encode(nonce) };
        let json = serde_json::to_vec(&claims).unwrap_or_default();
        let payload = URL_SAFE_NO_PAD.encode(json);
        let mac = URL_SAFE_NO_PAD.encode(self.mac(kind, &payload).finalize().into_bytes());
        format!("v1.{payload}.{mac}")
    }

    /// The session a token of `kind` grants at `now`.
    pub fn verify(&self, kind: Kind, token: &str, now: DateTime<Utc>) -> Result<Session, BadToken> {
        let mut parts = token.trim().split('.');
        let (Some("v1"), Some(payload), Some(mac), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(BadToken::Malformed);
        };
        let mac = URL_SAFE_NO_PAD.decode(mac).map_err(|_| BadToken::Malformed)?;
        self.mac(kind, payload).verify_slice(&mac).map_err(|_| BadToken::Forged)?;
        let json = URL_SAFE_NO_PAD.decode(payload).map_err(|_| BadToken::Malformed)?;
        let claims: Claims = serde_json::from_slice(&json).map_err(|_| BadToken::Malformed)?;
        let scope = if claims.operator {
            Scope::Global
        } else {
            Scope::Tenant(TenantId::parse(&claims.tenant).map_err(|_| BadToken::Malformed)?)
        };
        let expires_at = DateTime::from_timestamp(claims.exp, 0).ok_or(BadToken::Malformed)?;
        if expires_at <= now {
            return Err(BadToken::Expired);
        }
        Ok(Session { scope, expires_at, nonce: claims.nonce })
    }
}

/// What a token is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The link handed to the platform: opened once, for a session.
    Link,
    /// The session cookie.
    Session,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Self::Link => "link",
            Self::Session => "session",
        }
    }
}

#[derive(Serialize, Deserialize)]
struct Claims {
    tenant: String,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    operator: bool,
    exp: i64,
    nonce: String,
}

/// Why a token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BadToken {
    /// Not a portal token at all.
    #[error("this is not a portal link")]
    Malformed,
    /// Not signed by this service (or changed since).
    #[error("this portal link is not valid")]
    Forged,
    /// Past its time.
    #[error("this portal link has expired")]
    Expired,
}

/// A verified token: one tenant (or the operator's every tenant), until a
/// time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// What it reaches.
    pub scope: Scope,
    /// When it ends.
    pub expires_at: DateTime<Utc>,
    nonce: String,
}

/// A random nonce for a token.
pub(crate) fn nonce(entropy: &dyn crate::ports::Entropy) -> [u8; 16] {
    let mut n = [0u8; 16];
    entropy.fill(&mut n);
    n
}

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

    /// Opens a portal link: the session cookie's token and when it ends.
    pub fn open_portal(&self, link: &str) -> Result<(String, Session), BadToken> {
        let key = self.settings.portal_key.as_ref().ok_or(BadToken::Forged)?;
        let now = self.clock.now();
        let session = key.verify(Kind::Link, link, now)?;
        let expires_at = now + crate::ports::span(SESSION_TTL);
        let token = key.sign(Kind::Session, &session.scope, expires_at, nonce(self.entropy.as_ref()));
        let session = key.verify(Kind::Session, &token, now)?;
        Ok((token, session))
    }

    /// The anti-forgery token of a session, for its pages' forms: bound to
    /// the session (its nonce) by the portal key, so no other site can
    /// know it.
    pub fn portal_csrf(&self, session: &Session) -> String {
        match &self.settings.portal_key {
            Some(key) => {
                let mut mac = key.mac(Kind::Session, &format!("csrf.{}", session.nonce));
                mac.update(b".csrf");
                hex::encode(mac.finalize().into_bytes())
            }
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

impl Session {
    /// The API caller the session acts as: its tenant alone (or, an
    /// operator's, every tenant), named in logs
    /// by the start of its nonce.
    pub fn caller(&self) -> Caller {
        Caller {
            scope: self.scope.clone(),
            key_id: format!("portal:{}", &self.nonce[..8.min(self.nonce.len())]),
        }
    }
}

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
    use chrono::TimeZone;

    fn key() -> PortalKey {
        PortalKey::from_bytes(vec![7; 32]).unwrap()
    }

    /// A context over the fakes with the test key as its portal key.
    fn context() -> crate::Context {
        use crate::ports::fakes::{ManualClock, MemoryQueue, MemoryStore, SeededEntropy};
        use std::sync::Arc;
        let settings = crate::Settings { portal_key: Some(key()), ..crate::Settings::default() };
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

    #[test]
    fn a_token_grants_its_tenant_until_it_expires() {
        let acme = TenantId::parse("acme").unwrap();
        let token = key().sign(
            Kind::Link,
            &Scope::Tenant(acme.clone()),
            t0() + chrono::Duration::minutes(10),
            [1; 16],
        );
        let session = key().verify(Kind::Link, &token, t0()).unwrap();
        assert_eq!(session.scope, Scope::Tenant(acme.clone()));
        assert_eq!(session.caller().scope, Scope::Tenant(acme));
        let late = t0() + chrono::Duration::minutes(10);
        assert_eq!(key().verify(Kind::Link, &token, late), Err(BadToken::Expired));
    }

    #[test]
    fn a_token_changed_signed_elsewhere_or_of_the_other_kind_is_refused() {
        let acme = TenantId::parse("acme").unwrap();
        let exp = t0() + chrono::Duration::minutes(10);
        let token = key().sign(Kind::Link, &Scope::Tenant(acme.clone()), exp, [1; 16]);
        assert_eq!(key().verify(Kind::Session, &token, t0()), Err(BadToken::Forged), "a link is no session");
        let other = PortalKey::from_bytes(vec![8; 32]).unwrap();
        assert_eq!(other.verify(Kind::Link, &token, t0()), Err(BadToken::Forged));
        // Another tenant's payload under acme's signature.
        let globex = key().sign(Kind::Link, &Scope::Tenant(TenantId::parse("globex").unwrap()), exp, [1; 16]);
        let acme_mac = token.rsplit('.').next().unwrap();
        let globex_payload = globex.split('.').nth(1).unwrap();
        let swapped = format!("v1.{globex_payload}.{acme_mac}");
        assert_eq!(key().verify(Kind::Link, &swapped, t0()), Err(BadToken::Forged));
        assert_eq!(key().verify(Kind::Link, "v1.nope", t0()), Err(BadToken::Malformed));
        assert_eq!(key().verify(Kind::Link, "", t0()), Err(BadToken::Malformed));
    }

    #[test]
    fn a_sessions_form_token_is_its_own() {
        let ctx = context();
        let acme = TenantId::parse("acme").unwrap();
        let link = key().sign(
            Kind::Link,
            &Scope::Tenant(acme.clone()),
            t0() + chrono::Duration::minutes(1),
            [1; 16],
        );
        let (_, one) = ctx.open_portal(&link).unwrap();
        let (_, two) = ctx.open_portal(&link).unwrap();
        let token = ctx.portal_csrf(&one);
        assert!(ctx.portal_csrf_ok(&one, &token));
        assert!(!ctx.portal_csrf_ok(&two, &token), "another session's token");
        assert!(!ctx.portal_csrf_ok(&one, ""));
    }

    #[test]
    fn only_an_operators_key_gets_an_operators_link() {
        let ctx = context();
        let acme = TenantId::parse("acme").unwrap();
        let tenant_key = Caller { scope: Scope::Tenant(acme.clone()), key_id: "k".into() };
        assert_eq!(ctx.operator_portal_link(&tenant_key).unwrap_err().status(), 403);
        let link = ctx.operator_portal_link(&Caller::internal()).unwrap();
        let token = link.url.split("token=").nth(1).unwrap();
        let (_, session) = ctx.open_portal(token).unwrap();
        assert_eq!(session.scope, Scope::Global);
        let own = ctx.portal_link(&tenant_key, "acme").unwrap();
        let (_, session) = ctx.open_portal(own.url.split("token=").nth(1).unwrap()).unwrap();
        assert_eq!(session.scope, Scope::Tenant(acme));
        assert_eq!(ctx.portal_link(&tenant_key, "globex").unwrap_err().status(), 404);
    }

    #[test]
    fn a_key_is_32_bytes_or_more_of_hex_or_base64() {
        assert!(PortalKey::parse(&"ab".repeat(32)).is_ok());
        assert!(PortalKey::parse(&"ab".repeat(8)).is_err());
        assert!(PortalKey::parse("not a key!").is_err());
        // What the template generates: 64 letters and digits, read as base64.
        assert!(PortalKey::parse(&"aZ09".repeat(16)).is_ok());
    }
}
