//! Names that come from clients: tenants, event types and the patterns
//! subscriptions use to choose event types. Each is checked once, here.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::validation::ValidationError;

/// Longest tenant name.
pub const MAX_TENANT_LEN: usize = 64;
/// Longest event type name.
pub const MAX_EVENT_TYPE_LEN: usize = 128;

fn is_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'-'
}

macro_rules! string_newtype_serde {
    ($name:ident) => {
        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                Self::parse(&s).map_err(serde::de::Error::custom)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

/// The platform's customer an event, subscription or secret belongs to:
/// 1–64 characters of `A-Z a-z 0-9 _ - .`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TenantId(String);

impl TenantId {
    /// Checks a tenant name.
    pub fn parse(s: &str) -> Result<Self, ValidationError> {
        if s.is_empty() {
            return Err(ValidationError::missing("tenant"));
        }
        if s.len() > MAX_TENANT_LEN {
            return Err(ValidationError::too_long("tenant", MAX_TENANT_LEN, "characters"));
        }
        if !s.bytes().all(|b| is_name_byte(b) || b == b'.') {
            return Err(ValidationError::invalid(
                "tenant",
                "may contain only letters, digits, '_', '-' and '.'",
            ));
        }
        Ok(Self(s.to_owned()))
    }

    /// The tenant name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}
string_newtype_serde!(TenantId);

/// An event type such as `video.encoded`, `import.completed` or `sd_encoded`:
/// dot-separated segments of `A-Z a-z 0-9 _ -`, 1–128 characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EventType(String);

fn check_segments(field: &'static str, s: &str) -> Result<(), ValidationError> {
    if s.split('.').any(|seg| seg.is_empty() || !seg.bytes().all(is_name_byte)) {
        return Err(ValidationError::invalid(
            field,
            "must be dot-separated words of letters, digits, '_' and '-' (like video.encoded)",
        ));
    }
    Ok(())
}

impl EventType {
    /// Checks an event type name.
    pub fn parse(s: &str) -> Result<Self, ValidationError> {
        if s.is_empty() {
            return Err(ValidationError::missing("type"));
        }
        if s.len() > MAX_EVENT_TYPE_LEN {
            return Err(ValidationError::too_long("type", MAX_EVENT_TYPE_LEN, "characters"));
        }
        check_segments("type", s)?;
        Ok(Self(s.to_owned()))
    }

    /// The type name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}
string_newtype_serde!(EventType);

/// What a subscription listens to: an exact type (`video.encoded`), every
/// type under a prefix (`job.*`), or everything (`*`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum EventTypePattern {
    /// Every event type.
    All,
    /// Types that start with this prefix and a dot (stored without `.*`).
    Prefix(String),
    /// Exactly this type.
    Exact(EventType),
}

impl EventTypePattern {
    /// Parses `*`, `prefix.*` or an exact type name.
    pub fn parse(s: &str) -> Result<Self, ValidationError> {
        const FIELD: &str = "event_types";
        if s == "*" {
            return Ok(Self::All);
        }
        if s.len() > MAX_EVENT_TYPE_LEN {
            return Err(ValidationError::too_long(FIELD, MAX_EVENT_TYPE_LEN, "characters"));
        }
        if let Some(prefix) = s.strip_suffix(".*") {
            check_segments(FIELD, prefix)?;
            return Ok(Self::Prefix(prefix.to_owned()));
        }
        check_segments(FIELD, s)?;
        Ok(Self::Exact(EventType(s.to_owned())))
    }

    /// Whether an event of this type matches the pattern.
    pub fn matches(&self, ty: &EventType) -> bool {
        match self {
            Self::All => true,
            Self::Exact(t) => t == ty,
            Self::Prefix(p) => ty.as_str().strip_prefix(p.as_str()).is_some_and(|rest| rest.starts_with('.')),
        }
    }

    /// The pattern as the API spells it.
    pub fn as_string(&self) -> String {
        match self {
            Self::All => "*".to_owned(),
            Self::Prefix(p) => format!("{p}.*"),
            Self::Exact(t) => t.0.clone(),
        }
    }
}

impl Serialize for EventTypePattern {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.as_string())
    }
}

impl<'de> Deserialize<'de> for EventTypePattern {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// Whether an event type is wanted by a list of patterns; an empty list wants
/// every type.
pub fn wants(patterns: &[EventTypePattern], ty: &EventType) -> bool {
    patterns.is_empty() || patterns.iter().any(|p| p.matches(ty))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ty(s: &str) -> EventType {
        EventType::parse(s).unwrap()
    }

    #[test]
    fn every_seed_providers_event_names_are_valid_types() {
        for name in [
            "import.completed",
            "basic-metadata.failed",
            "video.created",
            "job.awaiting_confirmation",
            "sd_encoded",
            "livestream_add_v2",
        ] {
            assert!(EventType::parse(name).is_ok(), "{name}");
        }
    }

    #[test]
    fn malformed_types_are_refused_with_a_reason() {
        for bad in ["", ".a", "a.", "a..b", "a b", "job.*", "é", "a/b", &"x".repeat(129)] {
            let err = EventType::parse(bad).unwrap_err();
            assert_eq!(err.field(), "type", "{bad}");
        }
    }

    #[test]
    fn prefix_patterns_match_whole_segments_only() {
        let job = EventTypePattern::parse("job.*").unwrap();
        assert!(job.matches(&ty("job.completed")));
        assert!(job.matches(&ty("job.output.ready")));
        assert!(!job.matches(&ty("job")));
        assert!(!job.matches(&ty("jobs.completed")));
        assert!(!job.matches(&ty("video.job.completed")));
    }

    #[test]
    fn exact_patterns_match_only_that_type() {
        let p = EventTypePattern::parse("video.encoded").unwrap();
        assert!(p.matches(&ty("video.encoded")));
        assert!(!p.matches(&ty("video.encoded.sd")));
    }

    #[test]
    fn an_empty_list_or_star_wants_everything() {
        assert!(wants(&[], &ty("anything")));
        assert!(wants(&[EventTypePattern::parse("*").unwrap()], &ty("x.y")));
        assert!(!wants(&[EventTypePattern::parse("a.*").unwrap()], &ty("b.c")));
    }

    #[test]
    fn patterns_refuse_wildcards_anywhere_but_the_end() {
        for bad in ["*.completed", "job.*.x", "j*", "job.**", ".*", ""] {
            assert!(EventTypePattern::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn tenants_are_checked() {
        assert!(TenantId::parse("acme-video_1.eu").is_ok());
        for bad in ["", "a b", "a/b", &"t".repeat(65)] {
            assert!(TenantId::parse(bad).is_err(), "{bad}");
        }
    }
}
