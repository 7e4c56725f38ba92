//! Due pairs, failures, renewals and refresh leases.

use super::*;

async fn a_pair_is_due_for_refresh_when_a_quarter_of_its_lifetime_is_left(store: &Store) {
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
    assert_eq!(due(at(74_000)).await.len(), 0);
    let due_now = due(at(75_000)).await;
    assert_eq!(due_now.len(), 1);
    let other = AppId::parse("other-app").unwrap();
    assert!(
        store
            .due_for_refresh(&other, policy, at(75_000))
            .await
            .unwrap()
            .is_empty()
    );

    let renewed = response(r#"{"access_token":"a2","expires_in":100}"#);
    assert!(
        store
            .save_refresh(&due_now[0], &renewed, at(80_000))
            .await
            .unwrap()
    );
    let row = store.token(id).await.unwrap().unwrap();
    assert_eq!(row.access_token.expose_secret(), "a2");
    assert_eq!(
        row.refresh_token.as_ref().unwrap().expose_secret(),
        "r",
        "kept when not sent"
    );
    assert_eq!(row.refresh_expires_at, Some(1_000_000), "not extended");
    assert!(due(at(90_000)).await.is_empty(), "fresh again");
    assert_eq!(row.issued_at, 80_000);
    assert_eq!(row.last_refresh_at, Some(80_000));
    assert_eq!(
        store.next_due_at(app, policy).await.unwrap(),
        Some(80_000 + 75_000),
        "due again a quarter before its new expiry"
    );
}

async fn a_failed_refresh_waits_out_its_backoff(store: &Store) {
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
        .record_refresh_failure(
            id,
            "ServiceUnavailable: busy",
            Some("ServiceUnavailable"),
            at(90_000),
        )
        .await
        .unwrap();
    assert!(
        store
            .due_for_refresh(&app, policy, at(80_000))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store
            .due_for_refresh(&app, policy, at(90_000))
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(store.next_due_at(&app, policy).await.unwrap(), Some(90_000));
    let row = store.token(id).await.unwrap().unwrap();
    assert_eq!(row.consecutive_failures, 1);
    assert_eq!(row.last_error.as_deref(), Some("ServiceUnavailable: busy"));
    assert_eq!(row.last_error_code.as_deref(), Some("ServiceUnavailable"));
    assert_eq!(row.backing_off(89_999), Some(90_000));
    assert_eq!(row.backing_off(90_000), None);
    // A renewal that lands clears the failure, its code and its backoff.
    let renewed = response(r#"{"access_token":"a2","expires_in":100}"#);
    assert!(
        store
            .save_refresh(&row, &renewed, at(91_000))
            .await
            .unwrap()
    );
    let row = store.token(id).await.unwrap().unwrap();
    assert_eq!(
        (
            &row.last_error,
            &row.last_error_code,
            row.retry_after,
            row.consecutive_failures
        ),
        (&None, &None, None, 0)
    );
    store
        .mark_reauthorize(id, "IllegalRefreshToken: dead", at(95_000))
        .await
        .unwrap();
    let row = store.token(id).await.unwrap().unwrap();
    assert_eq!(row.status, TokenStatus::Reauthorize);
    assert_eq!(row.last_error.as_deref(), Some("IllegalRefreshToken: dead"));
    assert_eq!(store.next_due_at(&app, policy).await.unwrap(), None);
}

async fn a_refresh_never_overwrites_a_newer_authorization(store: &Store) {
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
            .save_refresh(&before_refresh, &late, at(60_000))
            .await
            .unwrap()
    );
    let row = store.token(id).await.unwrap().unwrap();
    assert_eq!(row.access_token.expose_secret(), "newer");
}

async fn dead_pairs_are_marked_for_reauthorization_and_counted(store: &Store) {
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
        store.count_by_status(at(15_000)).await.unwrap(),
        counts(1, 2, 0)
    );
    let marked = store.mark_dead(at(25_000)).await.unwrap();
    assert_eq!(marked.len(), 2, "{marked:?}");
    assert!(marked.iter().all(|p| p.status == TokenStatus::Reauthorize));
    assert_eq!(
        store.count_by_status(at(25_000)).await.unwrap(),
        counts(1, 0, 2)
    );
    assert!(
        store
            .due_for_refresh(&AppId::implicit(), RefreshBefore::default(), at(25_000))
            .await
            .unwrap()
            .is_empty()
    );
}

async fn one_refresh_lease_per_token_until_it_runs_out(store: &Store) {
    let id = save(store, "k", r#"{"access_token":"a","seller_id":"1"}"#, 0).await;
    let seen = store.token(id).await.unwrap().unwrap();
    let lease = |holder: &'static str, until: i64, now: i64| {
        let seen = &seen;
        async move {
            store
                .lease_refresh(seen, holder, at(until), at(now))
                .await
                .unwrap()
        }
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
async fn a_lease_on_a_stale_read_is_refused(store: &Store) {
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
            .lease_refresh(&seen, "one", at(T0 + 30_000), at(T0))
            .await
            .unwrap()
    );
    let renewed = response(r#"{"access_token":"a2","refresh_token":"r2","seller_id":"1"}"#);
    assert!(
        store
            .save_refresh(&seen, &renewed, at(T0 + 10))
            .await
            .unwrap()
    );
    store.release_refresh(id, "one").await.unwrap();

    assert!(
        !store
            .lease_refresh(&seen, "two", at(T0 + 30_020), at(T0 + 20))
            .await
            .unwrap(),
        "a lease taken on a pair read before its renewal"
    );
    let fresh = store.token(id).await.unwrap().unwrap();
    assert!(
        store
            .lease_refresh(&fresh, "two", at(T0 + 30_020), at(T0 + 20))
            .await
            .unwrap()
    );
}

/// The schedule follows writes made after a pass and a change of policy.
async fn the_schedule_follows_new_pairs_and_a_new_policy(store: &Store) {
    let app = AppId::implicit();
    let quarter = RefreshBefore::default();
    let half = RefreshBefore::parse("50%").unwrap();
    assert_eq!(store.next_due_at(&app, quarter).await.unwrap(), None);
    // Issued at 0 for 100 s: due at 75 s under the default, at 50 s under 50 %.
    save(
        store,
        "k",
        r#"{"access_token":"a","refresh_token":"r","seller_id":"1","expires_in":100}"#,
        0,
    )
    .await;
    assert_eq!(
        store.next_due_at(&app, quarter).await.unwrap(),
        Some(75_000)
    );
    assert!(
        store
            .due_for_refresh(&app, quarter, at(60_000))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(store.next_due_at(&app, half).await.unwrap(), Some(50_000));
    assert_eq!(
        store
            .due_for_refresh(&app, half, at(60_000))
            .await
            .unwrap()
            .len(),
        1
    );
    // A second seller written after the passes, due sooner, comes first.
    save(
        store,
        "k",
        r#"{"access_token":"b","refresh_token":"r","seller_id":"2","expires_in":40}"#,
        0,
    )
    .await;
    assert_eq!(store.next_due_at(&app, half).await.unwrap(), Some(20_000));
    assert_eq!(
        store.next_due_at(&app, quarter).await.unwrap(),
        Some(30_000)
    );
}

on_each_engine!([
    the_schedule_follows_new_pairs_and_a_new_policy,
    a_pair_is_due_for_refresh_when_a_quarter_of_its_lifetime_is_left,
    a_failed_refresh_waits_out_its_backoff,
    a_refresh_never_overwrites_a_newer_authorization,
    dead_pairs_are_marked_for_reauthorization_and_counted,
    one_refresh_lease_per_token_until_it_runs_out,
    a_lease_on_a_stale_read_is_refused
]);
