//! Authorizations in progress: each `state` bound to the browser that started it, claimed
//! exactly once, and the result page that only that browser may open.
//!
//! Kept in memory: a state lives for minutes, and losing in-flight flows on restart only
//! means the seller clicks "Authorize" again. Tokens themselves live in the store.

mod ids;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use subtle::ConstantTimeEq;

use ids::digest;
pub use ids::{BrowserId, FlowState, ResultId};

/// How long a seller has between clicking "Authorize" and coming back, by default.
pub const STATE_TTL_MS: i64 = 10 * 60 * 1000;
/// How long the browser that authorized can reopen its result page.
pub const RESULT_TTL_MS: i64 = 30 * 60 * 1000;
/// Bounds the memory an anonymous client can make us hold by calling /authorize in a loop.
const MAX_ENTRIES: usize = 10_000;

/// Why a callback's `state` was refused. Every case is decided before any platform call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StateRejection {
    Missing,
    /// Never issued, or forgotten (expired long ago, or the service restarted).
    Unknown,
    Expired,
    /// Issued to another browser (or this browser lost its cookie).
    OtherBrowser,
    /// Another request is exchanging this state's code right now.
    InProgress,
    /// Already used; `result` is set when this browser can see the outcome.
    AlreadyUsed {
        result: Option<ResultId>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooManyFlows;

#[derive(Clone)]
enum Stage {
    Waiting,
    Exchanging,
    Finished(Option<ResultId>),
}

struct Pending {
    browser: [u8; 32],
    created_at: i64,
    stage: Stage,
}

struct FlowResult {
    browser: [u8; 32],
    token_id: i64,
    created_at: i64,
}

#[derive(Default)]
struct Inner {
    states: HashMap<[u8; 32], Pending>,
    results: HashMap<ResultId, FlowResult>,
}

#[derive(Clone)]
pub struct Flows {
    inner: Arc<Mutex<Inner>>,
    state_ttl_ms: i64,
}

impl Default for Flows {
    fn default() -> Self {
        Flows::new(STATE_TTL_MS)
    }
}

/// The right to exchange one state's code. Finishing records the outcome; dropping it
/// unfinished (an error, a cancelled request) also ends the state, since its code may
/// have reached the platform already.
pub struct Claim {
    flows: Flows,
    key: [u8; 32],
    finished: bool,
}

impl Flows {
    pub fn new(state_ttl_ms: i64) -> Self {
        Flows {
            inner: Arc::default(),
            state_ttl_ms,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic elsewhere while holding the lock leaves plain data behind; keep serving.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Issues a new state for this browser.
    pub fn start(&self, browser: &BrowserId, now: i64) -> Result<FlowState, TooManyFlows> {
        let mut inner = self.lock();
        inner.prune(now, self.state_ttl_ms);
        if inner.states.len() >= MAX_ENTRIES {
            return Err(TooManyFlows);
        }
        let state = FlowState::generate();
        inner.states.insert(
            digest(state.expose()),
            Pending {
                browser: digest(browser.expose()),
                created_at: now,
                stage: Stage::Waiting,
            },
        );
        Ok(state)
    }

    /// Checks a callback's state against the browser presenting it and, when it is good,
    /// claims it so that no other request can exchange the same code.
    pub fn claim(
        &self,
        state: Option<&str>,
        browser: Option<&BrowserId>,
        now: i64,
    ) -> Result<Claim, StateRejection> {
        let state = state
            .filter(|s| !s.is_empty())
            .ok_or(StateRejection::Missing)?;
        let key = digest(state);
        let mut inner = self.lock();
        let pending = inner.states.get_mut(&key).ok_or(StateRejection::Unknown)?;
        let same_browser = browser
            .map(|b| bool::from(digest(b.expose()).ct_eq(&pending.browser)))
            .unwrap_or(false);
        if !same_browser {
            // Not consumed: a stranger holding the URL must not be able to burn the state.
            return Err(StateRejection::OtherBrowser);
        }
        match &pending.stage {
            Stage::Exchanging => Err(StateRejection::InProgress),
            Stage::Finished(result) => Err(StateRejection::AlreadyUsed {
                result: result.clone(),
            }),
            Stage::Waiting if now - pending.created_at > self.state_ttl_ms => {
                pending.stage = Stage::Finished(None);
                Err(StateRejection::Expired)
            }
            Stage::Waiting => {
                pending.stage = Stage::Exchanging;
                Ok(Claim {
                    flows: self.clone(),
                    key,
                    finished: false,
                })
            }
        }
    }

    /// Remembers that this browser may open the result page for `token_id`.
    pub fn record_result(&self, browser: &BrowserId, token_id: i64, now: i64) -> ResultId {
        let id = ResultId::generate();
        let mut inner = self.lock();
        inner.prune(now, self.state_ttl_ms);
        inner.results.insert(
            id.clone(),
            FlowResult {
                browser: digest(browser.expose()),
                token_id,
                created_at: now,
            },
        );
        id
    }

    /// The token row behind a result page, if this browser may see it.
    pub fn result(&self, id: &ResultId, browser: Option<&BrowserId>, now: i64) -> Option<i64> {
        let browser = digest(browser?.expose());
        let inner = self.lock();
        let result = inner.results.get(id)?;
        let allowed: bool = result.browser.ct_eq(&browser).into();
        (allowed && now - result.created_at <= RESULT_TTL_MS).then_some(result.token_id)
    }

    fn set_stage(&self, key: &[u8; 32], stage: Stage) {
        if let Some(pending) = self.lock().states.get_mut(key) {
            pending.stage = stage;
        }
    }
}

impl Inner {
    /// Forgets what no request can use any more. A used state is kept as long as its
    /// result, so replaying the callback URL redirects to the result instead of failing.
    fn prune(&mut self, now: i64, state_ttl_ms: i64) {
        let keep_for = state_ttl_ms.max(RESULT_TTL_MS);
        self.states.retain(|_, p| now - p.created_at <= keep_for);
        self.results
            .retain(|_, r| now - r.created_at <= RESULT_TTL_MS);
    }
}

impl Claim {
    pub fn finish(mut self, result: Option<ResultId>) {
        self.finished = true;
        self.flows.set_stage(&self.key, Stage::Finished(result));
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        if !self.finished {
            self.flows.set_stage(&self.key, Stage::Finished(None));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_700_000_000_000;

    fn started() -> (Flows, BrowserId, FlowState) {
        let flows = Flows::default();
        let browser = BrowserId::generate();
        let state = flows.start(&browser, T0).unwrap();
        (flows, browser, state)
    }

    #[test]
    fn the_browser_that_started_can_claim_once() {
        let (flows, browser, state) = started();
        let claim = flows
            .claim(Some(state.expose()), Some(&browser), T0 + 1)
            .unwrap();
        assert_eq!(
            flows
                .claim(Some(state.expose()), Some(&browser), T0 + 2)
                .err(),
            Some(StateRejection::InProgress)
        );
        let result = flows.record_result(&browser, 7, T0 + 3);
        claim.finish(Some(result.clone()));
        assert_eq!(
            flows
                .claim(Some(state.expose()), Some(&browser), T0 + 4)
                .err(),
            Some(StateRejection::AlreadyUsed {
                result: Some(result)
            })
        );
    }

    #[test]
    fn missing_unknown_and_foreign_states_are_rejected() {
        let (flows, browser, state) = started();
        assert_eq!(
            flows.claim(None, Some(&browser), T0).err(),
            Some(StateRejection::Missing)
        );
        assert_eq!(
            flows.claim(Some(""), Some(&browser), T0).err(),
            Some(StateRejection::Missing)
        );
        assert_eq!(
            flows.claim(Some("forged"), Some(&browser), T0).err(),
            Some(StateRejection::Unknown)
        );
        let stranger = BrowserId::generate();
        assert_eq!(
            flows.claim(Some(state.expose()), Some(&stranger), T0).err(),
            Some(StateRejection::OtherBrowser)
        );
        assert_eq!(
            flows.claim(Some(state.expose()), None, T0).err(),
            Some(StateRejection::OtherBrowser)
        );
        // The stranger's attempt did not burn the state for its owner.
        assert!(
            flows
                .claim(Some(state.expose()), Some(&browser), T0)
                .is_ok()
        );
    }

    #[test]
    fn an_old_state_is_expired() {
        let (flows, browser, state) = started();
        assert_eq!(
            flows
                .claim(Some(state.expose()), Some(&browser), T0 + STATE_TTL_MS + 1)
                .err(),
            Some(StateRejection::Expired)
        );
    }

    #[test]
    fn a_dropped_claim_ends_the_state() {
        let (flows, browser, state) = started();
        drop(
            flows
                .claim(Some(state.expose()), Some(&browser), T0)
                .unwrap(),
        );
        assert_eq!(
            flows.claim(Some(state.expose()), Some(&browser), T0).err(),
            Some(StateRejection::AlreadyUsed { result: None })
        );
    }

    #[test]
    fn several_states_of_one_browser_are_independent() {
        let flows = Flows::default();
        let browser = BrowserId::generate();
        let a = flows.start(&browser, T0).unwrap();
        let b = flows.start(&browser, T0).unwrap();
        assert!(flows.claim(Some(b.expose()), Some(&browser), T0).is_ok());
        assert!(flows.claim(Some(a.expose()), Some(&browser), T0).is_ok());
    }

    #[test]
    fn only_the_same_browser_sees_a_result_and_only_for_a_while() {
        let flows = Flows::default();
        let browser = BrowserId::generate();
        let id = flows.record_result(&browser, 42, T0);
        assert_eq!(flows.result(&id, Some(&browser), T0 + 1), Some(42));
        assert_eq!(
            flows.result(&id, Some(&BrowserId::generate()), T0 + 1),
            None
        );
        assert_eq!(flows.result(&id, None, T0 + 1), None);
        assert_eq!(
            flows.result(&id, Some(&browser), T0 + RESULT_TTL_MS + 1),
            None
        );
    }

    #[test]
    fn pending_states_are_bounded() {
        let flows = Flows::default();
        let browser = BrowserId::generate();
        for _ in 0..MAX_ENTRIES {
            flows.start(&browser, T0).unwrap();
        }
        assert_eq!(flows.start(&browser, T0).err(), Some(TooManyFlows));
        // Once they expire there is room again.
        assert!(flows.start(&browser, T0 + RESULT_TTL_MS + 1).is_ok());
    }
}
