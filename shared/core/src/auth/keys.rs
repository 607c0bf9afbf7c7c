//! API keys and who they let in. Only SHA-256 digests are kept (in AWS only
//! the digest is ever configured); a presented key is hashed and compared
//! with every digest in constant time; several keys may be active so they
//! can be rotated. A key is either an operator's, for every tenant, or a
//! tenant's, for that tenant's data alone.

use sha2::{Digest, Sha256};
use subtle::{Choice, ConstantTimeEq};

use crate::model::TenantId;

/// What a key may reach.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Every tenant (the platform's backend, an operator).
    Global,
    /// One tenant's subscriptions, events, deliveries and secrets.
    Tenant(TenantId),
}

/// Who is calling: the scope of the key presented, and which key it was
/// (the first hex digits of its digest, for the audit log; never the key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// What the key may reach.
    pub scope: Scope,
    /// Names the key in logs.
    pub key_id: String,
}

impl Caller {
    /// hookline itself (operational events, tools): every tenant.
    pub fn internal() -> Self {
        Self { scope: Scope::Global, key_id: "internal".into() }
    }

    /// Whether the caller may reach `tenant`'s data.
    pub fn reaches(&self, tenant: &TenantId) -> bool {
        match &self.scope {
            Scope::Global => true,
            Scope::Tenant(own) => own == tenant,
        }
    }

    /// `Ok` if the caller may reach `tenant`'s data; otherwise the same
    /// "not found" as for something that does not exist, so ids do not leak.
    pub fn check(&self, tenant: &TenantId, what: &'static str) -> Result<(), Denied> {
        if self.reaches(tenant) { Ok(()) } else { Err(Denied::NotFound(what)) }
    }

    /// `Ok` for an operator's key (every tenant); a tenant's key is refused.
    pub fn operator(&self) -> Result<(), Denied> {
        match self.scope {
            Scope::Global => Ok(()),
            Scope::Tenant(_) => Err(Denied::OperatorsOnly),
        }
    }

    /// The tenant a tenant key is for; `None` for a global key.
    pub fn tenant(&self) -> Option<&TenantId> {
        match &self.scope {
            Scope::Global => None,
            Scope::Tenant(t) => Some(t),
        }
    }
}

/// Why a caller is turned away (the API answers 404 and 403).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denied {
    /// Another tenant's: answered as if it did not exist.
    NotFound(&'static str),
    /// A tenant's key where an operator's is needed.
    OperatorsOnly,
}

/// The accepted API keys, as digests with their scopes.
#[derive(Clone, Default)]
pub struct ApiKeys {
    keys: Vec<([u8; 32], Scope)>,
}

impl std::fmt::Debug for ApiKeys {
    // Digests are not secrets, but nothing gains from printing them.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ApiKeys({} keys)", self.keys.len())
    }
}

/// A configured key or digest cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BadKey {
    /// A digest is not 64 hex characters.
    #[error("an API key digest must be 64 hex characters (the SHA-256 of the key)")]
    Digest,
    /// A tenant key is not `tenant:key`, or the tenant name is invalid.
    #[error("a tenant key must be written tenant:key with a valid tenant name")]
    Tenant,
}

/// The SHA-256 digest of a key, as configured in AWS.
pub fn digest(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

fn parse_digest(hex_digest: &str) -> Result<[u8; 32], BadKey> {
    let bytes = hex::decode(hex_digest.trim()).map_err(|_| BadKey::Digest)?;
    <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| BadKey::Digest)
}

fn entries(list: &str) -> impl Iterator<Item = &str> {
    list.split(',').map(str::trim).filter(|s| !s.is_empty())
}

fn tenant_entry(entry: &str) -> Result<(TenantId, &str), BadKey> {
    let (tenant, rest) = entry.split_once(':').ok_or(BadKey::Tenant)?;
    let tenant = TenantId::parse(tenant.trim()).map_err(|_| BadKey::Tenant)?;
    if rest.trim().is_empty() {
        return Err(BadKey::Tenant);
    }
    Ok((tenant, rest.trim()))
}

