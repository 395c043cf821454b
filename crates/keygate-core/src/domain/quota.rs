//! A key's usage controls: a **rate limit** (at most `limit` requests per `window` seconds) and
//! **credits** (at most `remaining` more requests, optionally refilled every day or month), and
//! the authority's arithmetic for them.
//!
//! The Durable Object is not on every request's path. An isolate **leases** a block of each from
//! the authority and spends it locally (`crate::policy::quota`):
//!
//! * a rate lease is a share of one clock-aligned window's `limit`, valid until that window ends;
//!   the authority never grants more than `limit` in a window, so no window ever proxies more
//!   than `limit` requests (as long as the isolates' clocks agree with the authority's: a lease
//!   is only spent in the window it was granted for, by the isolate's own clock);
//! * a credit lease is taken off `remaining` when it is granted, so the requests proxied never
//!   exceed the credits granted, whatever the number of isolates and however they interleave.
//!   What an isolate leased and did not spend is returned when its lease ends ([`LEASE_SECONDS`])
//!   the next time that isolate serves the key; if the isolate is evicted first, it is lost
//!   (never spent twice). So at most one block per isolate holding the key is unusable at a
//!   time, for at most [`LEASE_SECONDS`] while the isolate lives.
//!
//! Blocks are small against what is left ([`rate_block`], [`credit_block`]): a key with 3
//! credits or a limit of 5 leases one at a time, a key with a million leases 100 at a time
//! ([`MAX_BLOCK`]), and up to 1000 ([`HOT_BLOCK`]) to an isolate that spends its blocks within
//! seconds (it asks for them, [`LeaseAsk::want`]).
//! Everything here is a pure function of the stored state and an injected `now`.

use crate::Error;
use crate::clock::UnixSeconds;
use crate::time::{civil_from_days, days_from_civil};

/// The shortest and longest rate-limit window, seconds.
pub const MIN_WINDOW: i64 = 1;
/// One day.
pub const MAX_WINDOW: i64 = 86_400;
/// The largest `limit`, `remaining` or refill `amount` accepted (2^53 - 1, exact in JSON).
pub const MAX_COUNT: u64 = (1 << 53) - 1;
/// How long an isolate may spend a credit lease before what is left of it goes back.
pub const LEASE_SECONDS: i64 = 60;
/// The most a block holds, unless the isolate asks for more ([`LeaseAsk::want`]).
pub const MAX_BLOCK: u64 = 100;
/// The most a block holds for an isolate that asks for more (one that spends its blocks within
/// seconds asks for twice its last one, up to this). A busy key then costs the authority one
/// call per 1000 requests per isolate, not per 100.
pub const HOT_BLOCK: u64 = 1000;

/// At most `limit` requests per `window` seconds, in windows aligned to the clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RateLimit {
    /// Requests per window, 1 or more.
    pub limit: u64,
    /// Seconds, [`MIN_WINDOW`] to [`MAX_WINDOW`].
    pub window: i64,
}

impl RateLimit {
    /// A validated rate limit; `param` names the field in errors.
    pub fn new(limit: u64, window: i64, param: &str) -> Result<RateLimit, Error> {
        if !(1..=MAX_COUNT).contains(&limit) {
            return Err(Error::invalid_param(
                "parameter_invalid",
                format!("{param}.limit"),
                format!("`{param}.limit` must be a whole number from 1 to {MAX_COUNT}"),
            ));
        }
        if !(MIN_WINDOW..=MAX_WINDOW).contains(&window) {
            return Err(Error::invalid_param(
                "parameter_invalid",
                format!("{param}.window"),
                format!(
                    "`{param}.window` must be a whole number of seconds from {MIN_WINDOW} to {MAX_WINDOW}"
                ),
            ));
        }
        Ok(RateLimit { limit, window })
    }

    /// The window `now` falls in.
    pub fn window_of(&self, now: UnixSeconds) -> i64 {
        now.div_euclid(self.window)
    }

    /// When window `w` ends.
    pub fn window_end(&self, w: i64) -> UnixSeconds {
        (w + 1) * self.window
    }
}

/// How often credits are refilled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Interval {
    /// At each UTC midnight.
    Day,
    /// At the first UTC midnight of each month.
    Month,
}

