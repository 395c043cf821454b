//! keygate-core: everything in keygate that is logic, with no platform dependency.
//!
//! Four layers, each depending only on the layers before it (and on the base modules: the one
//! [`Error`], the injected [`clock`] and [`rng`], and [`time`] formatting). The edge's read port
//! [`store`] comes with policy, whose gate reads through it:
//!
//! 1. [`domain`]: what keygate is about. Keys and their digests, ids, settings, key records, audit
//!    events, and the key-state machine with its own input types. No I/O.
//! 2. [`policy`]: what a request may do. The request's shape, the credential, mode pins, the
//!    patterns, the decision, access rules, throttling, self-service delegation, and the identity
//!    with its signature; [`policy::gate::authenticate`] runs phases 1–4 over the read port.
//! 3. [`commands`]: what changes keys. The authority over one (mode, account) and its storage
//!    ports, the Durable Object's command protocol (which commands run serialised) and its
//!    dispatch, with fault-injecting fakes in their own module.
//! 4. [`api`]: the management API's wire format. Request validation, response objects, and the
//!    error body every refusal is rendered as.
//!
//! No files name each other in a loop (by an import or a path), within a layer either, and the
//! [`Error`] names nothing of the layers. `tests/layers.rs` checks both from the source. It reads
//! names: a method called on a value is not seen (the authority's `impl` is spread over the
//! commands' files, which call each other's methods).
//!
//! Time and randomness are injected ([`clock::Clock`], [`rng::Rng`]); every store goes through a
//! trait with an in-memory fake that can inject faults.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod clock;
pub mod error;
pub mod rng;
pub mod store;
pub mod time;

pub mod domain;

pub mod policy;

pub mod commands;

pub mod api;

pub use error::{Error, ErrorType};
