//! Named presets: each seed provider's wire format, retry schedule and
//! timeout as data (`presets.json`) over the generic signature and body
//! formats — never a code path of its own. A subscription created with
//! `"preset": "transcodely"` starts from these values; any field it also
//! gives overrides the preset's.

use std::sync::LazyLock;

use serde::Deserialize;

use crate::policy::{AttemptTimeout, RetrySchedule};
use crate::signing::SignatureFormat;
use crate::wire::BodyFormat;

/// One provider's way of sending webhooks.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Preset {
    /// The name subscriptions use.
    pub name: String,
    /// Whose format it is.
    pub provider: String,
    /// The signature format.
    pub signature: SignatureFormat,
    /// The body shape.
    pub body: BodyFormat,
    /// The retry schedule; `None`: hookline's default.
    #[serde(default)]
    pub retry_schedule: Option<RetrySchedule>,
    /// Per-attempt timeout.
    pub timeout_ms: u32,
    /// What the provider's page leaves open and how it was read.
    pub choices: String,
}

impl Preset {
    /// The preset's timeout, checked.
    pub fn timeout(&self) -> AttemptTimeout {
        AttemptTimeout::from_millis(self.timeout_ms.into()).unwrap_or_default()
    }
}

static PRESETS: LazyLock<Vec<Preset>> = LazyLock::new(|| {
    // The file is part of the crate and checked by a test; an error here is
    // a build defect, so a bad entry is left out rather than a panic at run
    // time. Formats are normalised as a client's would be (header names
    // lowercase).
    let raw: Vec<Preset> = serde_json::from_str(include_str!("presets.json")).unwrap_or_default();
    raw.into_iter()
        .filter_map(|mut p| {
            p.signature = p.signature.validate().ok()?;
            p.body = p.body.validate().ok()?;
            Some(p)
        })
        .collect()
});

/// Every preset.
pub fn all() -> &'static [Preset] {
    &PRESETS
}

/// The preset named `name`.
pub fn get(name: &str) -> Option<&'static Preset> {
    PRESETS.iter().find(|p| p.name == name)
}

/// The names, for error messages.
pub fn names() -> String {
    PRESETS.iter().map(|p| p.name.as_str()).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_preset_file_parses_and_every_preset_is_valid() {
        let raw: Vec<serde_json::Value> = serde_json::from_str(include_str!("presets.json")).unwrap();
        assert_eq!(all().len(), raw.len(), "presets.json must parse whole");
        for p in all() {
            assert_eq!(p.signature.clone().validate().as_ref(), Ok(&p.signature), "{}", p.name);
            assert_eq!(p.body.clone().validate().as_ref(), Ok(&p.body), "{}", p.name);
            assert!(AttemptTimeout::from_millis(p.timeout_ms.into()).is_ok(), "{}", p.name);
        }
        for name in ["standard", "importly", "ignite", "transcodely", "targetvideo", "heapstream"] {
            assert!(get(name).is_some(), "{name}");
        }
    }

    #[test]
    fn the_standard_preset_is_the_default_format() {
        let p = get("standard").unwrap();
        assert_eq!(p.signature, SignatureFormat::standard());
        assert_eq!(p.body, BodyFormat::Standard);
    }

    #[test]
    fn schedules_match_the_providers_pages() {
        let attempts = |n: &str| get(n).unwrap().retry_schedule.as_ref().map(RetrySchedule::max_attempts);
        assert_eq!(attempts("importly"), Some(3));
        assert_eq!(attempts("transcodely"), Some(6));
        let heap: u64 = get("heapstream")
            .unwrap()
            .retry_schedule
            .as_ref()
            .unwrap()
            .delays()
            .iter()
            .map(|d| d.as_secs())
            .sum();
        assert!((23 * 3600..=24 * 3600).contains(&heap), "HeapStream retries over about 24 h, got {heap} s");
        assert_eq!(get("heapstream").unwrap().timeout_ms, 5000);
    }
}