impl Interval {
    /// The first refill time strictly after `t`.
    pub fn next_after(self, t: UnixSeconds) -> UnixSeconds {
        let days = t.div_euclid(86_400);
        match self {
            Interval::Day => (days + 1) * 86_400,
            Interval::Month => {
                let (y, m, _) = civil_from_days(days);
                let (y, m) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
                days_from_civil(y, m, 1) * 86_400
            }
        }
    }

    /// The last refill time at or before `t`.
    pub fn at_or_before(self, t: UnixSeconds) -> UnixSeconds {
        let days = t.div_euclid(86_400);
        match self {
            Interval::Day => days * 86_400,
            Interval::Month => {
                let (y, m, _) = civil_from_days(days);
                days_from_civil(y, m, 1) * 86_400
            }
        }
    }

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Interval::Day => "day",
            Interval::Month => "month",
        }
    }
}

/// Credits go back to `amount` at every `interval` (unused credits do not carry over).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Refill {
    /// What `remaining` is set to.
    pub amount: u64,
    /// When.
    pub interval: Interval,
}

/// A key's credits as the authority keeps them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Credits {
    /// Requests left, not counting what isolates hold in leases.
    pub remaining: u64,
    /// The refill, if any.
    #[serde(default)]
    pub refill: Option<Refill>,
    /// When credits were last refilled.
    #[serde(default)]
    pub refilled_at: Option<UnixSeconds>,
    /// Bumped at every refill: a lease of an earlier period is not returned into a later one.
    #[serde(default)]
    pub period: u64,
    /// `remaining` as it was last set, refilled or changed by the operator: what "low" is
    /// measured against ([`credits_notice`]). 0 when unknown (credits set by an older version).
    #[serde(default)]
    pub granted: u64,
    /// The notices sent since credits were last granted: 1 `key.credits_low`, 2
    /// `key.credits_exhausted` (so that a lease returned unspent does not announce them again).
    #[serde(default)]
    pub noticed: u8,
}

/// The notice a change of credits from `before` to `after` calls for: `key.credits_exhausted`
/// when the last credit was granted, `key.credits_low` when what is left first falls to 10 % of
/// what was granted. Measured as the authority counts them: credits leased to an isolate count
/// as spent, so a notice may come up to a lease block (at most 1000) early.
///
/// Each notice is sent once per grant (`noticed`, which this sets on `after`).
pub fn credits_notice(before: Option<&Credits>, after: Option<&mut Credits>) -> Option<&'static str> {
    let (before, after) = (before?, after?);
    let (kind, flag) = if before.remaining > 0 && after.remaining == 0 {
        ("key.credits_exhausted", 2)
    } else if after.remaining > 0
        && after.granted > 0
        && after.remaining.saturating_mul(10) <= after.granted
        && before.period == after.period
    {
        ("key.credits_low", 1)
    } else {
        return None;
    };
    (after.noticed & flag == 0).then(|| {
        after.noticed |= flag;
        kind
    })
}

impl Credits {
    /// New credits, validated; `param` names the field in errors.
    pub fn new(remaining: u64, refill: Option<Refill>, param: &str) -> Result<Credits, Error> {
        if remaining > MAX_COUNT {
            return Err(Error::invalid_param(
                "parameter_invalid",
                format!("{param}.remaining"),
                format!("`{param}.remaining` must be a whole number from 0 to {MAX_COUNT}"),
            ));
        }
        if let Some(r) = refill
            && !(1..=MAX_COUNT).contains(&r.amount)
        {
            return Err(Error::invalid_param(
                "parameter_invalid",
                format!("{param}.refill.amount"),
                format!("`{param}.refill.amount` must be a whole number from 1 to {MAX_COUNT}"),
            ));
        }
        Ok(Credits { remaining, refill, refilled_at: None, period: 0, granted: remaining, noticed: 0 })
    }

    /// When the next refill is due, counted from the last one (or from `created` if none yet).
    pub fn next_refill(&self, created: UnixSeconds) -> Option<UnixSeconds> {
        self.refill.map(|r| r.interval.next_after(self.refilled_at.unwrap_or(created)))
    }

