//! The edge's side of a key's usage controls (`crate::domain::quota`): per isolate, the blocks
//! leased from the authority, spent one request at a time. A request of a key with a rate limit
//! or credits goes on only when one of each applies is at hand here; otherwise the isolate asks
//! the authority for a block of what it lacks (one round trip per block, not per request).
//!
//! Checks run after the key is authenticated and authorised, so a refused request spends
//! nothing; and a request spends one of each or none at all.
//!
//! Blocks grow with an isolate's traffic, per control: an isolate that spent its last whole
//! block of one in less than [`FAST_SECONDS`] from its grant asks for twice what it was granted
//! (at least 2 × [`MAX_BLOCK`], at most [`HOT_BLOCK`]; asking for both controls, the smaller of
//! the two); one that took longer, or whose block lapsed unspent, asks for an ordinary block
//! again. So a busy key costs the authority about one call per 1000 requests per isolate, and a
//! grown block is at most twice what the isolate spent in under 2 seconds: about 4 seconds of
//! its own traffic.

use std::cell::RefCell;
use std::collections::HashMap;

use crate::Error;
use crate::clock::UnixSeconds;
use crate::domain::quota::{HOT_BLOCK, LeaseAsk, LeaseGrant, MAX_BLOCK, RateLimit};

/// A key's controls as the edge sees them in its record.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Controls<'a> {
    /// The rate limit, if any.
    pub rate_limit: Option<&'a RateLimit>,
    /// Whether the key has credits (unlimited when not).
    pub credits: bool,
}

impl Controls<'_> {
    /// Whether there is anything to check.
    pub fn any(&self) -> bool {
        self.rate_limit.is_some() || self.credits
    }
}

/// What the client is told about a request that went on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Told {
    /// `(limit, window, left as this isolate knows it, seconds until the window ends)`.
    pub rate: Option<(u64, i64, u64, i64)>,
    /// Credits left as this isolate knows it: the authority's count at the last lease, plus
    /// what this isolate still holds.
    pub credits_left: Option<u64>,
}

/// How long an isolate answers `credits_exhausted` itself after the authority said so, before
/// it asks again (unless a refill is due sooner): an operator's top-up reaches every isolate
/// within this many seconds, and a key out of credits costs the authority one call per isolate
/// per this many seconds, not one per request.
pub const CREDITS_RECHECK: UnixSeconds = 10;

/// The result of trying to spend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Spend {
    /// One of each control was spent here: go on.
    Spent(Told),
    /// Ask the authority for this first, then [`Leases::granted`], then spend again.
    Ask(LeaseAsk),
    /// The authority refused lately, and that still holds: refuse without asking.
    Refused(Error),
}

#[derive(Debug, Clone, Copy, Default)]
struct Held {
    /// (when the window they were granted for ends, tokens, left in it after the grant).
    rate: Option<(i64, u64, u64)>,
    /// (period, tokens, until, remaining at the authority after the grant).
    credits: Option<(u64, u64, UnixSeconds, u64)>,
    /// The rate limit refused until this time (the window's end).
    rate_refused_until: UnixSeconds,
    /// Credits refused until this time, and when the refill is due (if it is).
    credits_refused_until: (UnixSeconds, Option<UnixSeconds>),
    /// The rate limit the tokens above were granted under: a changed limit (an operator's
    /// PATCH, seen in the key's record) drops them and any refusal remembered with them.
    limit_seen: Option<RateLimit>,
    /// Until when an ask for a whole block is taken to be in flight: meanwhile, other requests
    /// that run out ask for one of each only.
    asking_until: UnixSeconds,
    /// The last whole rate block granted, for growing the next one.
    rate_grown: Growth,
    /// The last whole credit block granted, for growing the next one.
    credits_grown: Growth,
}

/// The last whole block of one control an isolate was granted: when, and how many.
#[derive(Debug, Clone, Copy, Default)]
struct Growth {
    granted_at: Option<UnixSeconds>,
    tokens: u64,
}

impl Growth {
    /// The block to ask for now that this control ran out at `now`: twice the last one (at
    /// least [`MAX_BLOCK`], at most [`HOT_BLOCK`]) if it was spent out (not lapsed) within
    /// [`FAST_SECONDS`] of its grant; otherwise `0`, an ordinary block.
    fn want(&self, spent_out: bool, now: UnixSeconds) -> u64 {
        match self.granted_at {
            Some(t) if spent_out && now - t < FAST_SECONDS => (self.tokens.max(MAX_BLOCK) * 2).min(HOT_BLOCK),
            _ => 0,
        }
    }

