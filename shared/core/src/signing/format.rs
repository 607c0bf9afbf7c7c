//! A signature format as data: which headers carry what, what is signed,
//! how the MAC is encoded. Standard Webhooks is one value of this type; each
//! seed provider's format is another (see `presets`), never a code path.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::secret::KeyEncoding;
use crate::validation::ValidationError;

/// How the MAC bytes are written in the header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Encoding {
    /// Standard base64 with padding.
    Base64,
    /// Lowercase hex.
    Hex,
}

/// One piece of the signed content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    /// Text between placeholders, such as the `.` separators.
    Literal(String),
    /// `{id}`: the delivery id (stable across retries).
    Id,
    /// `{timestamp}`: the attempt's unix time in seconds.
    Timestamp,
    /// `{type}`: the event type.
    EventType,
    /// `{body}`: the exact request body bytes.
    Body,
}

/// What is signed, written as a template over `{id}`, `{timestamp}`,
/// `{type}` and `{body}`, e.g. `{id}.{timestamp}.{body}`. `{body}` must
/// appear exactly once: a signature that does not cover the body proves
/// nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedContent {
    template: String,
    parts: Vec<Part>,
}

impl SignedContent {
    /// Parses a template.
    pub fn parse(template: &str) -> Result<Self, ValidationError> {
        const FIELD: &str = "signature.signed";
        let mut parts = Vec::new();
        let mut rest = template;
        while let Some(open) = rest.find('{') {
            if open > 0 {
                parts.push(Part::Literal(rest[..open].to_owned()));
            }
            let close = rest[open..]
                .find('}')
                .ok_or_else(|| ValidationError::invalid(FIELD, "has a '{' without a closing '}'"))?
                + open;
            parts.push(match &rest[open + 1..close] {
                "id" => Part::Id,
                "timestamp" => Part::Timestamp,
                "type" => Part::EventType,
                "body" => Part::Body,
                other => {
                    return Err(ValidationError::invalid(
                        FIELD,
                        format!(
                            "unknown placeholder {{{other}}}; use {{id}}, {{timestamp}}, {{type}} or {{body}}"
                        ),
                    ));
                }
            });
            rest = &rest[close + 1..];
        }
        if !rest.is_empty() {
            parts.push(Part::Literal(rest.to_owned()));
        }
        if parts.iter().filter(|p| **p == Part::Body).count() != 1 {
            return Err(ValidationError::invalid(FIELD, "must contain {body} exactly once"));
        }
        if template.len() > 128 {
            return Err(ValidationError::too_long(FIELD, 128, "characters"));
        }
        Ok(Self { template: template.to_owned(), parts })
    }

    /// The pieces in order.
    pub fn parts(&self) -> &[Part] {
        &self.parts
    }

    /// Whether the timestamp is part of what is signed.
    pub fn covers_timestamp(&self) -> bool {
        self.parts.contains(&Part::Timestamp)
    }

    /// The template as written.
    pub fn as_str(&self) -> &str {
        &self.template
    }
}

impl Serialize for SignedContent {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.template)
    }
}

impl<'de> Deserialize<'de> for SignedContent {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// Header text (a name, or a value): borrowed when it is known at build
/// time — the presets' header names, also when read back from a stored
/// format (through `known_name`) — so a request names its headers without
/// copying them; owned otherwise.
pub type HeaderText = std::borrow::Cow<'static, str>;

/// Every header name a preset uses, so a stored format read back borrows
/// them instead of holding copies.
const KNOWN_NAMES: &[&str] = &[
    "webhook-id",
    "webhook-signature",
    "webhook-timestamp",
    "x-importly-signature",
    "x-transcodely-delivery-id",
    "x-transcodely-signature",
    "x-transcodely-timestamp",
    "x-webhook-delivery-id",
    "x-webhook-event",
    "x-webhook-signature",
];

/// `name` as header text: borrowed if it is one of [`KNOWN_NAMES`].
fn known_name(name: String) -> HeaderText {
    match KNOWN_NAMES.iter().find(|known| **known == name) {
        Some(known) => HeaderText::Borrowed(known),
        None => HeaderText::Owned(name),
    }
}

fn header_name<'de, D: Deserializer<'de>>(d: D) -> Result<HeaderText, D::Error> {
    String::deserialize(d).map(known_name)
}

fn optional_header_name<'de, D: Deserializer<'de>>(d: D) -> Result<Option<HeaderText>, D::Error> {
    Option::<String>::deserialize(d).map(|name| name.map(known_name))
}

/// A complete signature format. Header names are lowercase.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignatureFormat {
    /// Header carrying the signature(s).
    #[serde(deserialize_with = "header_name")]
    pub signature_header: HeaderText,
    /// Header carrying the unix timestamp, if any.
    #[serde(default, deserialize_with = "optional_header_name")]
    pub timestamp_header: Option<HeaderText>,
    /// Header carrying the delivery id, if any.
    #[serde(default, deserialize_with = "optional_header_name")]
    pub id_header: Option<HeaderText>,
    /// Header carrying the event type, if any.
    #[serde(default, deserialize_with = "optional_header_name")]
    pub event_type_header: Option<HeaderText>,
    /// What is signed.
    pub signed: SignedContent,
    /// How the MAC is written.
    pub encoding: Encoding,
    /// Text before each encoded MAC (`v1,`, `sha256=`, or empty).
    #[serde(default)]
    pub prefix: String,
    /// How the secret becomes key bytes.
    pub key: KeyEncoding,
    /// Separator between several signatures during a secret rotation; with
    /// none, only the newest secret signs (for receivers that compare the
    /// whole header against one value).
    #[serde(default)]
    pub separator: Option<String>,
}