    /// Refill if one is due by `now`. Returns whether it did.
    pub fn refill_due(&mut self, created: UnixSeconds, now: UnixSeconds) -> bool {
        match (self.refill, self.next_refill(created)) {
            (Some(r), Some(due)) if due <= now => {
                self.remaining = r.amount;
                self.granted = r.amount;
                self.noticed = 0;
                // The refill time itself, so that the next one stays on the calendar.
                let mut at = due;
                while r.interval.next_after(at) <= now {
                    at = r.interval.next_after(at);
                }
                self.refilled_at = Some(at);
                self.period += 1;
                true
            }
            _ => false,
        }
    }

    /// An operator's change of `remaining`: set, or add a signed amount (never below 0 or above
    /// [`MAX_COUNT`]: such a change is refused, not clamped).
    pub fn adjust(&mut self, change: CreditChange) -> Result<(), Error> {
        let next = match change {
            CreditChange::Set(n) => Some(n),
            CreditChange::Increment(n) => self.remaining.checked_add(n),
            CreditChange::Decrement(n) => self.remaining.checked_sub(n),
        };
        match next.filter(|n| *n <= MAX_COUNT) {
            Some(n) => {
                self.remaining = n;
                self.granted = n;
                self.noticed = 0;
                Ok(())
            }
            None => Err(Error::invalid_param(
                "parameter_invalid",
                "amount",
                format!(
                    "The change would take credits to below 0 or above {MAX_COUNT} (remaining: {})",
                    self.remaining
                ),
            )),
        }
    }
}

/// An operator's change of a key's credits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "op", content = "amount", rename_all = "snake_case")]
pub enum CreditChange {
    /// `remaining = n`.
    Set(u64),
    /// `remaining += n`.
    Increment(u64),
    /// `remaining -= n`.
    Decrement(u64),
}

/// Rate tokens granted per lease: a 32nd of the limit, 1 to `cap` ([`block_cap`]).
pub fn rate_block(limit: u64, cap: u64) -> u64 {
    (limit / 32).clamp(1, cap.max(1))
}

/// Credits granted per lease: a 32nd of what is left, 1 to `cap` ([`block_cap`]), never more
/// than is left.
pub fn credit_block(remaining: u64, cap: u64) -> u64 {
    (remaining / 32).clamp(1, cap.max(1)).min(remaining)
}

/// The most one block holds for an ask that wants `want`: [`MAX_BLOCK`] to [`HOT_BLOCK`].
pub fn block_cap(want: u64) -> u64 {
    want.clamp(MAX_BLOCK, HOT_BLOCK)
}

/// The authority's count of rate tokens granted in the current window of one key.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RateWindow {
    /// The window (`now / window`).
    pub window: i64,
    /// Tokens granted in it.
    pub granted: u64,
}

/// What an isolate asks for one key: a block of whichever it has run out of.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LeaseAsk {
    /// A rate block.
    #[serde(default)]
    pub rate: bool,
    /// A credit block.
    #[serde(default)]
    pub credits: bool,
    /// Unspent credits of an ended lease, with the period they were leased in.
    #[serde(default)]
    pub returned: Option<(u64, u64)>,
    /// Another ask of the same isolate for this key is in flight: one of each is enough, or a
    /// burst of concurrent requests would each lease a whole block.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub small: bool,
    /// The block the isolate would like, when it spends blocks fast: granted up to
    /// [`HOT_BLOCK`], and never more than a 32nd of the limit or of what is left. `0` (and
    /// anything up to [`MAX_BLOCK`]) asks for an ordinary block.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub want: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// The authority's answer to a [`LeaseAsk`]. On the wire it is a JSON array ([`GrantWire`]): the
/// lean edge decodes it on the request path, and a sequence costs it less code than named fields.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(into = "GrantWire", from = "GrantWire")]
pub struct LeaseGrant {
    /// Rate tokens for `window`, and how many the window has left after them.
    pub rate: Option<RateGrant>,
    /// Credits, of `period`, to spend by `until`, and how many are left after them.
    pub credits: Option<CreditGrant>,
    /// Set when the rate limit refused: seconds until the window ends.
    pub rate_limited: Option<u32>,
    /// Set when credits refused.
    pub credits_exhausted: bool,
    /// With a credits refusal: seconds until the next refill, if one is due.
    pub credits_retry_after: Option<u32>,
}

