//! keygate's webhook signature, as Stripe signs its webhooks: `Keygate-Webhook-Signature:
//! t=<unix seconds>,v1=<hex>`, where the hex is HMAC-SHA256 of `<t>.<raw body>` under the
//! webhook signing secret, and one `v1=` per secret during a rotation (current first).
//!
//! A receiver verifies the raw body bytes it received, before parsing them:
//!
//! ```
//! use keygate_verify::Secret;
//! use keygate_verify::webhook::{sign, verify};
//! let secret = Secret::new(b"whsec_0123456789abcdef0123456789abcdef");
//! let body = br#"{"id":"evt_1","type":"key.revoked"}"#;
//! let header = sign(&[secret.clone()], 1_767_225_600, body);
//! assert_eq!(verify(&[secret], &header, body, 1_767_225_630, 300), Ok(1_767_225_600));
//! ```

use crate::{Secret, VerifyError, decimal};

/// The header.
pub const HEADER: &str = "Keygate-Webhook-Signature";
/// The signature scheme's tag in the header.
pub const SCHEME: &str = "v1";

fn message(t: i64, body: &[u8]) -> Vec<u8> {
    let mut buf = [0u8; 20];
    let t = decimal(t, &mut buf);
    let mut m = Vec::with_capacity(t.len() + 1 + body.len());
    m.extend_from_slice(t);
    m.push(b'.');
    m.extend_from_slice(body);
    m
}

/// The header value for `body` sent at `t`: `t=<t>,v1=<hex>` with one `v1=` per secret.
pub fn sign(secrets: &[Secret], t: i64, body: &[u8]) -> String {
    crate::signature_header(secrets, t, SCHEME, &message(t, body))
}

/// Check `header` over the raw `body` at `now`: some `v1=` must be the HMAC of `<t>.<body>` under
/// one of `secrets` (compared in constant time), and `t` within `tolerance` seconds of `now`
/// (a replayed delivery is refused once it is older). Returns `t`. Other schemes in the header
/// are ignored, so that a later one can be added beside `v1`.
pub fn verify(
    secrets: &[Secret],
    header: &str,
    body: &[u8],
    now: i64,
    tolerance: i64,
) -> Result<i64, VerifyError> {
    // An empty or short secret (an unset variable) would accept anyone's signature.
    if secrets.is_empty() || secrets.iter().any(|s| s.len() < crate::MIN_SECRET_LEN) {
        return Err(VerifyError::WeakSecret);
    }
    let (t, candidates) = parse(header)?;
    if now - t > tolerance {
        return Err(VerifyError::Stale { age: now - t });
    }
    if t - now > tolerance {
        return Err(VerifyError::Future { ahead: t - now });
    }
    let m = message(t, body);
    let mut ok = subtle::Choice::from(0);
    for secret in secrets {
        let expected = secret.tag(&m);
        for c in &candidates {
            ok |= subtle::ConstantTimeEq::ct_eq(&expected[..], &c[..]);
        }
    }
    if bool::from(ok) { Ok(t) } else { Err(VerifyError::BadSignature) }
}

/// Parse `t=<digits>,v1=<64 hex>[,v1=…]`.
pub fn parse(header: &str) -> Result<(i64, Vec<[u8; 32]>), VerifyError> {
    crate::parse_signatures(header, SCHEME, ["v1 must be 64 hex digits", "no v1 signature"])
}
