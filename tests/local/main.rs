//! What needs no AWS: signatures checked by other implementations
//! (the official Standard Webhooks libraries and the seed providers'
//! published receivers), and the target guard against live loopback
//! listeners.

mod guard_live;
mod signing_interop;
