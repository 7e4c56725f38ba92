//! What the fuzz targets (fuzz/) check on every input, kept here so that ordinary tests run
//! the same checks over the seeds (fuzz/seeds/) and over every input that ever crashed one
//! (fuzz/regressions/<target>/): a crash found by fuzzing becomes a regression test by
//! saving its input there. Each check panics on a broken promise, never on bad input.

use crate::apps::AppId;
use crate::config::parse_apps_file;
use crate::flow::{BrowserId, StateKey};
use crate::iop::sign::{sign, string_to_sign};
use crate::iop::{AuthCode, TokenResponse};
use crate::web::callback_query::CallbackQuery;

/// A callback query: parsed, its state checked against a real key and browser, its code
/// checked. A state this key never issued is never accepted.
pub fn callback_query(data: &[u8]) {
    let query = String::from_utf8_lossy(data);
    let params = CallbackQuery::parse(&query);
    let key = StateKey::derive("fuzz-secret");
    let browser = BrowserId::parse(&"ab".repeat(32)).expect("a valid browser id");
    let verified = key.verify(params.state.as_deref(), &AppId::implicit(), Some(&browser));
    assert!(
        verified.is_err(),
        "a state never issued was accepted: {query}"
    );
    let _ = AuthCode::parse(params.code.as_deref());
}

/// A token call's answer: parsed, and everything the service reads from it computed.
pub fn token_response(data: &[u8]) {
    if let Ok(response) = TokenResponse::from_json(data) {
        for now in [i64::MIN, 0, 1_700_000_000_000, i64::MAX] {
            let _ = response.expiries(now);
        }
        let identity = &response.identity;
        let _ = identity.account_key();
        let _ = identity.display_name();
        let _ = identity.lookup_ids();
    }
}

/// An apps file, with secrets from a stand-in environment: a clear error or at least one
/// checked app.
pub fn apps_file(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let env = |name: &str| name.ends_with("_SECRET").then(|| "fuzz-secret".to_owned());
    if let Ok(apps) = parse_apps_file(text, &env) {
        assert!(!apps.is_empty(), "an apps file with no app was accepted");
    }
}

/// The signer's canonical string, from an input whose first line is the API path and each
/// further line a `name=value` parameter: it starts with the path, holds every name and
/// value once, and does not depend on their order; the signature is 64 upper-case hex.
pub fn canonical_string(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let mut lines = text.split('\n');
    let path = lines.next().unwrap_or_default();
    let mut params: Vec<(&str, &str)> = lines
        .map(|line| line.split_once('=').unwrap_or((line, "")))
        .collect();
    // Names are unique in a request (it is a form).
    params.sort_by(|a, b| a.0.cmp(b.0));
    params.dedup_by(|a, b| a.0 == b.0);
    let canonical = string_to_sign(path, params.iter().copied());
    assert!(canonical.starts_with(path));
    let length: usize = params.iter().map(|(k, v)| k.len() + v.len()).sum();
    assert_eq!(canonical.len(), path.len() + length);
    assert_eq!(
        canonical,
        string_to_sign(path, params.iter().rev().copied())
    );
    let signature = sign("fuzz-secret", path, params.iter().copied());
    assert_eq!(signature.len(), 64);
    assert!(
        signature
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(&b))
    );
}

/// A target's check of one input.
pub type Check = fn(&[u8]);

/// The targets by name, as fuzz/ and the regression test know them.
pub const TARGETS: [(&str, Check); 4] = [
    ("callback_query", callback_query),
    ("token_response", token_response),
    ("apps_file", apps_file),
    ("canonical_string", canonical_string),
];

#[cfg(test)]
mod tests {
    use std::path::Path;

    /// Every seed and every saved crash input of every target passes its checks.
    #[test]
    fn seeds_and_past_crashes_pass_their_checks() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
        for (target, check) in super::TARGETS {
            let mut inputs = 0;
            for folder in ["seeds", "regressions"] {
                let Ok(entries) = std::fs::read_dir(root.join(folder).join(target)) else {
                    continue;
                };
                for entry in entries.flatten() {
                    let data = std::fs::read(entry.path()).unwrap();
                    check(&data);
                    inputs += 1;
                }
            }
            assert!(inputs > 0, "{target} has no seed in fuzz/seeds/{target}");
        }
    }

    #[test]
    fn a_state_this_key_issued_is_the_one_kind_the_check_would_flag() {
        // The callback check can fail: a real state for this browser is accepted.
        use crate::apps::AppId;
        use crate::flow::{BrowserId, StateKey};
        let key = StateKey::derive("fuzz-secret");
        let browser = BrowserId::parse(&"ab".repeat(32)).unwrap();
        let state = key.issue(&AppId::implicit(), &browser, i64::MAX);
        let query = format!("code=x&state={}", state.expose());
        let outcome = std::panic::catch_unwind(|| super::callback_query(query.as_bytes()));
        assert!(outcome.is_err());
    }
}
