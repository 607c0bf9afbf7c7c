//! The request on the wire: body shapes and the signed request of one
//! attempt.

mod body;
mod request;

pub use body::{BodyError, BodyFormat, BodyInput, TimestampFormat};
pub use request::{BuildError, Content, OutgoingRequest, RequestTarget, USER_AGENT, build_request};
