//! Encryption at rest, key rotation and backups.

use super::*;

async fn encryption_at_rest(engine: Engine) {
    let Some((_dir, url)) = fresh_database(engine).await else {
        return;
    };
    let key = new_key();
    let store = Store::open(&url, Some(key.clone())).await.unwrap();
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
    let wrong = Store::open(&url, Some(new_key())).await.unwrap_err();
    assert!(
        wrong
            .to_string()
            .contains("IOP_ENCRYPTION_KEY is not the key"),
        "{wrong}"
    );
    let none = Store::open(&url, None).await.unwrap_err();
    assert!(
        none.to_string().contains("set IOP_ENCRYPTION_KEY"),
        "{none}"
    );

    // A ciphertext moved to another seller's row does not decrypt there.
    {
        use sqlx::Connection;
        let mut db = sqlx::AnyConnection::connect(url.expose()).await.unwrap();
        sqlx::query("UPDATE tokens SET access_token = $1 WHERE id <> $2")
            .bind(raw[0].0.clone())
            .bind(id.get())
            .execute(&mut db)
            .await
            .unwrap();
    }
    let store = Store::open(&url, Some(key.clone())).await.unwrap();
    let pairs = pairs(&store, None).await;
    assert!(pairs.len() > 1, "listing needs no decryption");
    for other in pairs.iter().filter(|p| p.id != id) {
        assert!(matches!(
            store.token(other.id).await,
            Err(StoreError::Encryption(_))
        ));
    }
    assert!(
        store.token(id).await.unwrap().is_some(),
        "its own row still reads"
    );

    // A row that cannot be read stops a rotation before it writes: the old key still works.
    let rotated = store.rotate_key(new_key(), &mut |_, _| {}).await;
    assert!(
        rotated.is_err(),
        "the swapped row cannot be read, so nothing is rotated"
    );
    store.close().await;
    let store = Store::open(&url, Some(key)).await.unwrap();
    assert!(store.token(id).await.unwrap().is_some());
    store.close().await;
}

async fn encrypting_a_plain_store(engine: Engine) {
    let Some((_dir, url)) = fresh_database(engine).await else {
        return;
    };
    let plain = Store::open(&url, None).await.unwrap();
    let id = save(
        &plain,
        "k",
        r#"{"access_token":"was-plain","refresh_token":"was-plain-r","seller_id":"9"}"#,
        0,
    )
    .await;
    plain.close().await;
    let key = new_key();
    let refused = Store::open(&url, Some(key.clone())).await.unwrap_err();
    assert!(refused.to_string().contains("store encrypt"), "{refused}");

    let converting = Store::open_unchecked(&url, Some(key.clone()))
        .await
        .unwrap();
    assert_eq!(converting.encrypt_all(&mut |_, _| {}).await.unwrap(), 1);
    converting.close().await;
    assert!(!format!("{:?}", raw_tokens(&url).await).contains("was-plain"));

    let store = Store::open(&url, Some(key.clone())).await.unwrap();
    let newer = new_key();
    assert_eq!(
        store
            .rotate_key(newer.clone(), &mut |_, _| {})
            .await
            .unwrap(),
        1
    );
    store.close().await;
    assert!(
        Store::open(&url, Some(key)).await.is_err(),
        "the old key is gone"
    );
    let store = Store::open(&url, Some(newer)).await.unwrap();
    let row = store.token(id).await.unwrap().unwrap();
    assert_eq!(row.refresh_token.unwrap().expose_secret(), "was-plain-r");
}

