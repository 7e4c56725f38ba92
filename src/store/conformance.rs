//! What every store engine must do, as tests over `&dyn Store`. Each engine runs them all
//! (see the `engine_tests!` invocations at the end).

use secrecy::ExposeSecret;

use super::*;
use crate::flow::{BrowserId, ClaimRecord, ClaimStage, ResultGrant, ResultId};
use crate::tokens::RefreshBefore;

const T0: i64 = 1_700_000_000_000;

fn response(body: &str) -> TokenResponse {
    TokenResponse::from_json(body.as_bytes()).unwrap()
}

fn owner<'a>(app: &'a AppId, platform: Platform, app_key: &'a str) -> Owner<'a> {
    Owner {
        app,
        platform,
        app_key,
    }
}

async fn save(store: &dyn Store, app_key: &str, body: &str, now: i64) -> i64 {
    let app = AppId::implicit();
    store
        .save_authorization(
            owner(&app, Platform::Aliexpress, app_key),
            &response(body),
            now,
        )
        .await
        .unwrap()
}

pub(super) async fn reauthorizing_a_seller_updates_its_row(store: &dyn Store) {
    let id1 = save(
        store,
        "k",
        r#"{"access_token":"a1","refresh_token":"r1","seller_id":"1001","expires_in":10}"#,
        1_000,
    )
    .await;
    let id2 = save(
        store,
        "k",
        r#"{"access_token":"a2","refresh_token":"r2","seller_id":"1001","expires_in":20}"#,
        2_000,
    )
    .await;
    let id3 = save(
        store,
        "k",
        r#"{"access_token":"b1","seller_id":"2002"}"#,
        3_000,
    )
    .await;
    assert_eq!(id1, id2);
    assert_ne!(id1, id3);
    let row = store.token(id1).await.unwrap().unwrap();
    assert_eq!(row.access_token.expose_secret(), "a2");
    assert_eq!(row.access_expires_at, Some(22_000));
    assert_eq!(row.created_at, 1_000);
    assert_eq!(row.updated_at, 2_000);
    assert_eq!(row.identity.seller_id.as_deref(), Some("1001"));
    assert_eq!(row.platform, Platform::Aliexpress);
    assert_eq!(row.app, AppId::implicit());
    assert_eq!(row.status, TokenStatus::Active);
}

