//! Layer 3, commands: what changes keys, over ports the platform implements.

pub mod authority;
pub mod command;
pub mod fakes;
pub mod leaks;
pub mod migration;
pub mod portal;
pub mod ports;
mod scope;
mod upkeep;
mod webhooks;
