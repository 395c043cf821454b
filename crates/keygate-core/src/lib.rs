//! keygate-core: everything in keygate that is logic, with no platform dependency.
//!
//! The request path is [`gate::authenticate`]: credential → key → record → decision. Time and
//! randomness are injected ([`clock::Clock`], [`rng::Rng`]); store access goes through
//! [`store::RecordStore`], with an in-memory fake that can inject faults.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod access;
pub mod admin;
pub mod authority;
pub mod clock;
pub mod command;
pub mod credential;
pub mod delegation;
pub mod digest;
pub mod error;
pub mod gate;
pub mod identity;
pub mod key;
pub mod keystate;
pub mod policy;
pub mod record;
pub mod request_shape;
pub mod rng;
pub mod store;
pub mod throttle;
pub mod time;
pub mod usage;

pub use error::{Error, ErrorBody, ErrorType};
