//! Layer 2, policy: what a request may do, decided from the domain alone.

pub mod access;
pub mod credential;
pub mod decision;
pub mod delegation;
pub mod gate;
pub mod identity;
pub mod leaks;
pub mod outbound;
pub mod pattern;
pub mod pins;
pub mod quota;
pub mod refusal_log;
pub mod request_shape;
pub mod throttle;
pub mod upstream;
pub mod usage;