    /// A whole block of `tokens` granted at `now` (a refusal, with none, changes nothing).
    fn granted(&mut self, tokens: u64, now: UnixSeconds) {
        if tokens > 0 {
            *self = Growth { granted_at: Some(now), tokens };
        }
    }
}

/// An isolate that spent a whole block in less than this many seconds (by its clock's whole
/// seconds) from its grant asks for twice as much next time.
pub const FAST_SECONDS: UnixSeconds = 2;

/// How long an ask for a block is taken to be in flight, seconds (a lost answer only makes the
/// next asks small for this long).
pub const ASK_SECONDS: UnixSeconds = 5;

/// The blocks this isolate holds, per key id. At most `capacity` keys; when full, everything is
/// dropped at once (rate tokens lapse with their window anyway; the credits held are lost, never
/// spent twice).
#[derive(Debug)]
pub struct Leases {
    held: RefCell<HashMap<String, Held>>,
    capacity: usize,
}

impl Leases {
    /// Empty, for at most `capacity` keys.
    pub fn new(capacity: usize) -> Self {
        Leases { held: RefCell::new(HashMap::new()), capacity }
    }

    /// Spend one of each of `controls` for `key_id` at `now`, if this isolate holds them.
    pub fn spend(&self, key_id: &str, controls: Controls<'_>, now: UnixSeconds) -> Spend {
        let mut held = self.held.borrow_mut();
        // The key id is copied only the first time this isolate sees the key.
        match held.get_mut(key_id) {
            Some(h) => spend_from(h, controls, now),
            None => spend_from(held.entry(key_id.to_owned()).or_default(), controls, now),
        }
    }

    /// Take what the authority granted for `key_id`. A refusal is returned as the request's
    /// error: `429 rate_limit_exceeded` or `429 credits_exhausted`, nothing spent.
    /// `ask` is what was asked: only the answer to an ask for a whole block ends the time in
    /// which other asks are small.
    pub fn granted(
        &self,
        key_id: &str,
        ask: &LeaseAsk,
        grant: &LeaseGrant,
        now: UnixSeconds,
    ) -> Result<(), Error> {
        let mut held = self.held.borrow_mut();
        if held.len() >= self.capacity && !held.contains_key(key_id) {
            held.clear();
        }
        let h = held.entry(key_id.to_owned()).or_default();
        if !ask.small {
            h.asking_until = 0;
            if let Some(g) = grant.rate.filter(|_| ask.rate) {
                h.rate_grown.granted(g.tokens, now);
            }
            if let Some(g) = grant.credits.filter(|_| ask.credits) {
                h.credits_grown.granted(g.tokens, now);
            }
        }
        if let Some(g) = grant.rate {
            h.rate = match h.rate {
                // Concurrent asks of one window add up.
                Some((until, tokens, left)) if until == g.until => {
                    Some((until, tokens + g.tokens, left.min(g.left)))
                }
                _ => Some((g.until, g.tokens, g.left)),
            };
        }
        if let Some(g) = grant.credits {
            h.credits = match h.credits {
                Some((p, tokens, until, left)) if p == g.period => {
                    Some((p, tokens + g.tokens, until.max(g.until), left.min(g.left)))
                }
                // A lease of an earlier period is dropped: its credits are not spent.
                _ => Some((g.period, g.tokens, g.until, g.left)),
            };
        }
        if let Some(retry_after) = grant.rate_limited {
            h.rate_refused_until = now + i64::from(retry_after);
            return Err(Error::RateLimitExceeded { retry_after });
        }
        if grant.credits_exhausted {
            let retry_after = grant.credits_retry_after;
            let refill = retry_after.map(|s| now + i64::from(s));
            let until = refill.map_or(now + CREDITS_RECHECK, |t| t.min(now + CREDITS_RECHECK));
            h.credits_refused_until = (until, refill);
            return Err(Error::CreditsExhausted { retry_after });
        }
        Ok(())
    }

    /// The credits this isolate holds for `key_id` (leased, not yet spent).
    pub fn credits_held(&self, key_id: &str) -> u64 {
        self.held.borrow().get(key_id).and_then(|h| h.credits).map_or(0, |c| c.1)
    }
}

