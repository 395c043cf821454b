//! Portal sessions in the authority (issue 18): a link opens the portal once, a session acts
//! only with its secret, its CSRF token for changes, in its account and mode, until it ends;
//! ended sessions are removed a day later. The attempts an attacker would make, written down.
mod common;

use common::block_on;
use keygate_core::Error;
use keygate_core::commands::authority::{Authority, Limits};
use keygate_core::commands::fakes::{MemoryKv, MemoryState};
use keygate_core::domain::digest::Pepper;
use keygate_core::domain::key::Mode;
use keygate_core::domain::key_format::Keyring;
use keygate_core::domain::portal::Minted;
use keygate_core::rng::FixedRng;

const T0: i64 = 2_000_000_000;

fn keys() -> Keyring {
    Keyring::new(Pepper::new("portal-pepper-portal-pepper-portal-pe").unwrap())
}

fn code(r: Result<impl std::fmt::Debug, Error>) -> String {
    r.unwrap_err().code().to_owned()
}

/// Mint a session of `acct_1` at `T0` (no key defaults, not a console session).
fn mint(
    a: &Authority<'_, MemoryState, MemoryKv>,
    mode: Option<Mode>,
    return_url: &str,
    ttl: i64,
    k: &Keyring,
    rng: &mut FixedRng,
) -> Result<Minted, Error> {
    block_on(a.portal_mint("acct_1", mode, return_url, ttl, Default::default(), None, k, rng, T0))
}

#[test]
fn a_link_opens_one_session_of_its_account_and_mode_until_it_ends() {
    let (state, kv) = (MemoryState::new(), MemoryKv::default());
    let a = Authority { state: &state, kv: &kv, limits: Limits::default() };
    let k = keys();
    let mut rng = FixedRng::new(*b"portal-rng");
    let m = mint(&a, Some(Mode::Test), "https://app.example.com/", 600, &k, &mut rng).unwrap();
    let id = m.session.id.clone();
    assert!(!state.mentions(&m.token), "the link's token is kept as a digest only");
    // Another account, a wrong token, the right one after the session's end: refused.
    assert_eq!(
        code(block_on(a.portal_redeem("acct_2", &id, &m.token, &k, &mut rng, T0 + 1))),
        "portal_link_invalid"
    );
    assert_eq!(
        code(block_on(a.portal_redeem("acct_1", &id, "kgpt_guess", &k, &mut rng, T0 + 1))),
        "portal_link_invalid"
    );
    assert_eq!(
        code(block_on(a.portal_redeem("acct_1", "ps_unknown", &m.token, &k, &mut rng, T0 + 1))),
        "portal_link_invalid"
    );
    assert_eq!(
        code(block_on(a.portal_redeem("acct_1", &id, &m.token, &k, &mut rng, T0 + 600))),
        "portal_session_expired"
    );
    let r = block_on(a.portal_redeem("acct_1", &id, &m.token, &k, &mut rng, T0 + 2)).unwrap();
    assert!(!state.mentions(&r.secret), "the session's secret is kept as a digest only");
    // The link is dead now.
    assert_eq!(
        code(block_on(a.portal_redeem("acct_1", &id, &m.token, &k, &mut rng, T0 + 3))),
        "portal_link_invalid"
    );
    // Reads need the secret; changes the CSRF token too; all stay in the session's mode.
    let check = |secret: &str, csrf: Option<&str>, changes: bool, mode: Option<Mode>, now: i64| {
        block_on(a.portal_check("acct_1", &id, secret, csrf, changes, mode, &k, now))
    };
    check(&r.secret, None, false, Some(Mode::Test), T0 + 4).unwrap();
    assert_eq!(code(check("kgps_guess", None, false, None, T0 + 4)), "portal_session_invalid");
    assert_eq!(code(check(&r.secret, None, true, Some(Mode::Test), T0 + 4)), "portal_csrf_invalid");
    check(&r.secret, Some(&r.csrf), true, Some(Mode::Test), T0 + 4).unwrap();
    assert_eq!(code(check(&r.secret, Some(&r.csrf), true, Some(Mode::Live), T0 + 4)), "portal_out_of_scope");
    assert_eq!(
        code(block_on(a.portal_check("acct_2", &id, &r.secret, None, false, None, &k, T0 + 4))),
        "portal_session_invalid",
        "another account's request never reaches this session"
    );
    assert_eq!(code(check(&r.secret, None, false, None, T0 + 600)), "portal_session_expired");
    // Failed links and sessions count as failed attempts (throttling); the others do not.
    assert!(Error::Portal(keygate_core::domain::portal::Refusal::LinkInvalid).counts_as_failed_auth());
    assert!(!Error::Portal(keygate_core::domain::portal::Refusal::CsrfMissing).counts_as_failed_auth());
    // Signing out needs the CSRF token, and ends the session at once.
    assert_eq!(
        code(block_on(a.portal_end("acct_1", &id, &r.secret, None, &k, T0 + 5))),
        "portal_csrf_invalid"
    );
    block_on(a.portal_end("acct_1", &id, &r.secret, Some(&r.csrf), &k, T0 + 5)).unwrap();
    assert_eq!(code(check(&r.secret, None, false, None, T0 + 6)), "portal_session_expired");
    // Removed a day after its end, not before.
    assert_eq!(block_on(a.portal_upkeep(T0 + 7)).unwrap(), Some(T0 + 600 + 86_400));
    assert!(state.mentions(&format!("portal:{id}")));
    assert_eq!(block_on(a.portal_upkeep(T0 + 600 + 86_400)).unwrap(), None);
    assert!(!state.mentions(&format!("portal:{id}")));
}

