//! Storing, reading, finding and forgetting pairs.

use super::*;

async fn reauthorizing_a_seller_updates_its_row(store: &Store) {
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

async fn the_same_seller_under_another_app_key_or_platform_is_another_row(store: &Store) {
    let r = response(r#"{"access_token":"a","seller_id":"1001"}"#);
    let prod = AppId::implicit();
    let test = AppId::parse("ae-test").unwrap();
    let a = store
        .save_authorization(owner(&prod, Platform::Aliexpress, "k1"), &r, at(1))
        .await
        .unwrap();
    let b = store
        .save_authorization(owner(&test, Platform::Aliexpress, "k2"), &r, at(1))
        .await
        .unwrap();
    let c = store
        .save_authorization(owner(&prod, Platform::Lazada, "k1"), &r, at(1))
        .await
        .unwrap();
    assert!(a != b && b != c && a != c);
    assert_eq!(store.token(b).await.unwrap().unwrap().app, test);
    assert_eq!(
        store.token(c).await.unwrap().unwrap().platform,
        Platform::Lazada
    );
}

async fn sellers_are_found_by_any_of_their_ids_and_forgotten(store: &Store) {
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
    assert_eq!(pairs(store, None).await.len(), 2);
    let test_app = AppId::parse("lzd-test").unwrap();
    assert!(pairs(store, Some(&test_app)).await.is_empty());
    assert!(store.delete_token(id).await.unwrap());
    assert!(!store.delete_token(id).await.unwrap());
    assert!(store.find_seller("SG1").await.unwrap().is_empty());
    assert_eq!(pairs(store, Some(&AppId::implicit())).await.len(), 1);
}

#[tokio::test]
async fn sqlite_tokens_survive_reopening_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/tokens.db", dir.path().display());
    let url = DatabaseUrl::parse(&url).unwrap();
    let store = Store::open(&url, None).await.unwrap();
    let app = AppId::implicit();
    let id = store
        .save_authorization(
            owner(&app, Platform::Lazada, "k"),
            &response(r#"{"access_token":"kept","account":"s@x"}"#),
            at(5),
        )
        .await
        .unwrap();
    store.close().await;
    let reopened = Store::open(&url, None).await.unwrap();
    let row = reopened.token(id).await.unwrap().unwrap();
    assert_eq!(row.access_token.expose_secret(), "kept");
}

#[cfg(unix)]
#[tokio::test]
async fn the_sqlite_database_file_is_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let (dir, _store) = temp_sqlite().await;
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

async fn pairs_follow_their_platform_and_app_key_to_a_renamed_app(store: &Store) {
    let r = response(r#"{"access_token":"a","seller_id":"1001"}"#);
    let old = AppId::implicit();
    let other = AppId::parse("other").unwrap();
    let first = store
        .save_authorization(owner(&old, Platform::Aliexpress, "k1"), &r, at(1))
        .await
        .unwrap();
    store
        .save_authorization(owner(&other, Platform::Lazada, "k1"), &r, at(1))
        .await
        .unwrap();
    let owners = store.stored_owners().await.unwrap();
    assert_eq!(owners.len(), 2);
    assert_eq!(
        (
            owners[0].app.as_str(),
            owners[0].platform.as_str(),
            owners[0].pairs
        ),
        ("default", "aliexpress", 1)
    );
    let shop = AppId::parse("shop").unwrap();
    let moved = store
        .adopt_pairs(Platform::Aliexpress, "k1", &shop)
        .await
        .unwrap();
    assert_eq!(moved, 1, "only that platform's pairs of that key");
    assert_eq!(store.token(first).await.unwrap().unwrap().app, shop);
    let again = store
        .adopt_pairs(Platform::Aliexpress, "k1", &shop)
        .await
        .unwrap();
    assert_eq!(again, 0);
}

on_each_engine!([
    reauthorizing_a_seller_updates_its_row,
    the_same_seller_under_another_app_key_or_platform_is_another_row,
    sellers_are_found_by_any_of_their_ids_and_forgotten,
    pairs_follow_their_platform_and_app_key_to_a_renamed_app
]);