/// [`Leases::spend`] for one key's blocks.
fn spend_from(h: &mut Held, controls: Controls<'_>, now: UnixSeconds) -> Spend {
    if controls.rate_limit.copied() != h.limit_seen {
        h.rate = None;
        h.rate_refused_until = 0;
        h.rate_grown = Growth::default();
        h.limit_seen = controls.rate_limit.copied();
    }
    if controls.rate_limit.is_some() && now < h.rate_refused_until {
        return Spend::Refused(Error::RateLimitExceeded { retry_after: (h.rate_refused_until - now) as u32 });
    }
    if controls.credits && now < h.credits_refused_until.0 {
        let retry_after = h.credits_refused_until.1.map(|t| (t - now).max(1) as u32);
        return Spend::Refused(Error::CreditsExhausted { retry_after });
    }
    let rate_ok = match (controls.rate_limit, h.rate) {
        (None, _) => true,
        (Some(_), Some((until, tokens, _))) => tokens > 0 && now < until,
        (Some(_), None) => false,
    };
    let credits_ok = match (controls.credits, h.credits) {
        (false, _) => true,
        (true, Some((_, tokens, until, _))) => tokens > 0 && now < until,
        (true, None) => false,
    };
    if !(rate_ok && credits_ok) {
        // Each control that ran out asks for a grown block if it was spent out (not lapsed: its
        // window or lease still runs) soon after its grant; asking for both, the smaller.
        let rate_spent = matches!(h.rate, Some((until, 0, _)) if now < until);
        let credits_spent = matches!(h.credits, Some((_, 0, until, _)) if now < until);
        let grown = [
            (!rate_ok).then(|| h.rate_grown.want(rate_spent, now)),
            (!credits_ok).then(|| h.credits_grown.want(credits_spent, now)),
        ];
        let want = grown.into_iter().flatten().min().unwrap_or(0);
        // An ended credit lease goes back with the ask (its period tells the authority
        // whether it still counts).
        let returned = match h.credits {
            Some((period, tokens, until, _)) if now >= until && tokens > 0 => {
                h.credits = None;
                Some((period, tokens))
            }
            Some((_, _, until, _)) if now >= until => {
                h.credits = None;
                None
            }
            _ => None,
        };
        let small = now < h.asking_until;
        if !small {
            h.asking_until = now + ASK_SECONDS;
        }
        let want = if small { 0 } else { want };
        return Spend::Ask(LeaseAsk { rate: !rate_ok, credits: !credits_ok, returned, small, want });
    }
    let mut told = Told { rate: None, credits_left: None };
    if let (Some(rl), Some((until, tokens, left))) = (controls.rate_limit, h.rate.as_mut()) {
        *tokens -= 1;
        told.rate = Some((rl.limit, rl.window, (*left + *tokens).min(rl.limit), *until - now));
    }
    if let (true, Some((period, tokens, _, left))) = (controls.credits, h.credits.as_mut()) {
        *tokens -= 1;
        // A block for a key that has no credits any more says nothing of what is left.
        told.credits_left = (*period != crate::domain::quota::UNLIMITED).then(|| *left + *tokens);
    }
    Spend::Spent(told)
}

/// `RateLimit-Policy` (draft-ietf-httpapi-ratelimit-headers): the key's limit.
pub const RATE_LIMIT_POLICY: &str = "RateLimit-Policy";
/// `RateLimit`: what is left of it, and when the window ends.
pub const RATE_LIMIT: &str = "RateLimit";
/// What is left of the key's credits.
pub const CREDITS_REMAINING: &str = "Keygate-Credits-Remaining";

/// The headers a request that went on carries about its key's usage controls.
pub fn told_headers(t: &Told) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    if let Some((limit, window, left, reset)) = t.rate {
        out.push((RATE_LIMIT_POLICY, crate::domain::quota::policy_header(&RateLimit { limit, window })));
        out.push((RATE_LIMIT, crate::domain::quota::remaining_header(left, reset)));
    }
    if let Some(left) = t.credits_left {
        out.push((CREDITS_REMAINING, left.to_string()));
    }
    out
}

/// The headers a request refused by its key's usage controls carries: the policy, and nothing
/// left of what refused it.
pub fn refused_headers(controls: Controls<'_>, refusal: &Error) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    if let Some(rl) = controls.rate_limit {
        out.push((RATE_LIMIT_POLICY, crate::domain::quota::policy_header(rl)));
        if let Error::RateLimitExceeded { retry_after } = refusal {
            out.push((RATE_LIMIT, crate::domain::quota::remaining_header(0, i64::from(*retry_after))));
        }
    }
    if controls.credits && matches!(refusal, Error::CreditsExhausted { .. }) {
        out.push((CREDITS_REMAINING, "0".to_owned()));
    }
    out
}
