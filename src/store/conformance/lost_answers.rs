//! PostgreSQL only: writes that landed but whose answer was lost, as when the connection
//! breaks at the COMMIT (a failover, a restart). A repeatable write is tried again and
//! says what it did; the claim reads back whose it is; any other write fails rather than
//! land twice. SQLite's writer runs in this process, so no answer is lost there.

use super::*;
use crate::admin::{AuditAction, AuditEntry};
use crate::store::db::BrokenWrite;

async fn postgres_store() -> Option<Store> {
    super::temp_postgres().await
}

#[tokio::test]
async fn a_refresh_and_its_lease_are_repeated_and_count_as_done() {
    let Some(store) = postgres_store().await else {
        return;
    };
    let id = save(
        &store,
        "k",
        r#"{"access_token":"old","refresh_token":"r","seller_id":"1","expires_in":60}"#,
        T0,
    )
    .await;
    let seen = store.token(id).await.unwrap().unwrap();

    store.db.break_next_write(BrokenWrite::Landed);
    assert!(
        store
            .lease_refresh(&seen, "me", at(T0 + 30_000), at(T0))
            .await
            .unwrap(),
        "the lease landed, and a repeat by the same holder finds it held"
    );
    store.db.break_next_write(BrokenWrite::Landed);
    let renewed = response(r#"{"access_token":"new","refresh_token":"r2","expires_in":60}"#);
    assert!(
        store
            .save_refresh(&seen, &renewed, at(T0 + 1_000))
            .await
            .unwrap(),
        "stored, not taken for somebody else's newer pair"
    );
    let stored = store.token(id).await.unwrap().unwrap();
    assert_eq!(stored.access_token.expose_secret(), "new");
    assert_eq!(
        stored
            .refresh_token
            .as_ref()
            .map(|t| t.expose_secret().to_owned()),
        Some("r2".to_owned())
    );
    store.db.break_next_write(BrokenWrite::Landed);
    store.release_refresh(id, "me").await.unwrap();
}

#[tokio::test]
async fn a_claim_broken_before_it_landed_is_sent_again() {
    let Some(store) = postgres_store().await else {
        return;
    };
    let record = claim_record(T0 + 1_000);
    store.db.break_next_write(BrokenWrite::Lost);
    assert_eq!(
        store.claim_state(&record, at(T0)).await.unwrap(),
        ClaimAttempt::Claimed,
        "read back, found missing, and claimed"
    );
    assert_eq!(
        store.claim_stage(&record.state_digest).await.unwrap(),
        Some(ClaimStage::Exchanging)
    );
}

#[tokio::test]
async fn a_claim_whose_answer_was_lost_is_still_its_claimants() {
    let Some(store) = postgres_store().await else {
        return;
    };
    let record = claim_record(T0 + 1_000);
    store.db.break_next_write(BrokenWrite::Landed);
    assert_eq!(
        store.claim_state(&record, at(T0)).await.unwrap(),
        ClaimAttempt::Claimed
    );
    // And nobody else's.
    assert_eq!(
        store.claim_state(&record, at(T0)).await.unwrap(),
        ClaimAttempt::Taken(ClaimStage::Exchanging)
    );
}

#[tokio::test]
async fn an_append_is_not_repeated_it_fails_once_landed() {
    let Some(store) = postgres_store().await else {
        return;
    };
    let entry = AuditEntry::new(T0, AuditAction::SignIn, "127.0.0.1", None, None);
    store.db.break_next_write(BrokenWrite::Landed);
    let error = store.append_audit(&entry).await.unwrap_err();
    assert!(error.is_unavailable(), "{error}");
    assert_eq!(
        store.audit_page(None, 10).await.unwrap().len(),
        1,
        "landed once, not twice"
    );
}