impl ApiKeys {
    /// Global keys (hashed at once; the text is not kept).
    pub fn from_keys<'a>(keys: impl IntoIterator<Item = &'a str>) -> Self {
        Self { keys: keys.into_iter().map(|k| (digest(k), Scope::Global)).collect() }
    }

    /// Global keys by their hex SHA-256 digests, comma-separated.
    pub fn from_hex_digests(list: &str) -> Result<Self, BadKey> {
        let keys = entries(list).map(|h| Ok((parse_digest(h)?, Scope::Global))).collect::<Result<_, _>>()?;
        Ok(Self { keys })
    }

    /// Tenant keys, `tenant:key` comma-separated.
    pub fn from_tenant_keys(list: &str) -> Result<Self, BadKey> {
        let keys = entries(list)
            .map(|e| tenant_entry(e).map(|(t, key)| (digest(key), Scope::Tenant(t))))
            .collect::<Result<_, _>>()?;
        Ok(Self { keys })
    }

    /// Tenant keys by digest, `tenant:<hex SHA-256>` comma-separated.
    pub fn from_tenant_digests(list: &str) -> Result<Self, BadKey> {
        let keys = entries(list)
            .map(|e| {
                let (t, hex_digest) = tenant_entry(e)?;
                Ok((parse_digest(hex_digest)?, Scope::Tenant(t)))
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { keys })
    }

    /// Adds more keys.
    pub fn extend(&mut self, other: ApiKeys) {
        self.keys.extend(other.keys);
    }

    /// Whether no global key is configured (then no operator can act).
    pub fn is_empty(&self) -> bool {
        !self.keys.iter().any(|(_, s)| *s == Scope::Global)
    }

    /// The caller `presented` lets in, if it is one of the keys. Every
    /// digest is compared, whatever matches, so timing says nothing about
    /// which key (or whether any) matched.
    pub fn caller(&self, presented: &str) -> Option<Caller> {
        let d = digest(presented);
        let mut found: Option<&Scope> = None;
        for (known, scope) in &self.keys {
            let hit: Choice = known.ct_eq(&d);
            if bool::from(hit) && found.is_none() {
                found = Some(scope);
            }
        }
        found.map(|scope| Caller { scope: scope.clone(), key_id: hex::encode(&d[..4]) })
    }

    /// Checks an `Authorization` header value: `Bearer <key>`.
    pub fn caller_of_header(&self, header: Option<&str>) -> Option<Caller> {
        let value = header?;
        let (scheme, key) = value.split_once(' ')?;
        if !scheme.eq_ignore_ascii_case("bearer") || key.trim().is_empty() {
            return None;
        }
        self.caller(key.trim())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_accepted_by_text_or_digest_and_others_refused() {
        let keys = ApiKeys::from_keys(["k1", "k2"]);
        assert_eq!(keys.caller("k1").map(|c| c.scope), Some(Scope::Global));
        assert!(keys.caller("k2").is_some());
        assert!(keys.caller("k3").is_none() && keys.caller("").is_none());
        let hex = hex::encode(digest("k3"));
        let by_digest = ApiKeys::from_hex_digests(&format!("{hex}, ")).unwrap();
        assert!(by_digest.caller("k3").is_some());
        assert_eq!(ApiKeys::from_hex_digests("abc").err(), Some(BadKey::Digest));
    }

    #[test]
    fn a_tenant_key_reaches_its_tenant_alone() {
        let acme = TenantId::parse("acme").unwrap();
        let beta = TenantId::parse("beta").unwrap();
        let mut keys = ApiKeys::from_tenant_keys("acme:ka, beta:kb").unwrap();
        keys.extend(ApiKeys::from_tenant_digests(&format!("acme:{}", hex::encode(digest("kd")))).unwrap());
        let a = keys.caller("ka").unwrap();
        assert_eq!(a.scope, Scope::Tenant(acme.clone()));
        assert!(a.reaches(&acme) && !a.reaches(&beta));
        assert!(matches!(a.check(&beta, "subscription"), Err(Denied::NotFound("subscription"))));
        assert!(keys.caller("kd").unwrap().reaches(&acme));
        assert!(keys.is_empty(), "tenant keys alone let no operator in");
        assert_ne!(a.key_id, keys.caller("kb").unwrap().key_id, "keys are told apart in logs");
        for bad in ["acme", "acme:", ":k", "no such tenant!:k"] {
            assert_eq!(ApiKeys::from_tenant_keys(bad).err(), Some(BadKey::Tenant), "{bad}");
        }
        assert_eq!(ApiKeys::from_tenant_digests("acme:xyz").err(), Some(BadKey::Digest));
    }

    #[test]
    fn only_a_bearer_header_with_a_known_key_passes() {
        let keys = ApiKeys::from_keys(["secret-key"]);
        assert!(keys.caller_of_header(Some("Bearer secret-key")).is_some());
        assert!(keys.caller_of_header(Some("bearer secret-key")).is_some());
        for bad in [
            None,
            Some(""),
            Some("secret-key"),
            Some("Basic secret-key"),
            Some("Bearer "),
            Some("Bearer other"),
        ] {
            assert!(keys.caller_of_header(bad).is_none(), "{bad:?}");
        }
        assert!(ApiKeys::from_keys([]).caller("").is_none());
    }
}