#[test]
fn a_session_of_both_modes_acts_in_either() {
    let (state, kv) = (MemoryState::new(), MemoryKv::default());
    let a = Authority { state: &state, kv: &kv, limits: Limits::default() };
    let k = keys();
    let mut rng = FixedRng::new(*b"both-modes");
    let m = mint(&a, None, "https://app.example.com/", 60, &k, &mut rng).unwrap();
    let r = block_on(a.portal_redeem("acct_1", &m.session.id, &m.token, &k, &mut rng, T0)).unwrap();
    for mode in Mode::ALL {
        block_on(a.portal_check(
            "acct_1",
            &m.session.id,
            &r.secret,
            Some(&r.csrf),
            true,
            Some(mode),
            &k,
            T0 + 1,
        ))
        .unwrap();
    }
    // A bad request to mint is a precise 400.
    let e = mint(&a, None, "http://app.example.com/", 60, &k, &mut rng).unwrap_err();
    assert_eq!((e.status(), e.param()), (400, Some("return_url")));
}

#[test]
fn through_the_command_protocol_a_session_acts_as_portal_and_never_sees_a_canary() {
    use keygate_core::api::object::render;
    use keygate_core::commands::authority::Principal;
    use keygate_core::commands::command::{Command, run};
    use keygate_core::domain::key::{KeyType, RawKey};
    use keygate_core::domain::settings::CreateKey;
    let (state, kv) = (MemoryState::new(), MemoryKv::default());
    let a = Authority { state: &state, kv: &kv, limits: Limits::default() };
    let mut rng = FixedRng::new(*b"protocol!!");
    let go = |c: Command, rng: &mut FixedRng, now: i64| {
        let out = block_on(run(&a, c, || Ok(keys()), rng, now));
        out.answer
            .and_then(|x| render(x, now, "doc"))
            .map(|t| serde_json::from_str::<serde_json::Value>(&t).unwrap())
    };
    let minted = go(
        Command::PortalMint {
            account: "acct_1".into(),
            mode: Some(Mode::Test),
            return_url: "https://app.example.com/".into(),
            expires_in: 600,
            key_defaults: Default::default(),
            grant: None,
        },
        &mut rng,
        T0,
    )
    .unwrap();
    assert_eq!(minted["object"], "portal_session");
    let (id, token) =
        (minted["id"].as_str().unwrap().to_owned(), minted["token"].as_str().unwrap().to_owned());
    let redeem = || Command::PortalRedeem {
        account: "acct_1".into(),
        session_id: id.clone(),
        token: RawKey(token.clone()),
    };
    let redeemed = go(redeem(), &mut rng, T0 + 1).unwrap();
    assert_eq!(go(redeem(), &mut rng, T0 + 2).unwrap_err().code(), "portal_link_invalid", "once");
    assert!(!format!("{:?}", redeem()).contains(&token), "the token is redacted in Debug");
    let secret = redeemed["secret"].as_str().unwrap().to_owned();
    let csrf = redeemed["csrf"].as_str().unwrap().to_owned();
    let checked = go(
        Command::PortalCheck {
            account: "acct_1".into(),
            session_id: id.clone(),
            secret: RawKey(secret.clone()),
            csrf: Some(RawKey(csrf.clone())),
            changes: true,
            mode: Some(Mode::Test),
        },
        &mut rng,
        T0 + 3,
    )
    .unwrap();
    assert_eq!((checked["account"].as_str(), checked["mode"].as_str()), (Some("acct_1"), Some("test")));
    // Acting as the session: a roll is logged as portal:<id>; a canary is not there for it.
    let by = Principal::Portal { session_id: id.clone() };
    let plain = CreateKey { name: "n".into(), ..common::plain_key(KeyType::Secret, Mode::Test) };
    let actor = keygate_core::domain::event::Actor::admin();
    let made = block_on(a.create("acct_1", &plain, &keys(), &mut rng, T0 + 4, &actor)).unwrap();
    let canary = CreateKey { canary: true, ..plain.clone() };
    let bait = block_on(a.create("acct_1", &canary, &keys(), &mut rng, T0 + 4, &actor)).unwrap();
    let rolled = go(
        Command::Roll {
            account: "acct_1".into(),
            key_id: made.key.record.id.clone(),
            grace: 60,
            by: by.clone(),
        },
        &mut rng,
        T0 + 5,
    )
    .unwrap();
    assert!(rolled["secret"].is_string());
    let events =
        block_on(a.events("acct_1", &keygate_core::domain::event::Page { limit: 10, starting_after: None }))
            .unwrap();
    assert!(
        events.data.iter().any(|e| e.kind == "key.rolled" && e.actor == format!("portal:{id}")),
        "{:?}",
        events.data
    );
    let hidden = go(
        Command::Get { account: "acct_1".into(), key_id: bait.key.record.id.clone(), by },
        &mut rng,
        T0 + 6,
    );
    assert_eq!(hidden.unwrap_err().code(), "resource_missing");
    // Signing out through the protocol; the alarm removes the session a day after its end.
    go(
        Command::PortalEnd {
            account: "acct_1".into(),
            session_id: id.clone(),
            secret: RawKey(secret),
            csrf: Some(RawKey(csrf)),
        },
        &mut rng,
        T0 + 7,
    )
    .unwrap();
    assert!(block_on(a.next_alarm(T0 + 8)).unwrap().is_some());
    use keygate_core::commands::ports::StateStore;
    assert!(block_on(state.get(&format!("portal:{id}"))).unwrap().is_some());
    block_on(a.sync(T0 + 600 + 86_400)).unwrap();
    assert!(block_on(state.get(&format!("portal:{id}"))).unwrap().is_none());
}
