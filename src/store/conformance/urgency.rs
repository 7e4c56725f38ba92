//! The console's order a page at a time: the same order `Health` and the expiry give, both
//! ways, every seller once while others come and go, searches and counts.

use std::collections::BTreeSet;

use super::*;
use crate::tokens::{Health, Pair};

/// When the pages are judged: a day after the sellers authorized.
const NOW: i64 = T0 + 86_400_000;

const DAY: i64 = 86_400;

/// Seller `n`: its access token lives `hours`, its refresh token `refresh_secs`.
async fn seller(store: &Store, n: usize, hours: i64, refresh_secs: i64) -> TokenId {
    let body = format!(
        r#"{{"access_token":"a{n}","refresh_token":"r{n}","expires_in":{},
            "refresh_expires_in":{},"seller_id":"{n}","user_nick":"Shop {n}",
            "account":"owner{n}@mail.example"}}"#,
        hours * 3_600,
        refresh_secs
    );
    save(store, "k", &body, T0).await
}

/// Sellers in every state, with expiries that interleave across the states.
async fn sellers_in_every_state(store: &Store) -> Vec<TokenId> {
    let mut ids = Vec::new();
    for n in 0..24 {
        // A refresh token of 1.2 days has 0.2 left at NOW: within a quarter of its life,
        // so expiring. One of 60 days is not.
        let refresh_secs = if n % 4 == 1 { DAY * 12 / 10 } else { 60 * DAY };
        ids.push(seller(store, n, 48 + (n as i64 * 7) % 11, refresh_secs).await);
    }
    for (i, id) in ids.iter().enumerate() {
        match i % 6 {
            0 => store.mark_reauthorize(*id, "gone", at(NOW)).await.unwrap(),
            3 => store
                .record_refresh_failure(*id, "boom", None, at(NOW))
                .await
                .unwrap(),
            _ => {}
        }
    }
    ids
}

/// Walks every page of `filter` forward, then every page back from the end.
async fn walk(store: &Store, filter: &UrgencyFilter, limit: u32) -> (Vec<Pair>, Vec<Pair>) {
    let mut forward = Vec::new();
    let mut from = None;
    loop {
        let page = store
            .urgency_page(filter, from, Toward::Later, limit, at(NOW))
            .await
            .unwrap();
        assert!(page.pairs.len() <= limit as usize);
        from = page.pairs.last().map(|p| Place::of(p, NOW));
        forward.extend(page.pairs);
        if !page.more {
            break;
        }
    }
    let mut backward = Vec::new();
    let mut from = forward.last().map(|p| Place::of(p, NOW));
    // The last row itself comes first, then the pages before it.
    backward.extend(forward.last().cloned());
    while let Some(place) = from {
        let page = store
            .urgency_page(filter, Some(place), Toward::Earlier, limit, at(NOW))
            .await
            .unwrap();
        from = page.pairs.first().map(|p| Place::of(p, NOW));
        let more = page.more;
        backward.splice(0..0, page.pairs);
        if !more {
            break;
        }
    }
    (forward, backward)
}

fn ids(pairs: &[Pair]) -> Vec<TokenId> {
    pairs.iter().map(|p| p.id).collect()
}

async fn pages_follow_the_urgency_order_both_ways(store: &Store) {
    sellers_in_every_state(store).await;
    let mut expected = pairs(store, None).await;
    expected.sort_by_key(|p| Place::of(p, NOW));
    let states: BTreeSet<Health> = expected.iter().map(|p| Health::of(p, NOW)).collect();
    assert_eq!(states.len(), 4, "every state is there: {states:?}");
    let (forward, backward) = walk(store, &UrgencyFilter::default(), 5).await;
    assert_eq!(ids(&forward), ids(&expected), "forward");
    assert_eq!(ids(&backward), ids(&expected), "backward");
    for health in Health::ALL {
        let only = UrgencyFilter {
            health: Some(health),
            ..UrgencyFilter::default()
        };
        let (forward, _) = walk(store, &only, 2).await;
        let of_state: Vec<_> = expected
            .iter()
            .filter(|p| Health::of(p, NOW) == health)
            .cloned()
            .collect();
        assert_eq!(ids(&forward), ids(&of_state), "{health:?}");
    }
    let counts = store.health_counts(at(NOW)).await.unwrap();
    for (health, count) in counts {
        let listed = expected
            .iter()
            .filter(|p| Health::of(p, NOW) == health)
            .count();
        assert_eq!(count as usize, listed, "{health:?}");
    }
}

async fn a_search_matches_the_beginnings_of_words_in_the_same_order(store: &Store) {
    sellers_in_every_state(store).await;
    let search = |text: &str| UrgencyFilter {
        search: Some(text.into()),
        ..UrgencyFilter::default()
    };
    let nicks = |pairs: &[Pair]| {
        pairs
            .iter()
            .map(|p| p.identity.seller_id.clone().unwrap())
            .collect::<BTreeSet<_>>()
    };
    let (found, _) = walk(store, &search("1"), 2).await;
    let expected: BTreeSet<String> = [
        "1", "10", "11", "12", "13", "14", "15", "16", "17", "18", "19",
    ]
    .map(String::from)
    .into();
    assert_eq!(nicks(&found), expected, "a seller id prefix");
    let mut sorted = found.clone();
    sorted.sort_by_key(|p| Place::of(p, NOW));
    assert_eq!(ids(&found), ids(&sorted), "in the console's order");
    let (found, backward) = walk(store, &search("SHOP 2"), 1).await;
    assert_eq!(
        nicks(&found),
        ["2", "20", "21", "22", "23"].map(String::from).into(),
        "every word begins a word of the seller's, ignoring case"
    );
    assert_eq!(ids(&found), ids(&backward));
    let (found, _) = walk(store, &search("mail owner7"), 10).await;
    assert_eq!(
        nicks(&found),
        ["7"].map(String::from).into(),
        "pieces of the account"
    );
    for nothing in ["hop", "%", "owner7@mail.example.org"] {
        let (found, _) = walk(store, &search(nothing), 10).await;
        assert!(found.is_empty(), "{nothing}");
    }
    let failing = UrgencyFilter {
        health: Some(Health::Failing),
        search: Some("shop".into()),
    };
    let (found, _) = walk(store, &failing, 10).await;
    assert!(!found.is_empty());
    assert!(found.iter().all(|p| Health::of(p, NOW) == Health::Failing));
}