/// [`LeaseGrant`] on the wire: `[rate, credits, rate_limited, credits_exhausted,
/// credits_retry_after]`, with `rate` as `[until, tokens, left]` and `credits` as `[period,
/// tokens, until, left]`, each `null` when absent.
#[derive(Debug, Clone, Copy, serde::Serialize, serde::Deserialize)]
pub struct GrantWire(
    Option<(i64, u64, u64)>,
    Option<(u64, u64, UnixSeconds, u64)>,
    Option<u32>,
    bool,
    Option<u32>,
);

impl From<LeaseGrant> for GrantWire {
    fn from(g: LeaseGrant) -> Self {
        GrantWire(
            g.rate.map(|r| (r.until, r.tokens, r.left)),
            g.credits.map(|c| (c.period, c.tokens, c.until, c.left)),
            g.rate_limited,
            g.credits_exhausted,
            g.credits_retry_after,
        )
    }
}

impl From<GrantWire> for LeaseGrant {
    fn from(w: GrantWire) -> Self {
        LeaseGrant {
            rate: w.0.map(|(until, tokens, left)| RateGrant { until, tokens, left }),
            credits: w.1.map(|(period, tokens, until, left)| CreditGrant { period, tokens, until, left }),
            rate_limited: w.2,
            credits_exhausted: w.3,
            credits_retry_after: w.4,
        }
    }
}

/// Rate tokens granted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateGrant {
    /// When the window they are for ends: they are spent before then or not at all.
    pub until: UnixSeconds,
    /// How many.
    pub tokens: u64,
    /// Left in the window after this grant.
    pub left: u64,
}

/// Credits granted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CreditGrant {
    /// The credit period they belong to.
    pub period: u64,
    /// How many.
    pub tokens: u64,
    /// Spend them before this time; what is left then goes back.
    pub until: UnixSeconds,
    /// `remaining` after this grant.
    pub left: u64,
}

/// Grant what `ask` asks of a key with `rate_limit` and `credits`, at `now`: all or nothing. A
/// block of one is granted only if the other (when asked for too, or when the key has it and the
/// isolate holds none) can be granted as well, so a request refused by one spends nothing from
/// the other. Returned credits are added back first if they belong to the current period.
pub fn lease(
    rate_limit: Option<&RateLimit>,
    window: &mut RateWindow,
    credits: Option<&mut Credits>,
    created: UnixSeconds,
    ask: LeaseAsk,
    now: UnixSeconds,
) -> LeaseGrant {
    let mut credits = credits;
    if let Some(c) = credits.as_deref_mut() {
        c.refill_due(created, now);
        if let Some((period, n)) = ask.returned
            && period == c.period
        {
            c.remaining = c.remaining.saturating_add(n).min(MAX_COUNT);
        }
    }
    let mut grant = LeaseGrant::default();
    // What can be granted, before anything is taken.
    let rate = match (rate_limit, ask.rate) {
        (Some(rl), true) => {
            let w = rl.window_of(now);
            let granted = if window.window == w { window.granted } else { 0 };
            let left = rl.limit.saturating_sub(granted);
            if left == 0 {
                grant.rate_limited = Some((rl.window_end(w) - now).max(1) as u32);
                None
            } else {
                let block = if ask.small { 1 } else { rate_block(rl.limit, block_cap(ask.want)) };
                Some((w, block.min(left), left, granted))
            }
        }
        _ => None,
    };
    let credit = match (credits.as_deref(), ask.credits) {
        (Some(c), true) => {
            if c.remaining == 0 {
                grant.credits_exhausted = true;
                grant.credits_retry_after = c.next_refill(created).map(|t| (t - now).max(1) as u32);
                None
            } else {
                Some(if ask.small { 1 } else { credit_block(c.remaining, block_cap(ask.want)) })
            }
        }
        _ => None,
    };
    // All or nothing: if either refused, neither is taken.
    if grant.rate_limited.is_some() || grant.credits_exhausted {
        return grant;
    }
    if let Some((w, tokens, left, granted)) = rate {
        *window = RateWindow { window: w, granted: granted + tokens };
        let until = rate_limit.map_or(now, |rl| rl.window_end(w));
        grant.rate = Some(RateGrant { until, tokens, left: left - tokens });
    }
    if let (Some(tokens), Some(c)) = (credit, credits.as_deref_mut()) {
        c.remaining -= tokens;
        grant.credits =
            Some(CreditGrant { period: c.period, tokens, until: now + LEASE_SECONDS, left: c.remaining });
    }
    // The edge checks what its copy of the record says; when the authority no longer has that
    // control (the operator removed it, and the copy is not yet updated), the key is unlimited
    // in it: say so with a block that no refill or return can confuse.
    if ask.rate && rate_limit.is_none() {
        grant.rate = Some(RateGrant { until: now + LEASE_SECONDS, tokens: MAX_BLOCK, left: MAX_COUNT });
    }
    if ask.credits && credits.is_none() {
        grant.credits = Some(CreditGrant {
            period: UNLIMITED,
            tokens: MAX_BLOCK,
            until: now + LEASE_SECONDS,
            left: MAX_COUNT,
        });
    }
    grant
}

