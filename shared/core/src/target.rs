//! Where a webhook goes: a checked URL, and the extra headers a subscription
//! adds to each request. Address-level checks (private ranges, DNS) happen
//! again at send time; this is the syntax every stored URL already passed.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use url::Url;

use crate::validation::ValidationError;

/// Longest accepted target URL.
pub const MAX_URL_LEN: usize = 2048;
/// Most custom headers on one subscription.
pub const MAX_HEADERS: usize = 20;
/// Longest custom header name.
pub const MAX_HEADER_NAME_LEN: usize = 64;
/// Longest custom header value.
pub const MAX_HEADER_VALUE_LEN: usize = 1024;

/// An `http`/`https` URL with a host, no credentials and no fragment, kept
/// byte for byte as it was given: a URL the parser would change (other than
/// adding the `/` of an empty path, which HTTP sends anyway) is refused,
/// never silently rewritten.
#[derive(Clone, PartialEq, Eq)]
pub struct TargetUrl {
    url: Url,
    text: String,
}

impl TargetUrl {
    /// Parses and checks a URL given for `field`.
    pub fn parse_field(field: &'static str, s: &str) -> Result<Self, ValidationError> {
        if s.is_empty() {
            return Err(ValidationError::missing(field));
        }
        if s.len() > MAX_URL_LEN {
            return Err(ValidationError::too_long(field, MAX_URL_LEN, "characters"));
        }
        // The parser drops tabs and line breaks and trims control
        // characters; a URL carrying one is not what it looks like.
        if let Some((at, c)) = s.char_indices().find(|(_, c)| c.is_control()) {
            return Err(ValidationError::invalid(
                field,
                format!("must not contain control characters (U+{:04X} at byte {at})", u32::from(c)),
            ));
        }
        let url = Self::parsed(field, s)?;
        if url.port() == Some(0) {
            return Err(ValidationError::invalid(field, "port 0 is not a port anything listens on"));
        }
        if url.as_str() != s && !Self::only_adds_root_path(&url, s) {
            return Err(ValidationError::invalid(
                field,
                format!(
                    "would be sent as {} (the URL parser rewrites it); send it in that form",
                    url.as_str()
                ),
            ));
        }
        Ok(Self { url, text: s.to_owned() })
    }

