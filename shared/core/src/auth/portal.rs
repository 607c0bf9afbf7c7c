//! Portal tokens: a link handed to the platform and the session it opens
//! are tokens `v1.<payload>.<mac>` — the payload (base64url JSON: the
//! tenant, or the operator's every tenant, when it expires, a nonce) and an
//! HMAC-SHA256 of what the token is for and the payload under the portal
//! key, compared in constant time. A link token cannot serve as a session
//! and the other way round; nothing in a token reaches another tenant.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use super::keys::{Caller, Scope};
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

impl PortalKey {
    /// A ticket that lets `session` see `what` (a subscription's secret)
    /// once, until `expires_at`: `<expiry>.<nonce>.<mac>`, the MAC over the
    /// session's nonce, `what`, the expiry and the ticket's own nonce.
    pub fn reveal_ticket(
        &self,
        session: &Session,
        what: &str,
        expires_at: DateTime<Utc>,
        nonce: [u8; 16],
    ) -> String {
        let (exp, nonce) = (expires_at.timestamp(), hex::encode(nonce));
        let mac = self.mac(Kind::Reveal, &format!("{}.{what}.{exp}.{nonce}", session.nonce));
        format!("{exp}.{nonce}.{}", URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes()))
    }

    /// The ticket's own nonce (what is claimed once) if `ticket` is one
    /// this key made for `session` to see `what`, and is still valid at
    /// `now`.
    pub fn verify_reveal_ticket(
        &self,
        session: &Session,
        what: &str,
        ticket: &str,
        now: DateTime<Utc>,
    ) -> Result<String, BadToken> {
        let mut parts = ticket.split('.');
        let (Some(exp), Some(nonce), Some(mac), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(BadToken::Malformed);
        };
        let mac = URL_SAFE_NO_PAD.decode(mac).map_err(|_| BadToken::Malformed)?;
        self.mac(Kind::Reveal, &format!("{}.{what}.{exp}.{nonce}", session.nonce))
            .verify_slice(&mac)
            .map_err(|_| BadToken::Forged)?;
        let exp = exp.parse::<i64>().map_err(|_| BadToken::Malformed)?;
        if exp <= now.timestamp() {
            return Err(BadToken::Expired);
        }
        Ok(nonce.to_owned())
    }

    /// The anti-forgery token of `session`'s forms: bound to the session's
    /// nonce under this key.
    pub fn csrf(&self, session: &Session) -> String {
        let mut mac = self.mac(Kind::Session, &format!("csrf.{}", session.nonce));
        mac.update(b".csrf");
        hex::encode(mac.finalize().into_bytes())
    }
}

/// What a token is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The link handed to the platform: opened once, for a session.
    Link,
    /// The session cookie.
    Session,
    /// A one-time ticket to see a secret after the form that asked for it.
    Reveal,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Self::Link => "link",
            Self::Session => "session",
            Self::Reveal => "reveal",
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
    /// A link that opened a session already: each opens one.
    #[error("this portal link has been used already: each link opens one session")]
    Used,
}

/// A verified token: one tenant (or the operator's every tenant), until a
/// time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// What it reaches.
    pub scope: Scope,
    /// When it ends.
    pub expires_at: DateTime<Utc>,
    pub(crate) nonce: String,
}

/// A random nonce for a token.
pub(crate) fn nonce(entropy: &dyn crate::ports::Entropy) -> [u8; 16] {
    let mut n = [0u8; 16];
    entropy.fill(&mut n);
    n
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

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn key() -> PortalKey {
        PortalKey::from_bytes(vec![7; 32]).unwrap()
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
    fn a_key_is_32_bytes_or_more_of_hex_or_base64() {
        assert!(PortalKey::parse(&"ab".repeat(32)).is_ok());
        assert!(PortalKey::parse(&"ab".repeat(8)).is_err());
        assert!(PortalKey::parse("not a key!").is_err());
        // What the template generates: 64 letters and digits, read as base64.
        assert!(PortalKey::parse(&"aZ09".repeat(16)).is_ok());
    }
}
