//! Claims, result grants and the exchange written together.

use super::*;

async fn a_state_is_claimed_once_and_remembers_its_result(store: &Store) {
    let record = claim_record(T0 + 1_000);
    assert_eq!(
        store.claim_state(&record, at(T0)).await.unwrap(),
        ClaimAttempt::Claimed
    );
    assert_eq!(
        store.claim_state(&record, at(T0)).await.unwrap(),
        ClaimAttempt::Taken(ClaimStage::Exchanging)
    );
    let result = ResultId::generate(T0);
    store
        .finish_claim(&record.state_digest, Some(&result))
        .await
        .unwrap();
    assert_eq!(
        store.claim_state(&record, at(T0)).await.unwrap(),
        ClaimAttempt::Taken(ClaimStage::Finished(Some(result.clone())))
    );
    assert_eq!(
        store.claim_stage(&record.state_digest).await.unwrap(),
        Some(ClaimStage::Finished(Some(result)))
    );
    assert_eq!(store.claim_stage(&rand::random()).await.unwrap(), None);
}

async fn an_exchange_stores_pair_result_and_claim_together(store: &Store) {
    let record = claim_record(T0 + 1_000);
    store.claim_state(&record, at(T0)).await.unwrap();
    let app = AppId::implicit();
    let grant = ResultGrant {
        id: ResultId::generate(T0),
        app: app.clone(),
        browser_digest: record.browser_digest,
        token_id: TokenId::UNSAVED,
        expires_at: T0 + 1_800_000,
    };
    let answer = response(r#"{"access_token":"a","refresh_token":"r","seller_id":"77"}"#);
    let exchange = || {
        store.save_exchange(
            owner(&app, Platform::Aliexpress, "k"),
            &answer,
            at(T0),
            &record.state_digest,
            &grant,
        )
    };
    let id = exchange().await.unwrap();
    assert_eq!(store.find_seller("77").await.unwrap()[0].id, id);
    let stored = store.result(&grant.id).await.unwrap().unwrap();
    assert_eq!(stored.token_id, id, "the grant is for the stored row");
    assert_eq!(
        store.claim_stage(&record.state_digest).await.unwrap(),
        Some(ClaimStage::Finished(Some(grant.id.clone())))
    );
    // Written again (a retry after a COMMIT whose answer was lost), it changes nothing.
    let again = exchange().await.unwrap();
    assert_eq!(again, id);
    assert_eq!(store.result(&grant.id).await.unwrap().unwrap().token_id, id);
}

async fn old_claims_and_results_are_forgotten(store: &Store) {
    let old = claim_record(T0);
    store.claim_state(&old, at(T0)).await.unwrap();
    // A claim some seconds later sweeps the ones past their time.
    store
        .claim_state(&claim_record(T0 + 60_000), at(T0 + 30_000))
        .await
        .unwrap();
    assert_eq!(store.claim_stage(&old.state_digest).await.unwrap(), None);

    let grant = ResultGrant {
        id: ResultId::generate(T0),
        app: AppId::implicit(),
        browser_digest: BrowserId::generate().digest(),
        token_id: TokenId::new(42),
        expires_at: T0,
    };
    store.save_result(&grant, at(T0)).await.unwrap();
    assert_eq!(
        store.result(&grant.id).await.unwrap().as_ref(),
        Some(&grant)
    );
    let newer = ResultGrant {
        id: ResultId::generate(T0),
        expires_at: T0 + 60_000,
        ..grant.clone()
    };
    store.save_result(&newer, at(T0 + 30_000)).await.unwrap();
    assert_eq!(store.result(&grant.id).await.unwrap(), None);
    assert_eq!(store.result(&newer.id).await.unwrap(), Some(newer));
}

/// Many callbacks at once, as under load (SQLite commits them in shared batches): each
/// state is claimed exactly once, however many requests race for it.
async fn concurrent_claims_claim_each_state_once(store: &Store) {
    let raced = claim_record(T0 + 1_000);
    let others: Vec<ClaimRecord> = (0..24).map(|_| claim_record(T0 + 1_000)).collect();
    let attempts = futures_util::future::join_all(
        others
            .iter()
            .chain(std::iter::repeat_n(&raced, 24))
            .map(|record| store.claim_state(record, at(T0))),
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
async fn a_failing_write_fails_only_itself(store: &Store) {
    let app = AppId::implicit();
    let claims: Vec<ClaimRecord> = (0..8).map(|_| claim_record(T0 + 1_000)).collect();
    for record in &claims {
        store.claim_state(record, at(T0)).await.unwrap();
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
            token_id: TokenId::UNSAVED,
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
                at(T0),
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

on_each_engine!([
    a_state_is_claimed_once_and_remembers_its_result,
    an_exchange_stores_pair_result_and_claim_together,
    old_claims_and_results_are_forgotten,
    concurrent_claims_claim_each_state_once,
    a_failing_write_fails_only_itself
]);
