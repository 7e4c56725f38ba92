//! The search index (`token_terms`): the words a seller is found by, written with each
//! authorization, and a search's words turned into ranges of that index. A search matches
//! the beginning of a word (a seller id prefix, a nick's word, an account or a piece of it,
//! a country, the app), so that it reads the sellers it finds instead of every seller.

use std::collections::BTreeSet;

use super::codec::{PairRow, pair_by_identity};
use super::statement::{Sql, Statement, Value};
use super::{Store, StoreError};
use crate::iop::SellerIdentity;
use crate::iop::types::{MAX_TERM, truncated};
use crate::tokens::Pair;

/// A search uses its first words; more rarely narrow a list that three did not.
pub(super) const MAX_WORDS: usize = 3;

static DELETE_TERMS: Sql = Sql::repeatable(concat!(
    "DELETE FROM token_terms WHERE token_id = ",
    pair_by_identity!()
));

static INSERT_TERM: Sql = Sql::repeatable(concat!(
    "INSERT INTO token_terms (term, token_id) SELECT :term, id FROM ",
    pair_by_identity!(),
    " AS pair"
));

static INSERT_TERM_BY_ID: Sql = Sql::repeatable(
    "INSERT INTO token_terms (term, token_id) VALUES (:term, :id) ON CONFLICT DO NOTHING",
);

static PENDING: Sql =
    Sql::new("SELECT value FROM store_meta WHERE name = 'search_terms' AND value = 'pending'");

static DONE: Sql = Sql::repeatable("DELETE FROM store_meta WHERE name = 'search_terms'");

/// Rows in id order after `:after`, for filling the index.
static BATCH: Sql = Sql::new(concat!(
    "SELECT ",
    super::codec::pair_columns!(),
    " FROM tokens WHERE id > :after ORDER BY id LIMIT 500"
));

/// What a search for this seller of this app matches.
fn terms(app: &str, identity: &SellerIdentity) -> BTreeSet<String> {
    let mut terms = identity.search_terms();
    terms.insert(app.to_lowercase());
    terms
}

/// The statements that replace a saved pair's terms, naming the row by `identity`
/// (`pair_by_identity!`), for the same write as the pair.
pub(super) fn replace_terms(
    app: &str,
    seller: &SellerIdentity,
    identity: &[(&'static str, Value); 3],
) -> Result<Vec<Statement>, StoreError> {
    let mut statements = vec![Statement::new(&DELETE_TERMS, identity.clone())?];
    for term in terms(app, seller) {
        let [platform, app_key, account] = identity.clone();
        statements.push(Statement::new(
            &INSERT_TERM,
            [platform, app_key, account, ("term", term.into())],
        )?);
    }
    Ok(statements)
}

/// A search's words as ranges of the index: `(:wN_lo, :wN_hi)` for N in 1..=3, null
/// where the search has fewer words. Each word must begin one of a seller's terms.
pub(super) fn word_ranges(search: &str) -> Vec<(&'static str, Value)> {
    const NAMES: [(&str, &str); MAX_WORDS] =
        [("w1_lo", "w1_hi"), ("w2_lo", "w2_hi"), ("w3_lo", "w3_hi")];
    let mut words = search
        .split_whitespace()
        .map(|word| word.to_lowercase())
        .map(|word| truncated(&word, MAX_TERM));
    NAMES
        .iter()
        .flat_map(|(lo, hi)| {
            let (low, high) = match words.next() {
                // Every text that begins with the word sorts from it (bytewise) to before
                // the word followed by the highest character.
                Some(word) => (Some(word.clone()), Some(format!("{word}{}", char::MAX))),
                None => (None, None),
            };
            [(*lo, Value::Text(low)), (*hi, Value::Text(high))]
        })
        .collect()
}

/// The condition a search adds: the first word through the index, the others on the rows
/// it found. `tokens.id` is the row.
macro_rules! matches_search {
    () => {
        "tokens.id IN (SELECT token_id FROM token_terms WHERE term >= :w1_lo AND term < :w1_hi)
         AND (:w2_lo IS NULL OR EXISTS (SELECT 1 FROM token_terms w WHERE w.token_id = tokens.id
                                        AND w.term >= :w2_lo AND w.term < :w2_hi))
         AND (:w3_lo IS NULL OR EXISTS (SELECT 1 FROM token_terms w WHERE w.token_id = tokens.id
                                        AND w.term >= :w3_lo AND w.term < :w3_hi))"
    };
}
pub(super) use matches_search;

impl Store {
    /// Fills the index for sellers stored before it existed, once (the migration that
    /// made it asks for this), a batch at a time. Another process doing the same at once
    /// does no harm: a term is written once.
    pub(super) async fn index_search_terms(&self) -> Result<(), StoreError> {
        let pending: Option<(String,)> = self
            .db
            .fetch_optional(Statement::new(&PENDING, [])?)
            .await?;
        if pending.is_none() {
            return Ok(());
        }
        let (mut after, mut indexed) = (0, 0_u64);
        loop {
            let rows: Vec<PairRow> = self
                .db
                .fetch_all(Statement::new(&BATCH, [("after", after.into())])?)
                .await?;
            let pairs = rows
                .into_iter()
                .map(Pair::try_from)
                .collect::<Result<Vec<_>, _>>()?;
            let Some(last) = pairs.last().map(|pair| pair.id.get()) else {
                break;
            };
            let mut write = Vec::new();
            for pair in pairs {
                for term in terms(pair.app.as_str(), &pair.identity) {
                    write.push(Statement::new(
                        &INSERT_TERM_BY_ID,
                        [("term", term.into()), ("id", pair.id.get().into())],
                    )?);
                }
                indexed += 1;
            }
            self.db.write(write).await?;
            after = last;
        }
        self.db.write_one(Statement::new(&DONE, [])?).await?;
        if indexed > 0 {
            tracing::info!(sellers = indexed, "indexed the stored sellers for search");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_word_is_the_range_of_the_texts_it_begins() {
        let ranges = word_ranges("  Shop_1  GEAR ");
        assert_eq!(ranges[0], ("w1_lo", Value::Text(Some("shop_1".into()))));
        let Value::Text(Some(high)) = &ranges[1].1 else {
            panic!("{ranges:?}")
        };
        assert!("shop_1" < high.as_str() && "shop_1zzz" < high.as_str());
        assert!("shop_2" > high.as_str());
        assert_eq!(ranges[2], ("w2_lo", Value::Text(Some("gear".into()))));
        assert_eq!(ranges[4], ("w3_lo", Value::Text(None)));
    }
}