pub(super) async fn the_same_seller_under_another_app_key_or_platform_is_another_row(
    store: &dyn Store,
) {
    let r = response(r#"{"access_token":"a","seller_id":"1001"}"#);
    let prod = AppId::implicit();
    let test = AppId::parse("ae-test").unwrap();
    let a = store
        .save_authorization(owner(&prod, Platform::Aliexpress, "k1"), &r, 1)
        .await
        .unwrap();
    let b = store
        .save_authorization(owner(&test, Platform::Aliexpress, "k2"), &r, 1)
        .await
        .unwrap();
    let c = store
        .save_authorization(owner(&prod, Platform::Lazada, "k1"), &r, 1)
        .await
        .unwrap();
    assert!(a != b && b != c && a != c);
    assert_eq!(store.token(b).await.unwrap().unwrap().app, test);
    assert_eq!(
        store.token(c).await.unwrap().unwrap().platform,
        Platform::Lazada
    );
}

pub(super) async fn a_pair_is_due_for_refresh_when_a_quarter_of_its_lifetime_is_left(
    store: &dyn Store,
) {
    // Issued at 0 for 100 s; the refresh token lives 1000 s.
    let id = save(
        store,
        "k",
        r#"{"access_token":"a","refresh_token":"r","seller_id":"1","expires_in":100,"refresh_expires_in":1000}"#,
        0,
    )
    .await;
    let app = AppId::implicit();
    let app = &app;
    let policy = RefreshBefore::default();
    let due = |now| async move { store.due_for_refresh(app, policy, now).await.unwrap() };
    assert_eq!(due(74_000).await.len(), 0);
    let due_now = due(75_000).await;
    assert_eq!(due_now.len(), 1);
    let other = AppId::parse("other-app").unwrap();
    assert!(
        store
            .due_for_refresh(&other, policy, 75_000)
            .await
            .unwrap()
            .is_empty()
    );

    let renewed = response(r#"{"access_token":"a2","expires_in":100}"#);
    assert!(
        store
            .save_refresh(&due_now[0], &renewed, 80_000)
            .await
            .unwrap()
    );
    let row = store.token(id).await.unwrap().unwrap();
    assert_eq!(row.access_token.expose_secret(), "a2");
    assert_eq!(
        row.refresh_token.unwrap().expose_secret(),
        "r",
        "kept when not sent"
    );
    assert_eq!(row.refresh_expires_at, Some(1_000_000), "not extended");
    assert!(due(90_000).await.is_empty(), "fresh again");
    assert_eq!(row.issued_at, 80_000);
    assert_eq!(row.last_refresh_at, Some(80_000));
    assert_eq!(
        store.next_due_at(app, policy).await.unwrap(),
        Some(80_000 + 75_000),
        "due again a quarter before its new expiry"
    );
}

pub(super) async fn a_failed_refresh_waits_out_its_backoff(store: &dyn Store) {
    let id = save(
        store,
        "k",
        r#"{"access_token":"a","refresh_token":"r","seller_id":"1","expires_in":100}"#,
        0,
    )
    .await;
    let app = AppId::implicit();
    let policy = RefreshBefore::default();
    store
        .record_refresh_failure(id, "ServiceUnavailable: busy", 90_000)
        .await
        .unwrap();
    assert!(
        store
            .due_for_refresh(&app, policy, 80_000)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store
            .due_for_refresh(&app, policy, 90_000)
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(store.next_due_at(&app, policy).await.unwrap(), Some(90_000));
    let row = store.token(id).await.unwrap().unwrap();
    assert_eq!(row.consecutive_failures, 1);
    assert_eq!(row.last_error.as_deref(), Some("ServiceUnavailable: busy"));
    store
        .mark_reauthorize(id, "IllegalRefreshToken: dead", 95_000)
        .await
        .unwrap();
    let row = store.token(id).await.unwrap().unwrap();
    assert_eq!(row.status, TokenStatus::Reauthorize);
    assert_eq!(row.last_error.as_deref(), Some("IllegalRefreshToken: dead"));
    assert_eq!(store.next_due_at(&app, policy).await.unwrap(), None);
}

pub(super) async fn sellers_are_found_by_any_of_their_ids_and_forgotten(store: &dyn Store) {
    let lazada = r#"{"access_token":"a","account":"s@x","country":"cb","country_user_info":[
        {"country":"sg","seller_id":"SG1","user_id":"U-SG","short_code":"SGx"},
        {"country":"th","seller_id":"TH1","user_id":"U-TH","short_code":"THx"}]}"#;
    let id = save(store, "k", lazada, 0).await;
    let other = save(
        store,
        "k",
        r#"{"access_token":"b","seller_id":"77","user_id":"78"}"#,
        0,
    )
    .await;
    for key in ["SG1", "U-TH"] {
        let found = store.find_seller(key).await.unwrap();
        assert_eq!(
            found.iter().map(|t| t.id).collect::<Vec<_>>(),
            vec![id],
            "{key}"
        );
    }
    assert_eq!(store.find_seller("78").await.unwrap()[0].id, other);
    assert!(
        store.find_seller("s@x").await.unwrap().is_empty(),
        "not by account"
    );
    assert_eq!(store.list_tokens(None).await.unwrap().len(), 2);
    let test_app = AppId::parse("lzd-test").unwrap();
    assert!(store.list_tokens(Some(&test_app)).await.unwrap().is_empty());
    assert!(store.delete_token(id).await.unwrap());
    assert!(!store.delete_token(id).await.unwrap());
    assert!(store.find_seller("SG1").await.unwrap().is_empty());
    assert_eq!(
        store
            .list_tokens(Some(&AppId::implicit()))
            .await
            .unwrap()
            .len(),
        1
    );
}

pub(super) async fn a_refresh_never_overwrites_a_newer_authorization(store: &dyn Store) {
    let body = r#"{"access_token":"old","refresh_token":"r","seller_id":"7","expires_in":100}"#;
    let id = save(store, "k", body, 0).await;
    let before_refresh = store.token(id).await.unwrap().unwrap();
    // The seller authorizes again while the refresh call is in flight.
    save(
        store,
        "k",
        r#"{"access_token":"newer","refresh_token":"r2","seller_id":"7","expires_in":100}"#,
        50_000,
    )
    .await;
    let late = response(r#"{"access_token":"from-refresh","expires_in":100}"#);
    assert!(
        !store
            .save_refresh(&before_refresh, &late, 60_000)
            .await
            .unwrap()
    );
    let row = store.token(id).await.unwrap().unwrap();
    assert_eq!(row.access_token.expose_secret(), "newer");
}

pub(super) async fn dead_pairs_are_marked_for_reauthorization_and_counted(store: &dyn Store) {
    for body in [
        r#"{"access_token":"a","refresh_token":"r","seller_id":"1","expires_in":10,"refresh_expires_in":20}"#,
        r#"{"access_token":"b","refresh_token":"r","seller_id":"2","expires_in":10,"refresh_expires_in":0}"#,
        r#"{"access_token":"c","refresh_token":"r","seller_id":"3","expires_in":1000,"refresh_expires_in":2000}"#,
    ] {
        save(store, "k", body, 0).await;
    }
    let counts = |active, expired, reauthorize| {
        vec![TokenCounts {
            app: AppId::implicit(),
            active,
            expired,
            reauthorize,
        }]
    };
    assert_eq!(
        store.count_by_status(15_000).await.unwrap(),
        counts(1, 2, 0)
    );
    assert_eq!(store.mark_dead(25_000).await.unwrap(), 2);
    assert_eq!(
        store.count_by_status(25_000).await.unwrap(),
        counts(1, 0, 2)
    );
    assert!(
        store
            .due_for_refresh(&AppId::implicit(), RefreshBefore::default(), 25_000)
            .await
            .unwrap()
            .is_empty()
    );
}

pub(super) async fn one_refresh_lease_per_token_until_it_runs_out(store: &dyn Store) {
    let id = save(store, "k", r#"{"access_token":"a","seller_id":"1"}"#, 0).await;
    let seen = store.token(id).await.unwrap().unwrap();
    let lease = |holder: &'static str, until: i64, now: i64| {
        let seen = &seen;
        async move { store.lease_refresh(seen, holder, until, now).await.unwrap() }
    };
    assert!(lease("one", T0 + 30_000, T0).await);
    assert!(!lease("two", T0 + 30_000, T0 + 1).await);
    // A crashed holder's lease runs out.
    assert!(lease("two", T0 + 90_000, T0 + 30_001).await);
    store.release_refresh(id, "one").await.unwrap();
    assert!(
        !lease("one", T0 + 90_000, T0 + 30_002).await,
        "only the holder releases"
    );
    store.release_refresh(id, "two").await.unwrap();
    assert!(lease("one", T0 + 90_000, T0 + 30_003).await);
}

/// Two replicas read the same due pair; one renews it and lets go of its lease before the
/// other asks. The latecomer's lease must be refused, or it would spend the refresh token
/// a second time from its stale read.
pub(super) async fn a_lease_on_a_stale_read_is_refused(store: &dyn Store) {
    let id = save(
        store,
        "k",
        r#"{"access_token":"a","refresh_token":"r","seller_id":"1"}"#,
        0,
    )
    .await;
    let seen = store.token(id).await.unwrap().unwrap();
    assert!(
        store
            .lease_refresh(&seen, "one", T0 + 30_000, T0)
            .await
            .unwrap()
    );
    let renewed = response(r#"{"access_token":"a2","refresh_token":"r2","seller_id":"1"}"#);
    assert!(store.save_refresh(&seen, &renewed, T0 + 10).await.unwrap());
    store.release_refresh(id, "one").await.unwrap();

    assert!(
        !store
            .lease_refresh(&seen, "two", T0 + 30_020, T0 + 20)
            .await
            .unwrap(),
        "a lease taken on a pair read before its renewal"
    );
    let fresh = store.token(id).await.unwrap().unwrap();
    assert!(
        store
            .lease_refresh(&fresh, "two", T0 + 30_020, T0 + 20)
            .await
            .unwrap()
    );
}

fn claim_record(keep_until: i64) -> ClaimRecord {
    ClaimRecord {
        state_digest: rand::random(),
        app: AppId::implicit(),
        browser_digest: BrowserId::generate().digest(),
        keep_until,
    }
}

pub(super) async fn a_state_is_claimed_once_and_remembers_its_result(store: &dyn Store) {
    let record = claim_record(T0 + 1_000);
    assert_eq!(
        store.claim_state(&record, T0).await.unwrap(),
        ClaimAttempt::Claimed
    );
    assert_eq!(
        store.claim_state(&record, T0).await.unwrap(),
        ClaimAttempt::Taken(ClaimStage::Exchanging)
    );
    let result = ResultId::generate(T0);
    store
        .finish_claim(&record.state_digest, Some(&result))
        .await
        .unwrap();
    assert_eq!(
        store.claim_state(&record, T0).await.unwrap(),
        ClaimAttempt::Taken(ClaimStage::Finished(Some(result.clone())))
    );
    assert_eq!(
        store.claim_stage(&record.state_digest).await.unwrap(),
        Some(ClaimStage::Finished(Some(result)))
    );
    assert_eq!(store.claim_stage(&rand::random()).await.unwrap(), None);
}

pub(super) async fn an_exchange_stores_pair_result_and_claim_together(store: &dyn Store) {
    let record = claim_record(T0 + 1_000);
    store.claim_state(&record, T0).await.unwrap();
    let app = AppId::implicit();
    let grant = ResultGrant {
        id: ResultId::generate(T0),
        app: app.clone(),
        browser_digest: record.browser_digest,
        token_id: 0,
        expires_at: T0 + 1_800_000,
    };
    let id = store
        .save_exchange(
            owner(&app, Platform::Aliexpress, "k"),
            &response(r#"{"access_token":"a","refresh_token":"r","seller_id":"77"}"#),
            T0,
            &record.state_digest,
            &grant,
        )
        .await
        .unwrap();
    assert_eq!(store.find_seller("77").await.unwrap()[0].id, id);
    let stored = store.result(&grant.id).await.unwrap().unwrap();
    assert_eq!(stored.token_id, id, "the grant is for the stored row");
    assert_eq!(
        store.claim_stage(&record.state_digest).await.unwrap(),
        Some(ClaimStage::Finished(Some(grant.id)))
    );
}

pub(super) async fn old_claims_and_results_are_forgotten(store: &dyn Store) {
    let old = claim_record(T0);
    store.claim_state(&old, T0).await.unwrap();
    // A claim some seconds later sweeps the ones past their time.
    store
        .claim_state(&claim_record(T0 + 60_000), T0 + 30_000)
        .await
        .unwrap();
    assert_eq!(store.claim_stage(&old.state_digest).await.unwrap(), None);

    let grant = ResultGrant {
        id: ResultId::generate(T0),
        app: AppId::implicit(),
        browser_digest: BrowserId::generate().digest(),
        token_id: 42,
        expires_at: T0,
    };
    store.save_result(&grant, T0).await.unwrap();
    assert_eq!(
        store.result(&grant.id).await.unwrap().as_ref(),
        Some(&grant)
    );
    let newer = ResultGrant {
        id: ResultId::generate(T0),
        expires_at: T0 + 60_000,
        ..grant.clone()
    };
    store.save_result(&newer, T0 + 30_000).await.unwrap();
    assert_eq!(store.result(&grant.id).await.unwrap(), None);
    assert_eq!(store.result(&newer.id).await.unwrap(), Some(newer));
}

/// One `#[tokio::test]` per conformance test, for the engine `$open` opens (`None`: no
/// server for it here, and the test says it skipped).
pub(super) async fn admin_sessions_are_found_touched_and_forgotten(store: &dyn Store) {
    use crate::admin::{SessionId, SessionRecord};
    let id = SessionId::generate();
    let record = SessionRecord {
        digest: id.digest(),
        password_tag: "tag".to_owned(),
        client: "192.0.2.7".to_owned(),
        created_at: T0,
        last_seen_at: T0,
    };
    store.create_session(&record, 0).await.unwrap();
    assert_eq!(
        store.session(&id.digest()).await.unwrap(),
        Some(record.clone())
    );
    assert_eq!(
        store
            .session(&SessionId::generate().digest())
            .await
            .unwrap(),
        None
    );
    store.touch_session(&id.digest(), T0 + 5).await.unwrap();
    assert_eq!(
        store
            .session(&id.digest())
            .await
            .unwrap()
            .unwrap()
            .last_seen_at,
        T0 + 5
    );

    // Making a session forgets the ones idle too long.
    let other = SessionId::generate();
    let newer = SessionRecord {
        digest: other.digest(),
        last_seen_at: T0 + 100,
        ..record.clone()
    };
    store.create_session(&newer, T0 + 6).await.unwrap();
    assert_eq!(store.session(&id.digest()).await.unwrap(), None);
    store.delete_session(&other.digest()).await.unwrap();
    assert_eq!(store.session(&other.digest()).await.unwrap(), None);
}

pub(super) async fn failed_sign_ins_are_counted_per_client_and_window(store: &dyn Store) {
    const WINDOW: i64 = 60_000;
    for n in 1..=3 {
        assert_eq!(
            store
                .count_login_failure("a", T0 + n, WINDOW)
                .await
                .unwrap(),
            n
        );
    }
    assert_eq!(store.count_login_failure("b", T0, WINDOW).await.unwrap(), 1);
    // A new window starts the count again.
    assert_eq!(
        store
            .count_login_failure("a", T0 + 1 + WINDOW, WINDOW)
            .await
            .unwrap(),
        1
    );

    assert_eq!(store.logins_locked_until("a", T0).await.unwrap(), None);
    store.lock_logins("a", T0 + 500).await.unwrap();
    assert_eq!(
        store.logins_locked_until("a", T0 + 499).await.unwrap(),
        Some(T0 + 500)
    );
    assert_eq!(
        store.logins_locked_until("a", T0 + 500).await.unwrap(),
        None
    );
    assert_eq!(store.logins_locked_until("b", T0).await.unwrap(), None);
    store.clear_login_failures("b").await.unwrap();
    assert_eq!(
        store
            .count_login_failure("b", T0 + 2, WINDOW)
            .await
            .unwrap(),
        1
    );
}

pub(super) async fn the_audit_log_pages_newest_first(store: &dyn Store) {
    use crate::admin::{AuditAction, AuditEntry};
    for n in 0..5 {
        store
            .append_audit(&AuditEntry {
                id: 0,
                at: T0 + n,
                action: if n % 2 == 0 {
                    AuditAction::Reveal
                } else {
                    AuditAction::SignInFailed
                },
                client: format!("192.0.2.{n}"),
                token_id: (n % 2 == 0).then_some(n),
                subject: Some(format!("seller {n}")),
                detail: None,
            })
            .await
            .unwrap();
    }
    let first = store.audit_page(None, 3).await.unwrap();
    assert_eq!(
        first.iter().map(|e| e.at).collect::<Vec<_>>(),
        [T0 + 4, T0 + 3, T0 + 2]
    );
    assert_eq!(first[0].action, AuditAction::Reveal);
    assert_eq!(first[0].token_id, Some(4));
    assert_eq!(first[1].client, "192.0.2.3");
    let rest = store.audit_page(Some(first[2].id), 3).await.unwrap();
    assert_eq!(rest.iter().map(|e| e.at).collect::<Vec<_>>(), [T0 + 1, T0]);
}

/// Many callbacks at once, as under load (SQLite commits them in shared batches): each
/// state is claimed exactly once, however many requests race for it.
pub(super) async fn concurrent_claims_claim_each_state_once(store: &dyn Store) {
    let raced = claim_record(T0 + 1_000);
    let others: Vec<ClaimRecord> = (0..24).map(|_| claim_record(T0 + 1_000)).collect();
    let attempts = futures_util::future::join_all(
        others
            .iter()
            .chain(std::iter::repeat_n(&raced, 24))
            .map(|record| store.claim_state(record, T0)),
    )
    .await;
    let (distinct, same) = attempts.split_at(others.len());
    assert!(
        distinct
            .iter()
            .all(|a| matches!(a, Ok(ClaimAttempt::Claimed))),
        "{distinct:?}"
    );
    let won = same
        .iter()
        .filter(|a| matches!(a, Ok(ClaimAttempt::Claimed)))
        .count();
    assert_eq!(won, 1, "{same:?}");
}

/// A write that fails (here: a result id used twice) fails alone: the exchanges committed
/// with it are stored and answered.
pub(super) async fn a_failing_write_fails_only_itself(store: &dyn Store) {
    let app = AppId::implicit();
    let claims: Vec<ClaimRecord> = (0..8).map(|_| claim_record(T0 + 1_000)).collect();
    for record in &claims {
        store.claim_state(record, T0).await.unwrap();
    }
    let shared = ResultId::generate(T0);
    let grants: Vec<ResultGrant> = claims
        .iter()
        .enumerate()
        .map(|(i, record)| ResultGrant {
            id: if i == 3 || i == 6 {
                shared.clone()
            } else {
                ResultId::generate(T0)
            },
            app: app.clone(),
            browser_digest: record.browser_digest,
            token_id: 0,
            expires_at: T0 + 1_800_000,
        })
        .collect();
    let responses: Vec<TokenResponse> = (0..claims.len())
        .map(|i| response(&format!(r#"{{"access_token":"a{i}","seller_id":"{i}"}}"#)))
        .collect();
    let saved = futures_util::future::join_all(claims.iter().zip(&grants).zip(&responses).map(
        |((record, grant), response)| {
            store.save_exchange(
                owner(&app, Platform::Aliexpress, "k"),
                response,
                T0,
                &record.state_digest,
                grant,
            )
        },
    ))
    .await;
    let failed: Vec<usize> = (0..saved.len()).filter(|i| saved[*i].is_err()).collect();
    assert!(failed == [3] || failed == [6], "{saved:?}");
    for (i, id) in saved.iter().enumerate() {
        let Ok(id) = id else { continue };
        let sellers = store.find_seller(&i.to_string()).await.unwrap();
        assert_eq!(sellers.iter().map(|s| s.id).collect::<Vec<_>>(), [*id]);
        assert_eq!(
            store.claim_stage(&claims[i].state_digest).await.unwrap(),
            Some(ClaimStage::Finished(Some(grants[i].id.clone())))
        );
    }
}

macro_rules! engine_tests {
    ($engine:ident, $open:expr, [$($test:ident),* $(,)?]) => {
        mod $engine {
            $(
                #[tokio::test]
                async fn $test() {
                    let Some((_guard, store)) = $open.await else {
                        return;
                    };
                    super::$test(&store).await;
                }
            )*
        }
    };
}

macro_rules! all_engine_tests {
    ($engine:ident, $open:expr) => {
        engine_tests!(
            $engine,
            $open,
            [
                reauthorizing_a_seller_updates_its_row,
                the_same_seller_under_another_app_key_or_platform_is_another_row,
                a_pair_is_due_for_refresh_when_a_quarter_of_its_lifetime_is_left,
                a_refresh_never_overwrites_a_newer_authorization,
                a_failed_refresh_waits_out_its_backoff,
                sellers_are_found_by_any_of_their_ids_and_forgotten,
                dead_pairs_are_marked_for_reauthorization_and_counted,
                one_refresh_lease_per_token_until_it_runs_out,
                a_lease_on_a_stale_read_is_refused,
                a_state_is_claimed_once_and_remembers_its_result,
                old_claims_and_results_are_forgotten,
                an_exchange_stores_pair_result_and_claim_together,
                concurrent_claims_claim_each_state_once,
                a_failing_write_fails_only_itself,
                admin_sessions_are_found_touched_and_forgotten,
                failed_sign_ins_are_counted_per_client_and_window,
                the_audit_log_pages_newest_first,
            ]
        );
    };
}

pub(super) async fn temp_sqlite() -> Option<(tempfile::TempDir, SqlStore)> {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/nested/tokens.db", dir.path().display());
    let store = SqlStore::open(&url, None).await.unwrap();
    assert_eq!(store.engine(), Engine::Sqlite);
    Some((dir, store))
}

/// A store on a new database of the test server, or `None` where there is none.
pub(super) async fn temp_postgres() -> Option<((), SqlStore)> {
    let url = test_database::fresh_postgres_url().await?;
    let store = SqlStore::open(&url, None).await.unwrap();
    assert_eq!(store.engine(), Engine::Postgres);
    Some(((), store))
}

all_engine_tests!(sqlite, super::temp_sqlite());
all_engine_tests!(postgres, super::temp_postgres());

#[tokio::test]
async fn sqlite_tokens_survive_reopening_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/tokens.db", dir.path().display());
    let store = SqlStore::open(&url, None).await.unwrap();
    let app = AppId::implicit();
    let id = store
        .save_authorization(
            owner(&app, Platform::Lazada, "k"),
            &response(r#"{"access_token":"kept","account":"s@x"}"#),
            5,
        )
        .await
        .unwrap();
    store.close().await;
    let reopened = SqlStore::open(&url, None).await.unwrap();
    let row = reopened.token(id).await.unwrap().unwrap();
    assert_eq!(row.access_token.expose_secret(), "kept");
}

#[cfg(unix)]
#[tokio::test]
async fn the_sqlite_database_file_is_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let (dir, _store) = temp_sqlite().await.unwrap();
    let mode = std::fs::metadata(dir.path().join("nested/tokens.db"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let folder = std::fs::metadata(dir.path().join("nested"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(
        folder & 0o777,
        0o700,
        "the folder it made is owner-only too"
    );
}

/// A new database of `engine`: its URL, and what must live as long as it (a folder).
async fn fresh_database(engine: Engine) -> Option<(Option<tempfile::TempDir>, String)> {
    match engine {
        Engine::Sqlite => {
            let dir = tempfile::tempdir().unwrap();
            let url = format!("sqlite://{}/tokens.db", dir.path().display());
            Some((Some(dir), url))
        }
        Engine::Postgres => Some((None, test_database::fresh_postgres_url().await?)),
    }
}

async fn raw_tokens(url: &str) -> Vec<(String, Option<String>)> {
    use sqlx::Connection;
    let mut db = sqlx::AnyConnection::connect(url).await.unwrap();
    sqlx::query_as("SELECT access_token, refresh_token FROM tokens ORDER BY id")
        .fetch_all(&mut db)
        .await
        .unwrap()
}

fn new_key() -> TokenCipher {
    TokenCipher::from_base64(&TokenCipher::generate_key().into()).unwrap()
}

async fn encryption_at_rest(engine: Engine) {
    let Some((_dir, url)) = fresh_database(engine).await else {
        return;
    };
    let key = new_key();
    let store = SqlStore::open(&url, Some(key.clone())).await.unwrap();
    let id = save(
        &store,
        "k",
        r#"{"access_token":"plain-access-1","refresh_token":"plain-refresh-1","seller_id":"1"}"#,
        0,
    )
    .await;
    save(
        &store,
        "k",
        r#"{"access_token":"plain-access-2","seller_id":"2"}"#,
        0,
    )
    .await;
    let raw = raw_tokens(&url).await;
    assert!(
        raw.iter()
            .all(|(a, r)| a.starts_with("v1:") && r.as_ref().is_none_or(|r| r.starts_with("v1:")))
    );
    assert!(
        !format!("{raw:?}").contains("plain-"),
        "ciphertext only: {raw:?}"
    );
    let row = store.token(id).await.unwrap().unwrap();
    assert_eq!(row.access_token.expose_secret(), "plain-access-1");
    store.close().await;

    // A wrong key, or none, is refused at startup.
    let wrong = SqlStore::open(&url, Some(new_key())).await.unwrap_err();
    assert!(
        wrong
            .to_string()
            .contains("IOP_ENCRYPTION_KEY is not the key"),
        "{wrong}"
    );
    let none = SqlStore::open(&url, None).await.unwrap_err();
    assert!(
        none.to_string().contains("set IOP_ENCRYPTION_KEY"),
        "{none}"
    );

    // A ciphertext moved to another seller's row does not decrypt there.
    {
        use sqlx::Connection;
        let mut db = sqlx::AnyConnection::connect(&url).await.unwrap();
        sqlx::query("UPDATE tokens SET access_token = $1 WHERE id <> $2")
            .bind(raw[0].0.clone())
            .bind(id)
            .execute(&mut db)
            .await
            .unwrap();
    }
    let store = SqlStore::open(&url, Some(key.clone())).await.unwrap();
    assert!(matches!(
        store.list_tokens(None).await,
        Err(StoreError::Encryption(_))
    ));
    assert!(
        store.token(id).await.unwrap().is_some(),
        "its own row still reads"
    );

    // Rotation is all or nothing: a row that cannot be read stops it, the old key still works.
    let rotated = store.rotate_key(new_key()).await;
    assert!(
        rotated.is_err(),
        "the swapped row cannot be read, so nothing is rotated"
    );
    store.close().await;
    let store = SqlStore::open(&url, Some(key)).await.unwrap();
    assert!(store.token(id).await.unwrap().is_some());
    store.close().await;
}

async fn encrypting_a_plain_store(engine: Engine) {
    let Some((_dir, url)) = fresh_database(engine).await else {
        return;
    };
    let plain = SqlStore::open(&url, None).await.unwrap();
    let id = save(
        &plain,
        "k",
        r#"{"access_token":"was-plain","refresh_token":"was-plain-r","seller_id":"9"}"#,
        0,
    )
    .await;
    plain.close().await;
    let key = new_key();
    let refused = SqlStore::open(&url, Some(key.clone())).await.unwrap_err();
    assert!(refused.to_string().contains("store encrypt"), "{refused}");

    let converting = SqlStore::open_unchecked(&url, Some(key.clone()))
        .await
        .unwrap();
    assert_eq!(converting.encrypt_all().await.unwrap(), 1);
    converting.close().await;
    assert!(!format!("{:?}", raw_tokens(&url).await).contains("was-plain"));

    let store = SqlStore::open(&url, Some(key.clone())).await.unwrap();
    let newer = new_key();
    assert_eq!(store.rotate_key(newer.clone()).await.unwrap(), 1);
    store.close().await;
    assert!(
        SqlStore::open(&url, Some(key)).await.is_err(),
        "the old key is gone"
    );
    let store = SqlStore::open(&url, Some(newer)).await.unwrap();
    let row = store.token(id).await.unwrap().unwrap();
    assert_eq!(row.refresh_token.unwrap().expose_secret(), "was-plain-r");
}

#[tokio::test]
async fn sqlite_tokens_are_encrypted_at_rest_and_bound_to_their_row() {
    encryption_at_rest(Engine::Sqlite).await;
}

#[tokio::test]
async fn postgres_tokens_are_encrypted_at_rest_and_bound_to_their_row() {
    encryption_at_rest(Engine::Postgres).await;
}

#[tokio::test]
async fn a_plain_sqlite_store_is_encrypted_and_its_key_rotated() {
    encrypting_a_plain_store(Engine::Sqlite).await;
}

#[tokio::test]
async fn a_plain_postgres_store_is_encrypted_and_its_key_rotated() {
    encrypting_a_plain_store(Engine::Postgres).await;
}

#[tokio::test]
async fn a_running_sqlite_store_is_backed_up_consistently() {
    let (dir, store) = temp_sqlite().await.unwrap();
    save(&store, "k", r#"{"access_token":"kept","seller_id":"5"}"#, 0).await;
    let copy = dir.path().join("backup.db");
    store.backup(&copy).await.unwrap();
    assert!(store.backup(&copy).await.is_err(), "never overwrites");
    let restored = SqlStore::open(&format!("sqlite://{}", copy.display()), None)
        .await
        .unwrap();
    assert_eq!(restored.find_seller("5").await.unwrap().len(), 1);
}