/// The period of a credit block granted to a key that has no credits (any more): never a real
/// period, so it is never returned into one.
pub const UNLIMITED: u64 = u64::MAX;

/// `"default";q=<limit>;w=<window>`, the `RateLimit-Policy` of a key's limit
/// (draft-ietf-httpapi-ratelimit-headers).
pub fn policy_header(rl: &RateLimit) -> String {
    format!("\"default\";q={};w={}", rl.limit, rl.window)
}

/// `"default";r=<left>;t=<seconds until the window ends>`, the `RateLimit` field.
pub fn remaining_header(left: u64, reset: i64) -> String {
    format!("\"default\";r={left};t={}", reset.max(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refill_times_follow_the_calendar() {
        // 2026-01-31T12:00:00Z
        let t = days_from_civil(2026, 1, 31) * 86_400 + 43_200;
        assert_eq!(Interval::Day.next_after(t), days_from_civil(2026, 2, 1) * 86_400);
        assert_eq!(Interval::Month.next_after(t), days_from_civil(2026, 2, 1) * 86_400);
        let dec = days_from_civil(2026, 12, 15) * 86_400;
        assert_eq!(Interval::Month.next_after(dec), days_from_civil(2027, 1, 1) * 86_400);
        // Exactly at a boundary, the next one.
        let midnight = days_from_civil(2026, 3, 1) * 86_400;
        assert_eq!(Interval::Month.next_after(midnight), days_from_civil(2026, 4, 1) * 86_400);
        assert_eq!(Interval::Day.next_after(midnight), midnight + 86_400);
    }

    #[test]
    fn blocks_are_small_against_what_is_left() {
        let cap = block_cap(0);
        assert_eq!(cap, MAX_BLOCK);
        assert_eq!(credit_block(3, cap), 1);
        assert_eq!(credit_block(0, cap), 0);
        assert_eq!(credit_block(64, cap), 2);
        assert_eq!(credit_block(1_000_000, cap), MAX_BLOCK);
        assert_eq!(rate_block(5, cap), 1);
        assert_eq!(rate_block(10_000, cap), MAX_BLOCK);
        // An isolate that asks for more gets up to HOT_BLOCK, still a 32nd of the limit or of
        // what is left at most.
        assert_eq!(block_cap(50), MAX_BLOCK);
        assert_eq!(block_cap(400), 400);
        assert_eq!(block_cap(u64::MAX), HOT_BLOCK);
        assert_eq!(credit_block(1_000_000, block_cap(u64::MAX)), HOT_BLOCK);
        assert_eq!(credit_block(6400, block_cap(u64::MAX)), 200);
        assert_eq!(rate_block(5, block_cap(u64::MAX)), 1);
        assert_eq!(rate_block(1_000_000_000, block_cap(800)), 800);
        assert_eq!(rate_block(1_000_000_000, 0), 1, "a cap of 0 is taken as 1, never a panic");
        // An ask of an edge from before `want` reads as an ordinary one.
        let old: LeaseAsk = serde_json::from_str(r#"{"rate":true,"credits":false,"returned":null}"#).unwrap();
        assert_eq!(old.want, 0);
        assert!(!serde_json::to_string(&old).unwrap().contains("want"));
    }
}
