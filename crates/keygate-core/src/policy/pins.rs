//! Mode pinning: hostnames that serve one mode only (`LIVE_HOSTS`, `TEST_HOSTS`), decided from
//! the key's prefix alone, before any store read.

use crate::Error;
use crate::domain::key::Mode;

/// Hostnames pinned to a mode (`LIVE_HOSTS`, `TEST_HOSTS`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostPins {
    /// Hosts that serve live keys only.
    pub live: Vec<String>,
    /// Hosts that serve test keys only.
    pub test: Vec<String>,
}

impl HostPins {
    /// Parse comma-separated host lists.
    pub fn parse(live: &str, test: &str) -> HostPins {
        let split =
            |s: &str| s.split(',').map(|h| h.trim().to_ascii_lowercase()).filter(|h| !h.is_empty()).collect();
        HostPins { live: split(live), test: split(test) }
    }

    /// Refuse a key whose mode the host does not serve.
    pub fn check(&self, host: Option<&str>, mode: Mode) -> Result<(), Error> {
        let Some(host) = host.map(str::to_ascii_lowercase) else { return Ok(()) };
        match mode {
            Mode::Test if self.live.contains(&host) => Err(Error::TestKeyOnLiveHost),
            Mode::Live if self.test.contains(&host) => Err(Error::LiveKeyOnTestHost),
            _ => Ok(()),
        }
    }
}
