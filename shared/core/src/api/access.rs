//! API keys: only SHA-256 digests are kept (in AWS only the digest is ever
//! configured), a presented key is hashed and compared with every digest in
//! constant time, and several keys may be active so they can be rotated.

use sha2::{Digest, Sha256};
use subtle::{Choice, ConstantTimeEq};

/// The accepted API keys, as digests.
#[derive(Clone, Default)]
pub struct ApiKeys {
    digests: Vec<[u8; 32]>,
}

impl std::fmt::Debug for ApiKeys {
    // Digests are not secrets, but nothing gains from printing them.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ApiKeys({} keys)", self.digests.len())
    }
}

/// A configured digest is not 64 hex characters.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("an API key digest must be 64 hex characters (the SHA-256 of the key)")]
pub struct BadDigest;

/// The SHA-256 digest of a key, as configured in AWS.
pub fn digest(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

impl ApiKeys {
    /// Accepts these keys (hashed at once; the text is not kept).
    pub fn from_keys<'a>(keys: impl IntoIterator<Item = &'a str>) -> Self {
        Self { digests: keys.into_iter().map(digest).collect() }
    }

    /// Accepts keys by their hex SHA-256 digests, comma-separated.
    pub fn from_hex_digests(list: &str) -> Result<Self, BadDigest> {
        let digests = list
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|h| {
                let bytes = hex::decode(h).map_err(|_| BadDigest)?;
                <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| BadDigest)
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self { digests })
    }

    /// Adds more keys.
    pub fn extend(&mut self, other: ApiKeys) {
        self.digests.extend(other.digests);
    }

    /// Whether no key is configured (then nothing is accepted).
    pub fn is_empty(&self) -> bool {
        self.digests.is_empty()
    }

    /// Whether `presented` is one of the keys. Every digest is compared,
    /// whatever matches, so timing says nothing about which.
    pub fn accepts(&self, presented: &str) -> bool {
        let d = digest(presented);
        let mut ok = Choice::from(0);
        for known in &self.digests {
            ok |= known.ct_eq(&d);
        }
        bool::from(ok)
    }

    /// Checks an `Authorization` header value: `Bearer <key>`.
    pub fn accepts_header(&self, header: Option<&str>) -> bool {
        let Some(value) = header else { return false };
        let Some((scheme, key)) = value.split_once(' ') else { return false };
        scheme.eq_ignore_ascii_case("bearer") && !key.is_empty() && self.accepts(key.trim())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_accepted_by_text_or_digest_and_others_refused() {
        let keys = ApiKeys::from_keys(["k1", "k2"]);
        assert!(keys.accepts("k1") && keys.accepts("k2"));
        assert!(!keys.accepts("k3") && !keys.accepts(""));
        let hex = hex::encode(digest("k3"));
        let by_digest = ApiKeys::from_hex_digests(&format!("{hex}, ")).unwrap();
        assert!(by_digest.accepts("k3"));
        assert_eq!(ApiKeys::from_hex_digests("abc").err(), Some(BadDigest));
    }

    #[test]
    fn only_a_bearer_header_with_a_known_key_passes() {
        let keys = ApiKeys::from_keys(["secret-key"]);
        assert!(keys.accepts_header(Some("Bearer secret-key")));
        assert!(keys.accepts_header(Some("bearer secret-key")));
        for bad in [
            None,
            Some(""),
            Some("secret-key"),
            Some("Basic secret-key"),
            Some("Bearer "),
            Some("Bearer other"),
        ] {
            assert!(!keys.accepts_header(bad), "{bad:?}");
        }
        assert!(!ApiKeys::from_keys([]).accepts(""));
    }
}
