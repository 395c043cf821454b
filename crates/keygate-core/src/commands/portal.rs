//! Portal sessions in the authority (issue 18): minted by the operator, redeemed once by the
//! link, checked on every portal request, ended by signing out, removed a day after they end.
//! Storage: `portal:{id}` → [`PortalSession`], in the `KeyStore` of the account and of the
//! session's mode (live for a session of both modes).
//!
//! In the `KeyStore`'s command protocol (`Command::Portal…`) and the alarm's upkeep; served by
//! the worker's portal and console routes (`src/portal.rs`).

use crate::Error;
use crate::clock::UnixSeconds;
use crate::commands::authority::Authority;
use crate::commands::ports::{RecordWriter, StateStore};
use crate::domain::key::Mode;
use crate::domain::key_format::Keyring;
use crate::domain::portal::{KeyDefaults, Minted, PortalSession, Redeemed, Refusal};
use crate::rng::Rng;

/// How long an ended session is kept (so that its link, used again, is refused as used rather
/// than unknown), seconds.
pub const ENDED_PORTAL_KEEP: i64 = 86_400;

impl<S: StateStore, W: RecordWriter> Authority<'_, S, W> {
    /// Mint a session of `account` for `mode` (`None`: both) for `expires_in` seconds.
    #[allow(clippy::too_many_arguments)]
    pub async fn portal_mint(
        &self,
        account: &str,
        mode: Option<Mode>,
        return_url: &str,
        expires_in: i64,
        key_defaults: KeyDefaults,
        grant: Option<String>,
        keys: &Keyring,
        rng: &mut impl Rng,
        now: UnixSeconds,
    ) -> Result<Minted, Error> {
        let mut minted = PortalSession::mint(account, mode, return_url, expires_in, &keys.pepper, rng, now)?;
        minted.session.key_defaults = key_defaults;
        minted.session.grant = grant;
        self.save_portal(&minted.session).await?;
        Ok(minted)
    }

    /// Use a session's link: once, before it ends. Answers the cookie's secret and the CSRF token.
    pub async fn portal_redeem(
        &self,
        account: &str,
        id: &str,
        token: &str,
        keys: &Keyring,
        rng: &mut impl Rng,
        now: UnixSeconds,
    ) -> Result<Redeemed, Error> {
        let session = self.load_portal(account, id, Refusal::LinkInvalid).await?;
        let redeemed = session.redeem(token, &keys.pepper, rng, now).map_err(Error::Portal)?;
        self.save_portal(&redeemed.session).await?;
        Ok(redeemed)
    }

    /// Check one portal request: the session's secret, its time, the CSRF token for a change,
    /// and the mode it acts in. Answers the session.
    #[allow(clippy::too_many_arguments)]
    pub async fn portal_check(
        &self,
        account: &str,
        id: &str,
        secret: &str,
        csrf: Option<&str>,
        changes: bool,
        mode: Option<Mode>,
        keys: &Keyring,
        now: UnixSeconds,
    ) -> Result<PortalSession, Error> {
        let session = self.load_portal(account, id, Refusal::SessionInvalid).await?;
        session.check(secret, csrf, changes, mode, &keys.pepper, now).map_err(Error::Portal)?;
        Ok(session)
    }

    /// Sign out: the session ends now (its secret must be right; its CSRF token too).
    pub async fn portal_end(
        &self,
        account: &str,
        id: &str,
        secret: &str,
        csrf: Option<&str>,
        keys: &Keyring,
        now: UnixSeconds,
    ) -> Result<(), Error> {
        let session = self.portal_check(account, id, secret, csrf, true, None, keys, now).await?;
        self.save_portal(&session.end()).await
    }

    /// Remove the sessions that ended more than [`ENDED_PORTAL_KEEP`] ago (the alarm's upkeep).
    /// Returns when the next one is due, if any.
    pub async fn portal_upkeep(&self, now: UnixSeconds) -> Result<Option<UnixSeconds>, Error> {
        let mut next = None::<UnixSeconds>;
        for (name, text) in self.state.list("portal:", None, false, None).await.map_err(Error::from)? {
            let Ok(s) = serde_json::from_str::<PortalSession>(&text) else {
                self.state.delete(&name).await.map_err(Error::from)?;
                continue;
            };
            let gone_at = s.expires_at + ENDED_PORTAL_KEEP;
            if gone_at <= now {
                self.state.delete(&name).await.map_err(Error::from)?;
            } else {
                next = Some(next.map_or(gone_at, |n| n.min(gone_at)));
            }
        }
        Ok(next)
    }

    /// When the next session is due for removal, if any (read only, for the alarm).
    pub async fn portal_next(&self) -> Result<Option<UnixSeconds>, Error> {
        let rows = self.state.list("portal:", None, false, None).await.map_err(Error::from)?;
        Ok(rows
            .iter()
            .filter_map(|(_, t)| serde_json::from_str::<PortalSession>(t).ok())
            .map(|s| s.expires_at + ENDED_PORTAL_KEEP)
            .min())
    }

    async fn load_portal(&self, account: &str, id: &str, unknown: Refusal) -> Result<PortalSession, Error> {
        let text = self.state.get(&format!("portal:{id}")).await.map_err(Error::from)?;
        let session: PortalSession = match text {
            Some(t) => serde_json::from_str(&t).map_err(|_| Error::RecordCorrupt)?,
            None => return Err(Error::Portal(unknown)),
        };
        // Another account's session is no session here.
        if session.account != account {
            return Err(Error::Portal(unknown));
        }
        Ok(session)
    }

    async fn save_portal(&self, session: &PortalSession) -> Result<(), Error> {
        let json =
            serde_json::to_string(session).map_err(|_| Error::Internal { what: "encoding a session" })?;
        self.state.put(&format!("portal:{}", session.id), &json).await.map_err(Error::from)
    }
}
