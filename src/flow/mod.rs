//! Authorizations in progress, as rules: each `state` bound to the browser and app that
//! started it, claimed exactly once, and a result page only that browser may open.
//!
//! Everything here is a pure function of the data and `now`. The records live in the store
//! (`store::Store`), so that a restart or another replica can finish a flow; the web layer
//! reads and writes them and asks these rules what they mean.

mod ids;
mod state;

use subtle::ConstantTimeEq;

use crate::apps::AppId;
use crate::tokens::TokenId;
pub use ids::{BrowserId, ResultId};
pub use state::{FlowState, StateKey, VerifiedState};

/// How long a seller has between clicking "Authorize" and coming back, by default.
pub const STATE_TTL_MS: i64 = 10 * 60 * 1000;
/// How long the browser that authorized can reopen its result page. Also the browser
/// cookie's lifetime, so no state may live longer than this.
pub const RESULT_TTL_MS: i64 = 30 * 60 * 1000;

/// Why a callback's `state` was refused. Every case is decided before any platform call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StateRejection {
    Missing,
    /// Not issued by this service for this app (forged, mangled, or another app's).
    Unknown,
    Expired,
    /// Issued to another browser (or this browser lost its cookie).
    OtherBrowser,
    /// Issued to the command line (`authorize-url`), and opened in a browser.
    CommandLine,
    /// Another request is exchanging this state's code right now.
    InProgress,
    /// Already used; `result` is set when this browser can see the outcome.
    AlreadyUsed {
        result: Option<ResultId>,
    },
}

impl StateRejection {
    /// A short, stable word for logs and metrics (never `Debug` text).
    pub fn as_str(&self) -> &'static str {
        match self {
            StateRejection::Missing => "missing",
            StateRejection::Unknown => "unknown",
            StateRejection::Expired => "expired",
            StateRejection::OtherBrowser => "other_browser",
            StateRejection::CommandLine => "command_line",
            StateRejection::InProgress => "in_progress",
            StateRejection::AlreadyUsed { .. } => "already_used",
        }
    }
}

/// Where a claimed state stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimStage {
    Exchanging,
    /// Done; with the result page when the exchange succeeded.
    Finished(Option<ResultId>),
}

impl ClaimStage {
    /// How the store names the stage.
    pub const EXCHANGING: &'static str = "exchanging";
    pub const FINISHED: &'static str = "finished";

    pub fn name(&self) -> &'static str {
        match self {
            ClaimStage::Exchanging => Self::EXCHANGING,
            ClaimStage::Finished(_) => Self::FINISHED,
        }
    }

    /// The stage named `name`, with the result id stored beside it.
    pub fn from_stored(name: &str, result: Option<&str>) -> Option<Self> {
        match name {
            Self::EXCHANGING => Some(ClaimStage::Exchanging),
            Self::FINISHED => Some(ClaimStage::Finished(result.and_then(ResultId::parse))),
            _ => None,
        }
    }
}

/// The record a valid callback leaves in the store, so that its code is exchanged once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimRecord {
    pub state_digest: [u8; 32],
    pub app: AppId,
    pub browser_digest: [u8; 32],
    /// Kept as long as the result, so that reopening the callback URL finds its result.
    pub keep_until: i64,
}

/// The right to exchange one state's code. It carries the browser, so whoever holds a
/// claim provably has a browser to show the result to.
#[derive(Debug)]
pub struct Claim {
    pub state_digest: [u8; 32],
    pub app: AppId,
    pub browser: BrowserId,
}

/// Which browser may open a result page, for which token, until when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResultGrant {
    pub id: ResultId,
    pub app: AppId,
    pub browser_digest: [u8; 32],
    pub token_id: TokenId,
    pub expires_at: i64,
}

/// The state settings of one app: its key and how long a state lives.
pub struct Flows {
    pub app: AppId,
    key: StateKey,
    state_ttl_ms: i64,
}

impl Flows {
    pub fn new(app: AppId, key: StateKey, state_ttl_ms: i64) -> Self {
        Flows {
            app,
            key,
            state_ttl_ms: state_ttl_ms.min(RESULT_TTL_MS),
        }
    }

    /// Issues a new state for this browser. Nothing is stored.
    pub fn start(&self, browser: &BrowserId, now: i64) -> FlowState {
        self.key
            .issue(&self.app, browser, now.saturating_add(self.state_ttl_ms))
    }

    /// The binding of states issued to the command line rather than a browser.
    pub fn command_line(&self) -> BrowserId {
        self.key.binding(state::COMMAND_LINE)
    }

    /// Checks a callback's state against the browser presenting it: issued here, for this
    /// app and this browser.
    pub fn verify(
        &self,
        state: Option<&str>,
        browser: Option<&BrowserId>,
    ) -> Result<VerifiedState, StateRejection> {
        self.key.verify(state, &self.app, browser)
    }

