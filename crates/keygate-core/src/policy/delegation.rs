//! Self-service: what one key may do to another. The rule is that **no self-service call can
//! produce a credential or a setting with more power than the calling key has**:
//!
//! * a calling key with any restriction (`allowed_ips`, `allowed_endpoints`, an expiry, a rate
//!   limit or credits) acts only on keys at least as restricted as itself ([`within`]): every
//!   address the target accepts, the caller accepts too; every endpoint the target may call, the
//!   caller may call too; the target ends no later than the caller and has a rate limit no
//!   looser; a key with credits acts only on itself. An unrestricted secret key acts on every key
//!   of its account and mode. A roll's successor keeps its predecessor's settings, so rolling a
//!   key in scope yields a key in scope;
//! * a self-service `PATCH` only narrows ([`check_narrowing`]): it never removes a restriction,
//!   never adds an address, origin or endpoint that the key did not already accept, and never
//!   raises a permission. Widening is the operator's (`ADMIN_TOKEN`) alone.

use crate::Error;
use crate::domain::record::KeyRecord;
use crate::domain::settings::KeySettings;
use crate::domain::settings::Level;
use crate::policy::pattern::{EndpointPattern, OriginRule, parse_net};

/// Whether `caller` has any restriction that limits what it may act on.
pub fn restricted(caller: &KeyRecord) -> bool {
    caller.restrictions.allowed_ips.is_some()
        || caller.restrictions.allowed_endpoints.is_some()
        || caller.expires_at.is_some()
        || caller.rate_limit.is_some()
        || caller.credits
}

/// Whether `target` is at least as restricted as `caller` (see the module docs).
pub fn within(target: &KeyRecord, caller: &KeyRecord) -> bool {
    let (t, c) = (&target.restrictions, &caller.restrictions);
    let ips = match (&t.allowed_ips, &c.allowed_ips) {
        (_, None) => true,
        (None, Some(_)) => false,
        (Some(t), Some(c)) => t.iter().all(|n| ip_within(n, c)),
    };
    let endpoints = match (&t.allowed_endpoints, &c.allowed_endpoints) {
        (_, None) => true,
        (None, Some(_)) => false,
        (Some(t), Some(c)) => t.iter().all(|e| endpoint_within(e, c)),
    };
    let expiry = match (target.expires_at, caller.expires_at) {
        (_, None) => true,
        (None, Some(_)) => false,
        (Some(t), Some(c)) => t <= c,
    };
    // A rate limit no looser: as many requests at most, in a window at least as long.
    let rate = match (target.rate_limit, caller.rate_limit) {
        (_, None) => true,
        (None, Some(_)) => false,
        (Some(t), Some(c)) => t.limit <= c.limit && t.window >= c.window,
    };
    // Credits are counted by the authority, not in the record, so they cannot be compared: a
    // key with credits acts only on itself (and a roll moves its credits, never copies them).
    let credits = !caller.credits || target.id == caller.id;
    ips && endpoints && expiry && rate && credits
}

/// Refuse a self-service change to `record` that would widen it: [`Error::WideningNotAllowed`]
/// naming the first setting that would.
pub fn check_narrowing(record: &KeyRecord, settings: &KeySettings) -> Result<(), Error> {
    let widen = |param: &str| Err(Error::WideningNotAllowed { param: param.to_owned() });
    if let Some(new) = &settings.permissions {
        let old = record.permissions.clone().unwrap_or_default();
        let new = new.clone().unwrap_or_default();
        let level =
            |p: &crate::domain::settings::Permissions, r: &String| p.get(r).copied().unwrap_or(Level::None);
        if new.keys().any(|r| level(&new, r) > level(&old, r)) {
            return widen("permissions");
        }
    }
    let r = &record.restrictions;
    if !list_narrows(&r.allowed_ips, &settings.allowed_ips, ip_within) {
        return widen("allowed_ips");
    }
    if !list_narrows(&r.allowed_origins, &settings.allowed_origins, origin_within) {
        return widen("allowed_origins");
    }
    if !list_narrows(&r.allowed_endpoints, &settings.allowed_endpoints, endpoint_within) {
        return widen("allowed_endpoints");
    }
    // A rate limit narrows when it allows at most as many requests in a window at least as long;
    // removing one widens. Credits are the provider's to grant: never self-service.
    if let Some(new) = &settings.rate_limit {
        let narrows = match (record.rate_limit, new) {
            (_, None) => record.rate_limit.is_none(),
            (None, Some(_)) => true,
            (Some(old), Some(new)) => new.limit <= old.limit && new.window >= old.window,
        };
        if !narrows {
            return widen("rate_limit");
        }
    }
    if settings.credits.is_some() {
        return widen("credits");
    }
    // Metadata is the provider's record about the key (a customer, a plan): never self-service.
    // The name is the holder's own label: any key may rename itself or a key in its reach.
    if settings.metadata.is_some() {
        return widen("metadata");
    }
    Ok(())
}

/// A restriction list changed as `new` says (absent: unchanged; `null`: removed) narrows `old`.
fn list_narrows(
    old: &Option<Vec<String>>,
    new: &Option<Option<Vec<String>>>,
    covered: impl Fn(&str, &[String]) -> bool,
) -> bool {
    match (new, old) {
        (None, _) => true,
        (Some(None), old) => old.is_none(),
        (Some(Some(_)), None) => true,
        (Some(Some(new)), Some(old)) => new.iter().all(|x| covered(x, old)),
    }
}

fn ip_within(net: &str, of: &[String]) -> bool {
    let Some(net) = parse_net(net) else { return false };
    of.iter().filter_map(|o| parse_net(o)).any(|o| o.contains(&net))
}

fn endpoint_within(pattern: &str, of: &[String]) -> bool {
    let Some(p) = EndpointPattern::parse(pattern) else { return false };
    of.iter().filter_map(|o| EndpointPattern::parse(o)).any(|o| p.within(&o))
}

fn origin_within(origin: &str, of: &[String]) -> bool {
    let Some(rule) = OriginRule::parse(origin) else { return false };
    of.iter().filter_map(|o| OriginRule::parse(o)).any(|o| rule.within(&o))
}
