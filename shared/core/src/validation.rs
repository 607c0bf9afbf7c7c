//! The one error type of input validation: which field, and what is wrong
//! with it, in words a client can act on. The HTTP layer maps it to 422.

use std::borrow::Cow;

/// A value from outside that cannot become a model value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValidationError {
    /// A required field is absent or empty.
    #[error("{field} is required")]
    Missing {
        /// The field's name as the API spells it.
        field: Cow<'static, str>,
    },
    /// A text or list field is longer than allowed.
    #[error("{field} is too long: at most {max} {unit}")]
    TooLong {
        /// The field's name as the API spells it.
        field: Cow<'static, str>,
        /// The limit.
        max: usize,
        /// What the limit counts ("characters", "entries", "bytes").
        unit: &'static str,
    },
    /// A number is outside its allowed range.
    #[error("{field} must be between {min} and {max}")]
    OutOfRange {
        /// The field's name as the API spells it.
        field: Cow<'static, str>,
        /// Smallest allowed value.
        min: u64,
        /// Largest allowed value.
        max: u64,
    },
    /// Any other problem with a field, described for a human.
    #[error("{field} is invalid: {reason}")]
    Invalid {
        /// The field's name as the API spells it.
        field: Cow<'static, str>,
        /// What is wrong.
        reason: Cow<'static, str>,
    },
}

impl ValidationError {
    /// A field-level problem with a free-form reason.
    pub fn invalid(field: impl Into<Cow<'static, str>>, reason: impl Into<Cow<'static, str>>) -> Self {
        Self::Invalid { field: field.into(), reason: reason.into() }
    }

    /// A required field that is absent or empty.
    pub fn missing(field: impl Into<Cow<'static, str>>) -> Self {
        Self::Missing { field: field.into() }
    }

    /// A field longer than `max` units.
    pub fn too_long(field: impl Into<Cow<'static, str>>, max: usize, unit: &'static str) -> Self {
        Self::TooLong { field: field.into(), max, unit }
    }

    /// The field this error is about.
    pub fn field(&self) -> &str {
        match self {
            Self::Missing { field }
            | Self::TooLong { field, .. }
            | Self::OutOfRange { field, .. }
            | Self::Invalid { field, .. } => field,
        }
    }
}
