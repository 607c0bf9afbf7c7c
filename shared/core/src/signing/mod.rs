//! Signing and verifying webhook requests: Standard Webhooks by default, and
//! any provider's format described as data ([`SignatureFormat`]).
//!
//! A Rust receiver verifies with [`standard::verify`] or [`verify`].

mod format;
mod secret;
mod sign;
pub mod standard;
mod verify;

pub use format::{Encoding, HeaderText, Part, SignatureFormat, SignedContent};
pub use secret::{
    GENERATED_SECRET_BYTES, KeyEncoding, RetiringSecret, Secret, SecretError, SecretSet, WHSEC_PREFIX,
};
pub use sign::{Message, SigningError, encode, mac, sign_headers, sign_headers_into, signature_value};
pub use verify::{DEFAULT_TOLERANCE_SECS, HeaderLookup, VerifyError, verify};

#[cfg(test)]
mod tests;
