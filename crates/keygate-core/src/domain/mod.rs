//! Layer 1, the domain: what keygate is about, with no I/O and no policy.

pub mod digest;
pub mod event;
pub mod ids;
pub mod key;
pub mod key_format;
pub mod keystate;
pub mod leak;
pub mod listing;
pub mod portal;
pub mod quota;
pub mod record;
pub mod settings;
pub mod web_url;
pub mod webhook;
