//! Authorization header and query string parsing: never panics; a credential it accepts is
//! exactly the token that was sent.
#![no_main]
use keygate_core::policy::credential::Credential;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: (&str, &str)| {
    let (auth, query) = data;
    let format = keygate_core::domain::key_format::KeyFormat::default();
    let _ = Credential::from_request(Some(auth), Some(query), &format);
    if let Ok(c) = Credential::from_authorization(auth)
        && let Some(token) = auth.trim_matches([' ', '\t']).strip_prefix("Bearer ")
    {
        assert_eq!(c.expose_secret(), token);
    }
});