    /// What to store when claiming a verified state at `now`, or why it cannot be claimed.
    pub fn claim_record(
        &self,
        state: &VerifiedState,
        browser: &BrowserId,
        now: i64,
    ) -> Result<ClaimRecord, StateRejection> {
        if now > state.expires_at {
            return Err(StateRejection::Expired);
        }
        Ok(ClaimRecord {
            state_digest: state.digest,
            app: self.app.clone(),
            browser_digest: browser.digest(),
            keep_until: state.expires_at.max(now.saturating_add(RESULT_TTL_MS)),
        })
    }

    /// A result grant for this browser, starting at `now`.
    pub fn grant(&self, browser: &BrowserId, token_id: TokenId, now: i64) -> ResultGrant {
        ResultGrant {
            id: ResultId::generate(now),
            app: self.app.clone(),
            browser_digest: browser.digest(),
            token_id,
            expires_at: now.saturating_add(RESULT_TTL_MS),
        }
    }
}

/// Why a state that was claimed before cannot be claimed again.
pub fn already_claimed(stage: ClaimStage) -> StateRejection {
    match stage {
        ClaimStage::Exchanging => StateRejection::InProgress,
        ClaimStage::Finished(result) => StateRejection::AlreadyUsed { result },
    }
}

/// The token row behind a result page, if this browser may see it at `now`.
pub fn visible_result(
    grant: &ResultGrant,
    browser: Option<&BrowserId>,
    now: i64,
) -> Option<TokenId> {
    let allowed = browser.is_some_and(|b| bool::from(b.digest().ct_eq(&grant.browser_digest)));
    (allowed && now <= grant.expires_at).then_some(grant.token_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_700_000_000_000;

    fn flows() -> Flows {
        Flows::new(AppId::implicit(), StateKey::derive("secret"), STATE_TTL_MS)
    }

    #[test]
    fn a_fresh_state_can_be_claimed_and_its_record_outlives_the_result() {
        let flows = flows();
        let browser = BrowserId::generate();
        let state = flows.start(&browser, T0);
        let verified = flows.verify(Some(state.expose()), Some(&browser)).unwrap();
        assert_eq!(verified.expires_at, T0 + STATE_TTL_MS);
        let record = flows.claim_record(&verified, &browser, T0 + 1).unwrap();
        assert_eq!(record.browser_digest, browser.digest());
        assert_eq!(record.keep_until, T0 + 1 + RESULT_TTL_MS);
    }

    #[test]
    fn an_old_state_is_expired() {
        let flows = flows();
        let browser = BrowserId::generate();
        let state = flows.start(&browser, T0);
        let verified = flows.verify(Some(state.expose()), Some(&browser)).unwrap();
        assert_eq!(
            flows
                .claim_record(&verified, &browser, T0 + STATE_TTL_MS + 1)
                .unwrap_err(),
            StateRejection::Expired
        );
    }

    #[test]
    fn several_states_of_one_browser_are_independent() {
        let flows = flows();
        let browser = BrowserId::generate();
        let a = flows.start(&browser, T0);
        let b = flows.start(&browser, T0);
        let va = flows.verify(Some(a.expose()), Some(&browser)).unwrap();
        let vb = flows.verify(Some(b.expose()), Some(&browser)).unwrap();
        assert_ne!(va.digest, vb.digest);
    }

    #[test]
    fn a_state_never_outlives_the_browser_cookie() {
        let flows = Flows::new(AppId::implicit(), StateKey::derive("s"), 10 * RESULT_TTL_MS);
        let browser = BrowserId::generate();
        let state = flows.start(&browser, T0);
        let verified = flows.verify(Some(state.expose()), Some(&browser)).unwrap();
        assert_eq!(verified.expires_at, T0 + RESULT_TTL_MS);
    }

    #[test]
    fn a_claimed_state_says_why_it_cannot_be_claimed_again() {
        assert_eq!(
            already_claimed(ClaimStage::Exchanging),
            StateRejection::InProgress
        );
        let result = ResultId::generate(T0);
        assert_eq!(
            already_claimed(ClaimStage::Finished(Some(result.clone()))),
            StateRejection::AlreadyUsed {
                result: Some(result)
            }
        );
    }

    #[test]
    fn only_the_same_browser_sees_a_result_and_only_for_a_while() {
        let flows = flows();
        let browser = BrowserId::generate();
        let grant = flows.grant(&browser, TokenId::new(42), T0);
        assert_eq!(
            visible_result(&grant, Some(&browser), T0 + 1),
            Some(TokenId::new(42))
        );
        assert_eq!(
            visible_result(&grant, Some(&BrowserId::generate()), T0 + 1),
            None
        );
        assert_eq!(visible_result(&grant, None, T0 + 1), None);
        assert_eq!(
            visible_result(&grant, Some(&browser), T0 + RESULT_TTL_MS + 1),
            None
        );
    }
}
