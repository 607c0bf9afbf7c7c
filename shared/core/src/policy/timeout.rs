//! Per-attempt timeouts: the whole attempt (connect, TLS, request, response
//! head and the kept part of the body) must finish within it.

use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::validation::ValidationError;

/// Default per-attempt timeout.
pub const DEFAULT_TIMEOUT_MS: u32 = 15_000;
/// Shortest timeout a subscription may ask for.
pub const MIN_TIMEOUT_MS: u32 = 1_000;
/// Longest timeout a subscription may ask for.
pub const MAX_TIMEOUT_MS: u32 = 30_000;

/// A per-attempt timeout between 1 s and 30 s.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttemptTimeout(u32);

impl Default for AttemptTimeout {
    fn default() -> Self {
        Self(DEFAULT_TIMEOUT_MS)
    }
}

impl AttemptTimeout {
    /// Checks a timeout in milliseconds.
    pub fn from_millis(ms: u64) -> Result<Self, ValidationError> {
        match u32::try_from(ms) {
            Ok(ms) if (MIN_TIMEOUT_MS..=MAX_TIMEOUT_MS).contains(&ms) => Ok(Self(ms)),
            _ => Err(ValidationError::OutOfRange {
                field: "timeout_ms".into(),
                min: MIN_TIMEOUT_MS.into(),
                max: MAX_TIMEOUT_MS.into(),
            }),
        }
    }

    /// The timeout in milliseconds.
    pub fn millis(self) -> u32 {
        self.0
    }

    /// The timeout as a duration.
    pub fn duration(self) -> Duration {
        Duration::from_millis(self.0.into())
    }
}

impl Serialize for AttemptTimeout {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u32(self.0)
    }
}

impl<'de> Deserialize<'de> for AttemptTimeout {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Self::from_millis(u64::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_are_bounded() {
        assert_eq!(AttemptTimeout::default().millis(), 15_000);
        assert!(AttemptTimeout::from_millis(1_000).is_ok());
        assert!(AttemptTimeout::from_millis(30_000).is_ok());
        for bad in [0, 999, 30_001, u64::MAX] {
            assert!(AttemptTimeout::from_millis(bad).is_err(), "{bad}");
        }
    }
}
