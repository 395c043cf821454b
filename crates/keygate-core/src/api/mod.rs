//! Layer 4, the management API's wire format: requests in, objects and errors out.

pub mod error_body;
pub mod import;
pub mod leaks;
pub mod object;
pub mod portal;
pub mod request;
pub mod settings;
pub mod webhook;