/// A rotation that stopped before it recorded the new key (killed between its batches)
/// is finished by running it again with the same keys: pairs already under the new key are
/// left, the rest are re-encrypted, and only then does the key check change.
async fn a_rotation_that_stopped_half_way_is_finished_by_running_it_again(engine: Engine) {
    let Some((_dir, url)) = fresh_database(engine).await else {
        return;
    };
    let old = new_key();
    let new = new_key();
    let store = Store::open(&url, Some(old.clone())).await.unwrap();
    for n in 0..3 {
        save(
            &store,
            "k",
            &format!(r#"{{"access_token":"t{n}","seller_id":"{n}"}}"#),
            0,
        )
        .await;
    }
    assert_eq!(
        store.rotate_key(new.clone(), &mut |_, _| {}).await.unwrap(),
        3
    );
    store.close().await;
    {
        // As if killed before the key check: it still names the old key.
        use sqlx::Connection;
        let mut db = sqlx::AnyConnection::connect(url.expose()).await.unwrap();
        let statement = format!(
            "UPDATE store_meta SET value = '{}' WHERE name = 'key_check'",
            old.key_check()
        );
        sqlx::raw_sql(sqlx::AssertSqlSafe(statement))
            .execute(&mut db)
            .await
            .unwrap();
    }
    // Meanwhile a seller authorized under the old key.
    let store = Store::open(&url, Some(old.clone())).await.unwrap();
    let late = save(&store, "k", r#"{"access_token":"late","seller_id":"9"}"#, 0).await;
    let mut heard = Vec::new();
    let again = store
        .rotate_key(new.clone(), &mut |done, total| heard.push((done, total)))
        .await
        .unwrap();
    assert_eq!(again, 1, "only the pair still under the old key");
    assert_eq!(heard.last(), Some(&(4, 4)));
    store.close().await;
    let store = Store::open(&url, Some(new)).await.unwrap();
    for token in pairs(&store, None).await {
        assert!(store.token(token.id).await.unwrap().is_some());
    }
    let late = store.token(late).await.unwrap().unwrap();
    assert_eq!(late.access_token.expose_secret(), "late");
}

#[tokio::test]
async fn a_sqlite_rotation_that_stopped_half_way_is_finished_by_running_it_again() {
    a_rotation_that_stopped_half_way_is_finished_by_running_it_again(Engine::Sqlite).await;
}

#[tokio::test]
async fn a_postgres_rotation_that_stopped_half_way_is_finished_by_running_it_again() {
    a_rotation_that_stopped_half_way_is_finished_by_running_it_again(Engine::Postgres).await;
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
    let (dir, store) = temp_sqlite().await;
    save(&store, "k", r#"{"access_token":"kept","seller_id":"5"}"#, 0).await;
    let copy = dir.path().join("backup.db");
    store.backup(&copy).await.unwrap();
    assert!(store.backup(&copy).await.is_err(), "never overwrites");
    let restored = Store::open(
        &DatabaseUrl::parse(&format!("sqlite://{}", copy.display())).unwrap(),
        None,
    )
    .await
    .unwrap();
    assert_eq!(restored.find_seller("5").await.unwrap().len(), 1);
}

/// Whether any file in `dir` (the database, its WAL, its shared memory) holds `needle`.
fn any_file_holds(dir: &std::path::Path, needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let bytes = std::fs::read(&path).unwrap_or_default();
        if bytes
            .windows(needle.len())
            .any(|window| window == needle.as_bytes())
        {
            found.push(path.display().to_string());
        }
    }
    found
}

#[tokio::test]
async fn a_deleted_or_encrypted_sqlite_token_leaves_no_plain_copy_in_the_files() {
    let dir = tempfile::tempdir().unwrap();
    let url = DatabaseUrl::parse(&format!("sqlite://{}/tokens.db", dir.path().display())).unwrap();
    let store = Store::open(&url, None).await.unwrap();
    let app = AppId::implicit();
    let kept = r#"{"access_token":"kept-access-secret-A1","refresh_token":"kept-refresh-secret-B2","seller_id":"1"}"#;
    let doomed = r#"{"access_token":"doomed-access-secret-C3","refresh_token":"doomed-refresh-secret-D4","seller_id":"2"}"#;
    for body in [kept, doomed] {
        store
            .save_authorization(
                owner(&app, Platform::Aliexpress, "k"),
                &response(body),
                at(T0),
            )
            .await
            .unwrap();
    }
    let doomed_id = store.find_seller("2").await.unwrap()[0].id;
    assert!(store.delete_token(doomed_id).await.unwrap());
    store.close().await;
    for gone in ["doomed-access-secret-C3", "doomed-refresh-secret-D4"] {
        assert_eq!(
            any_file_holds(dir.path(), gone),
            Vec::<String>::new(),
            "{gone}"
        );
    }

    let key = new_key();
    let store = Store::open_unchecked(&url, Some(key.clone()))
        .await
        .unwrap();
    assert_eq!(store.encrypt_all(&mut |_, _| {}).await.unwrap(), 1);
    store.close().await;
    for plain in ["kept-access-secret-A1", "kept-refresh-secret-B2"] {
        assert_eq!(
            any_file_holds(dir.path(), plain),
            Vec::<String>::new(),
            "{plain}"
        );
    }
    let store = Store::open(&url, Some(key)).await.unwrap();
    let kept = store.find_seller("1").await.unwrap();
    assert_eq!(
        kept[0].access_token.expose_secret(),
        "kept-access-secret-A1"
    );
    store.close().await;
}
