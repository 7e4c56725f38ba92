//! The admin console's sessions, sign-in throttle and audit log.

use super::*;

/// One `#[tokio::test]` per conformance test, for the engine `$open` opens (`None`: no
/// server for it here, and the test says it skipped).
async fn admin_sessions_are_found_touched_and_forgotten(store: &Store) {
    use crate::admin::{SessionId, SessionRecord};
    let id = SessionId::generate();
    let record = SessionRecord {
        digest: id.digest(),
        password_tag: "tag".to_owned(),
        client: "192.0.2.7".to_owned(),
        created_at: T0,
        last_seen_at: T0,
    };
    store.create_session(&record, at(0), at(0)).await.unwrap();
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
    store.touch_session(&id.digest(), at(T0 + 5)).await.unwrap();
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
    store
        .create_session(&newer, at(T0 + 6), at(0))
        .await
        .unwrap();
    assert_eq!(store.session(&id.digest()).await.unwrap(), None);
    // ...and the ones begun too long ago, however busy.
    let third = SessionId::generate();
    let young = SessionRecord {
        digest: third.digest(),
        created_at: T0 + 200,
        last_seen_at: T0 + 200,
        ..record.clone()
    };
    store
        .create_session(&young, at(0), at(T0 + 1))
        .await
        .unwrap();
    assert_eq!(store.session(&other.digest()).await.unwrap(), None);
    assert_eq!(store.session(&third.digest()).await.unwrap(), Some(young));
    store.delete_session(&third.digest()).await.unwrap();
    assert_eq!(store.session(&third.digest()).await.unwrap(), None);
}

async fn sign_in_attempts_are_counted_per_client_and_window_and_not_while_locked(store: &Store) {
    const WINDOW: i64 = 60_000;
    let reserve = |client: &'static str, now: i64| store.reserve_sign_in(client, at(now), WINDOW);
    for n in 1..=3 {
        assert_eq!(reserve("a", T0 + n).await.unwrap(), Some(n));
    }
    assert_eq!(reserve("b", T0).await.unwrap(), Some(1));
    // A new window starts the count again.
    assert_eq!(reserve("a", T0 + 1 + WINDOW).await.unwrap(), Some(1));

    // Attempts sent at once each get a number of their own.
    let mut at_once: Vec<i64> = futures_util::future::join_all((0..10).map(|_| reserve("c", T0)))
        .await
        .into_iter()
        .map(|n| n.unwrap().unwrap())
        .collect();
    at_once.sort();
    assert_eq!(at_once, (1..=10).collect::<Vec<_>>());

    assert_eq!(store.logins_locked_until("a", at(T0)).await.unwrap(), None);
    store.lock_logins("a", at(T0 + 500)).await.unwrap();
    assert_eq!(
        store.logins_locked_until("a", at(T0 + 499)).await.unwrap(),
        Some(T0 + 500)
    );
    // While locked, an attempt is not counted at all.
    assert_eq!(reserve("a", T0 + 499).await.unwrap(), None);
    assert_eq!(
        store.logins_locked_until("a", at(T0 + 500)).await.unwrap(),
        None
    );
    assert_eq!(store.logins_locked_until("b", at(T0)).await.unwrap(), None);
    store.clear_login_failures("b").await.unwrap();
    assert_eq!(reserve("b", T0 + 2).await.unwrap(), Some(1));
}

async fn the_audit_log_pages_newest_first(store: &Store) {
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
                token_id: (n % 2 == 0).then_some(TokenId::new(n)),
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
    assert_eq!(first[0].token_id, Some(TokenId::new(4)));
    assert_eq!(first[1].client, "192.0.2.3");
    let rest = store.audit_page(Some(first[2].id), 3).await.unwrap();
    assert_eq!(rest.iter().map(|e| e.at).collect::<Vec<_>>(), [T0 + 1, T0]);
}

on_each_engine!([
    admin_sessions_are_found_touched_and_forgotten,
    sign_in_attempts_are_counted_per_client_and_window_and_not_while_locked,
    the_audit_log_pages_newest_first
]);