impl SignatureFormat {
    /// The Standard Webhooks format: `webhook-id`, `webhook-timestamp`,
    /// `webhook-signature: v1,<base64>` over `{id}.{timestamp}.{body}`,
    /// space-separated signatures during rotation, `whsec_` keys.
    pub fn standard() -> Self {
        Self {
            signature_header: "webhook-signature".into(),
            timestamp_header: Some("webhook-timestamp".into()),
            id_header: Some("webhook-id".into()),
            event_type_header: None,
            signed: SignedContent {
                template: "{id}.{timestamp}.{body}".into(),
                parts: vec![
                    Part::Id,
                    Part::Literal(".".into()),
                    Part::Timestamp,
                    Part::Literal(".".into()),
                    Part::Body,
                ],
            },
            encoding: Encoding::Base64,
            prefix: "v1,".into(),
            key: KeyEncoding::WhsecBase64,
            separator: Some(" ".into()),
        }
    }

    /// Checks a format given by a client: header names are HTTP tokens
    /// (stored lowercase) and distinct; the timestamp header exists when the
    /// timestamp is signed; separators and prefixes are short and printable.
    pub fn validate(mut self) -> Result<Self, ValidationError> {
        let mut names: Vec<&mut HeaderText> = vec![&mut self.signature_header];
        names.extend(self.timestamp_header.as_mut());
        names.extend(self.id_header.as_mut());
        names.extend(self.event_type_header.as_mut());
        for name in names.iter_mut() {
            if name.is_empty() || name.len() > 64 || !name.bytes().all(is_token_byte) {
                return Err(ValidationError::invalid(
                    "signature",
                    format!("{name:?} is not a valid header name"),
                ));
            }
            if name.bytes().any(|b| b.is_ascii_uppercase()) {
                **name = known_name(name.to_ascii_lowercase());
            }
        }
        let mut seen: Vec<&str> = names.iter().map(|n| n.as_ref()).collect();
        seen.sort_unstable();
        if seen.windows(2).any(|w| w[0] == w[1]) {
            return Err(ValidationError::invalid("signature", "header names must be distinct"));
        }
        if self.signed.covers_timestamp() && self.timestamp_header.is_none() {
            return Err(ValidationError::invalid(
                "signature",
                "signs {timestamp} but has no timestamp_header to send it in",
            ));
        }
        let printable = |s: &str| s.len() <= 16 && s.bytes().all(|b| (b' '..=b'~').contains(&b));
        if !printable(&self.prefix) {
            return Err(ValidationError::invalid("signature.prefix", "at most 16 printable characters"));
        }
        if let Some(sep) = &self.separator
            && (sep.is_empty() || !printable(sep))
        {
            return Err(ValidationError::invalid("signature.separator", "1 to 16 printable characters"));
        }
        Ok(self)
    }

    /// Every header name this format sets.
    pub fn header_names(&self) -> Vec<&str> {
        let mut out = vec![self.signature_header.as_ref()];
        out.extend(self.timestamp_header.as_deref());
        out.extend(self.id_header.as_deref());
        out.extend(self.event_type_header.as_deref());
        out
    }
}

fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_presets_header_names_are_borrowed_also_when_read_back_from_storage() {
        for preset in crate::presets::all() {
            let stored = serde_json::to_string(&preset.signature).unwrap();
            let read: SignatureFormat = serde_json::from_str(&stored).unwrap();
            for format in [&preset.signature, &read] {
                let names = [
                    Some(&format.signature_header),
                    format.timestamp_header.as_ref(),
                    format.id_header.as_ref(),
                    format.event_type_header.as_ref(),
                ];
                for name in names.into_iter().flatten() {
                    assert!(matches!(name, HeaderText::Borrowed(_)), "{}: {name} is a copy", preset.name);
                }
            }
        }
    }

    #[test]
    fn the_standard_format_round_trips_through_its_template() {
        let f = SignatureFormat::standard();
        assert_eq!(SignedContent::parse(f.signed.as_str()).unwrap(), f.signed);
        assert_eq!(f.clone().validate().unwrap(), f);
    }

    #[test]
    fn templates_without_the_body_or_with_unknown_placeholders_are_refused() {
        for bad in ["{timestamp}", "{body}{body}", "{body}.{nonce}", "{body", ""] {
            assert!(SignedContent::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(SignedContent::parse("{timestamp}.{body}").unwrap().parts().len(), 3);
    }

    #[test]
    fn formats_from_clients_are_normalised_and_checked() {
        let json = r#"{"signature_header":"X-Sig","timestamp_header":"X-Ts",
            "signed":"{timestamp}.{body}","encoding":"hex","prefix":"sha256=","key":"utf8"}"#;
        let f: SignatureFormat = serde_json::from_str(json).unwrap();
        let f = f.validate().unwrap();
        assert_eq!(f.header_names(), vec!["x-sig", "x-ts"]);

        let no_ts = r#"{"signature_header":"x-sig","signed":"{timestamp}.{body}",
            "encoding":"hex","key":"utf8"}"#;
        let f: SignatureFormat = serde_json::from_str(no_ts).unwrap();
        assert!(f.validate().is_err());

        let dup = r#"{"signature_header":"x-sig","timestamp_header":"X-SIG",
            "signed":"{body}","encoding":"hex","key":"utf8"}"#;
        let f: SignatureFormat = serde_json::from_str(dup).unwrap();
        assert!(f.validate().is_err());

        let unknown =
            r#"{"signature_header":"x","signed":"{body}","encoding":"hex","key":"utf8","algo":"md5"}"#;
        assert!(serde_json::from_str::<SignatureFormat>(unknown).is_err());
    }
}
