//! What every store engine must do: tests over `&Store`, split by concern like the store.
//! Each file ends with `on_each_engine!([...])`, which runs its tests once on SQLite and
//! once on PostgreSQL.

pub(super) use secrecy::ExposeSecret;

pub(super) use super::listing::PairFilter;
pub(super) use super::*;
pub(super) use crate::apps::AppId;
pub(super) use crate::flow::{BrowserId, ClaimRecord, ClaimStage, ResultGrant, ResultId};
pub(super) use crate::iop::{Platform, TokenResponse};
pub(super) use crate::tokens::{Owner, RefreshBefore, TokenCounts, TokenId, TokenStatus};

/// One `#[tokio::test]` per listed test on each engine (PostgreSQL's say they skipped
/// where no server is configured; CI requires one).
macro_rules! on_each_engine {
    ([$($test:ident),* $(,)?]) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $test() {
                    let (_guard, store) = super::super::temp_sqlite().await;
                    super::$test(&store).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $test() {
                    let Some(store) = super::super::temp_postgres().await else {
                        return;
                    };
                    super::$test(&store).await;
                }
            )*
        }
    };
}

mod admin;
mod flow;
mod listing;
mod lost_answers;
mod maintenance;
mod refresh;
mod tokens;
mod urgency;

pub(super) const T0: i64 = 1_700_000_000_000;

/// The moment `ms` milliseconds after the epoch.
pub(super) fn at(ms: i64) -> crate::clock::EpochMs {
    crate::clock::EpochMs::new(ms)
}

pub(super) fn response(body: &str) -> TokenResponse {
    TokenResponse::from_json(body.as_bytes()).unwrap()
}

pub(super) fn owner<'a>(app: &'a AppId, platform: Platform, app_key: &'a str) -> Owner<'a> {
    Owner {
        app,
        platform,
        app_key,
    }
}

/// The first thousand pairs, of one app or of all, in id order.
pub(super) async fn pairs(store: &Store, app: Option<&AppId>) -> Vec<crate::tokens::Pair> {
    let filter = PairFilter {
        app: app.cloned(),
        ..PairFilter::default()
    };
    store
        .page_pairs(&filter, None, 1_000, at(T0))
        .await
        .unwrap()
}

pub(super) async fn save(store: &Store, app_key: &str, body: &str, now: i64) -> TokenId {
    let app = AppId::implicit();
    store
        .save_authorization(
            owner(&app, Platform::Aliexpress, app_key),
            &response(body),
            at(now),
        )
        .await
        .unwrap()
}

pub(super) fn claim_record(keep_until: i64) -> ClaimRecord {
    ClaimRecord {
        state_digest: rand::random(),
        app: AppId::implicit(),
        browser_digest: BrowserId::generate().digest(),
        keep_until,
    }
}

pub(in crate::store) async fn temp_sqlite() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/nested/tokens.db", dir.path().display());
    let store = Store::open(&DatabaseUrl::parse(&url).unwrap(), None)
        .await
        .unwrap();
    assert_eq!(store.engine(), Engine::Sqlite);
    (dir, store)
}

/// A store on a new database of the test server, or `None` where there is none.
pub(super) async fn temp_postgres() -> Option<Store> {
    let url = test_database::fresh_postgres_url().await?;
    let store = Store::open(&DatabaseUrl::parse(&url).unwrap(), None)
        .await
        .unwrap();
    assert_eq!(store.engine(), Engine::Postgres);
    Some(store)
}

/// A new database of `engine`: its URL, and what must live as long as it (a folder).
pub(super) async fn fresh_database(
    engine: Engine,
) -> Option<(Option<tempfile::TempDir>, DatabaseUrl)> {
    match engine {
        Engine::Sqlite => {
            let dir = tempfile::tempdir().unwrap();
            let url = format!("sqlite://{}/tokens.db", dir.path().display());
            Some((Some(dir), DatabaseUrl::parse(&url).unwrap()))
        }
        Engine::Postgres => Some((
            None,
            DatabaseUrl::parse(&test_database::fresh_postgres_url().await?).unwrap(),
        )),
    }
}

pub(super) async fn raw_tokens(url: &DatabaseUrl) -> Vec<(String, Option<String>)> {
    use sqlx::Connection;
    let mut db = sqlx::AnyConnection::connect(url.expose()).await.unwrap();
    sqlx::query_as("SELECT access_token, refresh_token FROM tokens ORDER BY id")
        .fetch_all(&mut db)
        .await
        .unwrap()
}

pub(super) fn new_key() -> TokenCipher {
    TokenCipher::from_base64(&TokenCipher::generate_key().into()).unwrap()
}