    /// The checks every URL passes, stored or new: a URL with an
    /// `http`/`https` scheme and a host, no credentials, no fragment.
    fn parsed(field: &'static str, s: &str) -> Result<Url, ValidationError> {
        let url =
            Url::parse(s).map_err(|e| ValidationError::invalid(field, format!("not a valid URL ({e})")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(ValidationError::invalid(field, "scheme must be http or https"));
        }
        if url.host().is_none() {
            return Err(ValidationError::invalid(field, "must have a host"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(ValidationError::invalid(
                field,
                "must not carry credentials (user:password@); use custom headers instead",
            ));
        }
        if url.fragment().is_some() {
            return Err(ValidationError::invalid(field, "must not have a #fragment"));
        }
        Ok(url)
    }

    /// `https://example.com` is sent as `https://example.com/`: an empty
    /// path is `/` on the wire (RFC 9110 §4.2.3), nothing changes.
    fn only_adds_root_path(url: &Url, s: &str) -> bool {
        use url::Position;
        url.path() == "/" && format!("{}{}", &url[..Position::BeforePath], &url[Position::AfterPath..]) == s
    }

    /// Parses a subscription's `url`.
    pub fn parse(s: &str) -> Result<Self, ValidationError> {
        Self::parse_field("url", s)
    }

    /// A URL read back from the store: what [`Self::parse`] accepts, or one
    /// an earlier version stored before it refused rewritten URLs (it kept
    /// the parser's form, which is sent as stored).
    pub fn stored(s: &str) -> Result<Self, ValidationError> {
        Self::parse(s).or_else(|e| match Self::parsed("url", s) {
            Ok(url) if url.as_str() == s => Ok(Self { url, text: s.to_owned() }),
            _ => Err(e),
        })
    }

    /// The parsed URL, as the request goes to it.
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// The URL as it was given.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl fmt::Debug for TargetUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TargetUrl({})", self.text)
    }
}

impl fmt::Display for TargetUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl Serialize for TargetUrl {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for TargetUrl {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::stored(&s).map_err(serde::de::Error::custom)
    }
}

/// Headers hookline sets itself; a subscription may not override them.
/// The signature format's own header names are refused separately.
const RESERVED_HEADERS: &[&str] = &[
    "host",
    "content-type",
    "content-length",
    "content-encoding",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "upgrade",
    "te",
    "trailer",
    "expect",
    "proxy-authorization",
    "proxy-connection",
    "user-agent",
];

/// Extra headers sent with every request of a subscription; names are
/// stored lowercase.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct CustomHeaders(BTreeMap<String, String>);

impl CustomHeaders {
    /// Checks header names and values: HTTP token names, printable values
    /// (no CR/LF, so nothing can be injected into the request), limits, and
    /// no reserved or `webhook-*` names.
    pub fn new(headers: BTreeMap<String, String>) -> Result<Self, ValidationError> {
        const FIELD: &str = "headers";
        if headers.len() > MAX_HEADERS {
            return Err(ValidationError::too_long(FIELD, MAX_HEADERS, "entries"));
        }
        let mut out = BTreeMap::new();
        for (name, value) in headers {
            if name.is_empty() || name.len() > MAX_HEADER_NAME_LEN {
                return Err(ValidationError::invalid(
                    FIELD,
                    format!("header names must be 1 to {MAX_HEADER_NAME_LEN} characters"),
                ));
            }
            if !name.bytes().all(is_token_byte) {
                return Err(ValidationError::invalid(
                    FIELD,
                    "header names may contain only letters, digits and !#$%&'*+-.^_`|~",
                ));
            }
            let lower = name.to_ascii_lowercase();
            if RESERVED_HEADERS.contains(&lower.as_str()) || lower.starts_with("webhook-") {
                return Err(ValidationError::invalid(
                    FIELD,
                    format!("{lower} is set by hookline and cannot be overridden"),
                ));
            }
            if value.len() > MAX_HEADER_VALUE_LEN {
                return Err(ValidationError::too_long("headers value", MAX_HEADER_VALUE_LEN, "characters"));
            }
            if !value.bytes().all(|b| b == b'\t' || (b' '..=b'~').contains(&b)) {
                return Err(ValidationError::invalid(
                    FIELD,
                    "header values must be printable ASCII (no CR, LF or other control characters)",
                ));
            }
            if out.insert(lower.clone(), value).is_some() {
                return Err(ValidationError::invalid(FIELD, format!("{lower} is given twice")));
            }
        }
        Ok(Self(out))
    }

    /// Refuses any header that the signature format itself sets.
    pub fn check_not_in(&self, names: &[&str]) -> Result<(), ValidationError> {
        for name in self.0.keys() {
            if names.iter().any(|n| n.eq_ignore_ascii_case(name)) {
                return Err(ValidationError::invalid(
                    "headers",
                    format!("{name} is set by the signature format and cannot be overridden"),
                ));
            }
        }
        Ok(())
    }

    /// Iterates over (lowercase name, value).
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Whether there are no custom headers.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<'de> Deserialize<'de> for CustomHeaders {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let map = BTreeMap::<String, String>::deserialize(d)?;
        Self::new(map).map_err(serde::de::Error::custom)
    }
}

fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_urls_are_accepted() {
        for ok in ["https://example.com/hooks", "http://127.0.0.1:9000/h?x=1", "https://[2001:db8::1]/x"] {
            assert!(TargetUrl::parse(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn a_url_is_kept_byte_for_byte_or_refused() {
        let bare = TargetUrl::parse("https://example.com").unwrap();
        assert_eq!(bare.as_str(), "https://example.com", "stored as given");
        assert_eq!(bare.url().as_str(), "https://example.com/", "sent to the root path");
        assert_eq!(TargetUrl::parse("https://example.com?a=1").unwrap().as_str(), "https://example.com?a=1");
        for (bad, why) in [
            ("https://example.com/h\0", "control"),
            ("https://example.com/h\r\nX-Injected: 1", "control"),
            ("https://example.com/h\tx", "control"),
            ("https://example.com/h\u{85}", "control"),
            (" https://example.com/", "rewrites"),
            ("https://example.com:0/", "port 0"),
            ("HTTPS://example.com/", "rewrites"),
            ("https://EXAMPLE.com/", "rewrites"),
            ("https://example.com:443/", "rewrites"),
            ("https://example.com/a/../b", "rewrites"),
            ("https://example.com/a b", "rewrites"),
            ("http://127.1/", "rewrites"),
            ("https://bücher.example/", "rewrites"),
        ] {
            let e = TargetUrl::parse(bad).expect_err(bad).to_string();
            assert!(e.starts_with("url") && e.contains(why), "{bad:?}: {e}");
        }
    }

    #[test]
    fn a_url_an_earlier_version_stored_is_read_back() {
        // Stored in the parser's form, then a port 0 was not yet refused.
        let old = TargetUrl::stored("https://example.com:0/h").unwrap();
        assert_eq!(old.as_str(), "https://example.com:0/h");
        assert!(TargetUrl::stored("https://example.com/a b").is_err(), "never a rewritten form");
    }

    #[test]
    fn unusable_or_dangerous_urls_are_refused() {
        for bad in [
            "",
            "example.com/x",
            "ftp://example.com/",
            "file:///etc/passwd",
            "gopher://example.com",
            "https://user:pw@example.com/",
            "https://user@example.com/",
            "https://example.com/#frag",
            "https://",
            "http://:80/",
            "javascript:alert(1)",
        ] {
            assert!(TargetUrl::parse(bad).is_err(), "{bad}");
        }
        let long = format!("https://example.com/{}", "a".repeat(MAX_URL_LEN));
        assert!(matches!(TargetUrl::parse(&long), Err(ValidationError::TooLong { .. })));
    }

    fn headers(pairs: &[(&str, &str)]) -> Result<CustomHeaders, ValidationError> {
        CustomHeaders::new(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect())
    }

    #[test]
    fn custom_headers_are_lowercased_and_kept() {
        let h = headers(&[("X-Api-Version", "2"), ("Authorization", "Bearer t")]).unwrap();
        let got: Vec<_> = h.iter().collect();
        assert_eq!(got, vec![("authorization", "Bearer t"), ("x-api-version", "2")]);
    }

    #[test]
    fn header_injection_and_reserved_names_are_refused() {
        for (name, value) in [
            ("X-A", "a\r\nX-Evil: 1"),
            ("X-A", "a\nb"),
            ("X-A", "nul\0"),
            ("X A", "v"),
            ("X:A", "v"),
            ("", "v"),
            ("Host", "evil"),
            ("content-length", "1"),
            ("Webhook-Signature", "v1,forged"),
            ("Transfer-Encoding", "chunked"),
        ] {
            assert!(headers(&[(name, value)]).is_err(), "{name:?}: {value:?}");
        }
        assert!(headers(&[("a", "1"), ("A", "2")]).is_err(), "duplicate in another case");
    }

    #[test]
    fn headers_that_the_signature_format_sets_are_refused() {
        let h = headers(&[("X-Transcodely-Signature", "x")]).unwrap();
        assert!(h.check_not_in(&["x-transcodely-signature"]).is_err());
        assert!(h.check_not_in(&["x-other"]).is_ok());
    }
}
