//! Sellers a page at a time: every seller once while others come and go, and the filters.

use std::collections::BTreeSet;

use super::*;
use crate::tokens::Health;

/// Seller `n` of app key `k`, with a nick the search can find.
async fn seller(store: &Store, n: usize) -> TokenId {
    save(
        store,
        "k",
        &format!(r#"{{"access_token":"a{n}","seller_id":"{n}","user_nick":"Shop_{n}"}}"#),
        1_000,
    )
    .await
}

async fn walking_the_pages_yields_every_seller_once_while_others_come_and_go(store: &Store) {
    let mut stayed = BTreeSet::new();
    let mut doomed = Vec::new();
    for n in 0..40 {
        let id = seller(store, n).await;
        if n % 5 == 0 {
            doomed.push(id);
        } else {
            stayed.insert(id);
        }
    }
    let (mut seen, mut after, mut pages, mut arrived) = (Vec::new(), None, 0, Vec::new());
    loop {
        let page = store
            .page_pairs(&PairFilter::default(), after, 7, at(2_000))
            .await
            .unwrap();
        let Some(last) = page.last() else { break };
        after = Some(last.id);
        seen.extend(page.iter().map(|p| p.id));
        pages += 1;
        // Between the first pages: a new seller arrives and an old one leaves. (New sellers
        // are seen too, at the end; adding one after every page would never end.)
        if pages <= 4 {
            arrived.push(seller(store, 100 + pages).await);
        }
        if let Some(id) = doomed.pop() {
            store.delete_token(id).await.unwrap();
        }
    }
    let unique: BTreeSet<_> = seen.iter().copied().collect();
    assert_eq!(unique.len(), seen.len(), "no seller twice");
    assert!(
        stayed.is_subset(&unique),
        "every seller that stayed was seen"
    );
    assert!(pages >= 6, "{pages} pages");
    assert_eq!(arrived.len(), 4);
    assert!(
        arrived.iter().all(|id| unique.contains(id)),
        "sellers added meanwhile are seen too, once"
    );
}

async fn filters_run_in_the_database(store: &Store) {
    for n in 0..5 {
        seller(store, n).await;
    }
    let other = AppId::parse("other").unwrap();
    let r = response(r#"{"access_token":"x","seller_id":"900","user_nick":"Elsewhere"}"#);
    store
        .save_authorization(owner(&other, Platform::Lazada, "k2"), &r, at(1_000))
        .await
        .unwrap();
    let page = |filter: PairFilter| async move {
        store
            .page_pairs(&filter, None, 100, at(2_000))
            .await
            .unwrap()
            .iter()
            .map(|p| p.identity.seller_id.clone().unwrap_or_default())
            .collect::<Vec<_>>()
    };
    let search = |text: &str| PairFilter {
        search: Some(text.into()),
        ..PairFilter::default()
    };
    assert_eq!(
        page(search("shop_3")).await,
        ["3"],
        "the nick, ignoring case"
    );
    assert_eq!(page(search("90")).await, ["900"], "an id");
    assert!(
        page(search("%")).await.is_empty(),
        "LIKE's characters are literal"
    );
    let of_other = PairFilter {
        app: Some(other),
        ..PairFilter::default()
    };
    assert_eq!(page(of_other).await, ["900"]);
    let failing = PairFilter {
        health: Some(Health::Failing),
        ..PairFilter::default()
    };
    assert!(page(failing.clone()).await.is_empty());
    let id = store.find_seller("2").await.unwrap().remove(0).id;
    store
        .record_refresh_failure(id, "boom", None, at(9_000))
        .await
        .unwrap();
    assert_eq!(page(failing).await, ["2"]);
    let active = PairFilter {
        health: Some(Health::Active),
        ..PairFilter::default()
    };
    assert_eq!(page(active).await.len(), 5);
}

on_each_engine!([
    walking_the_pages_yields_every_seller_once_while_others_come_and_go,
    filters_run_in_the_database
]);
