//! Who may do what: API keys and the callers they make ([`keys`]), and the
//! portal's signed links and sessions ([`portal`]). Below the context, which
//! holds the portal key, and the API, which checks every caller.

pub mod keys;
pub mod portal;

pub use keys::{ApiKeys, BadKey, Caller, Denied, Scope};
pub use portal::{BadPortalKey, BadToken, PortalKey, Session};