async fn every_seller_that_stays_is_seen_once_while_others_come_and_go(store: &Store) {
    let ids = sellers_in_every_state(store).await;
    let (doomed, stayed): (Vec<_>, Vec<_>) = ids.iter().partition(|id| id.get() % 5 == 0);
    let mut doomed = doomed.into_iter().copied().collect::<Vec<_>>();
    let (mut seen, mut from, mut pages) = (Vec::new(), None, 0);
    loop {
        let page = store
            .urgency_page(&UrgencyFilter::default(), from, Toward::Later, 4, at(NOW))
            .await
            .unwrap();
        from = page.pairs.last().map(|p| Place::of(p, NOW));
        seen.extend(ids_of(&page.pairs));
        pages += 1;
        if pages <= 3 {
            seller(store, 100 + pages, 1 + pages as i64, 60 * DAY).await;
        }
        if let Some(id) = doomed.pop() {
            store.delete_token(id).await.unwrap();
        }
        if !page.more {
            break;
        }
    }
    let unique: BTreeSet<_> = seen.iter().copied().collect();
    assert_eq!(unique.len(), seen.len(), "no seller twice");
    assert!(
        stayed.iter().all(|id| unique.contains(id)),
        "every seller that stayed"
    );
}

fn ids_of(pairs: &[Pair]) -> impl Iterator<Item = TokenId> + '_ {
    pairs.iter().map(|p| p.id)
}

on_each_engine!([
    pages_follow_the_urgency_order_both_ways,
    a_search_matches_the_beginnings_of_words_in_the_same_order,
    every_seller_that_stays_is_seen_once_while_others_come_and_go
]);

/// Sellers stored before the search index existed are found once the store opens again.
async fn sellers_stored_before_the_index_are_indexed_when_it_opens(engine: Engine) {
    let Some((_dir, url)) = fresh_database(engine).await else {
        return;
    };
    let store = Store::open(&url, None).await.unwrap();
    seller(&store, 7, 48, 60 * DAY).await;
    store.close().await;
    {
        // As the migration leaves an older store: no terms, and the index asked for.
        use sqlx::Connection;
        let mut db = sqlx::AnyConnection::connect(url.expose()).await.unwrap();
        for statement in [
            "DELETE FROM token_terms",
            "INSERT INTO store_meta (name, value) VALUES ('search_terms', 'pending')",
        ] {
            sqlx::query(statement).execute(&mut db).await.unwrap();
        }
    }
    let store = Store::open(&url, None).await.unwrap();
    let search = UrgencyFilter {
        search: Some("owner7".into()),
        ..UrgencyFilter::default()
    };
    let page = store
        .urgency_page(&search, None, Toward::Later, 10, at(NOW))
        .await
        .unwrap();
    assert_eq!(page.pairs.len(), 1);
}

#[tokio::test]
async fn sqlite_sellers_stored_before_the_index_are_indexed_when_it_opens() {
    sellers_stored_before_the_index_are_indexed_when_it_opens(Engine::Sqlite).await;
}

#[tokio::test]
async fn postgres_sellers_stored_before_the_index_are_indexed_when_it_opens() {
    sellers_stored_before_the_index_are_indexed_when_it_opens(Engine::Postgres).await;
}

/// The counts are kept a few seconds, but never past a write of this process.
async fn counts_are_kept_briefly_and_forgotten_on_a_write_here(engine: Engine) {
    let Some((_dir, url)) = fresh_database(engine).await else {
        return;
    };
    let here = Store::open(&url, None).await.unwrap();
    let elsewhere = Store::open(&url, None).await.unwrap();
    let total = |counts: Vec<(Health, i64)>| counts.iter().map(|(_, n)| n).sum::<i64>();
    seller(&here, 1, 48, 60 * DAY).await;
    assert_eq!(total(here.health_counts(at(NOW)).await.unwrap()), 1);
    seller(&here, 2, 48, 60 * DAY).await;
    assert_eq!(
        total(here.health_counts(at(NOW)).await.unwrap()),
        2,
        "a write here"
    );
    seller(&elsewhere, 3, 48, 60 * DAY).await;
    assert_eq!(
        total(here.health_counts(at(NOW + 1_000)).await.unwrap()),
        2,
        "another process's write shows a few seconds later"
    );
    assert_eq!(total(here.health_counts(at(NOW + 5_000)).await.unwrap()), 3);
}

#[tokio::test]
async fn sqlite_counts_are_kept_briefly_and_forgotten_on_a_write_here() {
    counts_are_kept_briefly_and_forgotten_on_a_write_here(Engine::Sqlite).await;
}

#[tokio::test]
async fn postgres_counts_are_kept_briefly_and_forgotten_on_a_write_here() {
    counts_are_kept_briefly_and_forgotten_on_a_write_here(Engine::Postgres).await;
}
