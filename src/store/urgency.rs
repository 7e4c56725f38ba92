//! The console's order, a page at a time: sellers to re-authorize, then failing ones, then
//! those whose refresh token expires soon, then the rest, each group by the soonest access
//! expiry, then id. Without a search each group is read through an index kept in that
//! order (migration `many_sellers`), so a page reads about what it shows. A
//! search reads the sellers it matches (`search.rs`) and sorts those.

use super::codec::{PairRow, pair_columns};
use super::listing::{health, health_case};
use super::search::{matches_search, word_ranges};
use super::statement::{Sql, Statement, Value};
use super::{Store, StoreError};
use crate::clock::EpochMs;
use crate::tokens::{EXPIRING_WINDOW_MS, Health, Pair, TokenId, TokenStatus};

/// A row's place within its group. Never-expiring pairs go last.
macro_rules! expiry {
    () => {
        "COALESCE(access_expires_at, 9223372036854775807)"
    };
}

/// One group's page after (`>`, ascending) or before (`<`, descending) a place. `$hint`
/// implies the group and names its index; the health test decides. `$key` is the expiry,
/// or `+` the expiry where the group's index is not the expiry's: SQLite would otherwise
/// walk the expiry index in order through every seller, to skip a sort of a few.
macro_rules! group_page {
    ($hint:literal, $key:expr, $cmp:literal, $order:literal) => {
        Sql::new(concat!(
            "SELECT ",
            pair_columns!(),
            " FROM tokens WHERE ",
            $hint,
            " AND ",
            health!(),
            " = :health AND (",
            $key,
            ", id) ",
            $cmp,
            " (:expiry, :id) ORDER BY ",
            $key,
            " ",
            $order,
            ", id ",
            $order,
            " LIMIT :limit"
        ))
    };
}

/// The sellers a search matches, in the whole order, after or before a place; of one
/// group if `:only` is given.
macro_rules! search_page {
    ($cmp:literal, $order:literal) => {
        Sql::new(concat!(
            "SELECT ",
            pair_columns!(),
            " FROM tokens WHERE ",
            matches_search!(),
            " AND (:only IS NULL OR ",
            health_case!("0", "1", "2", "3"),
            " = :only) AND (",
            health_case!("0", "1", "2", "3"),
            ", ",
            expiry!(),
            ", id) ",
            $cmp,
            " (:rank, :expiry, :id) ORDER BY ",
            health_case!("0", "1", "2", "3"),
            " ",
            $order,
            ", ",
            expiry!(),
            " ",
            $order,
            ", id ",
            $order,
            " LIMIT :limit"
        ))
    };
}

static REAUTHORIZE_AFTER: Sql = group_page!("status = 'reauthorize'", expiry!(), ">", "ASC");
static REAUTHORIZE_BEFORE: Sql = group_page!("status = 'reauthorize'", expiry!(), "<", "DESC");
static FAILING_AFTER: Sql = group_page!("consecutive_failures > 0", expiry!(), ">", "ASC");
static FAILING_BEFORE: Sql = group_page!("consecutive_failures > 0", expiry!(), "<", "DESC");
static EXPIRING_AFTER: Sql = group_page!(
    "status = 'active' AND refresh_expires_at <= :horizon",
    concat!("+", expiry!()),
    ">",
    "ASC"
);
static EXPIRING_BEFORE: Sql = group_page!(
    "status = 'active' AND refresh_expires_at <= :horizon",
    concat!("+", expiry!()),
    "<",
    "DESC"
);
static ACTIVE_AFTER: Sql = group_page!("1 = 1", expiry!(), ">", "ASC");
static ACTIVE_BEFORE: Sql = group_page!("1 = 1", expiry!(), "<", "DESC");
/// How many sellers a search matches (of one group if `:only` is given), counting no
/// further than `:cap`: a one-letter search would otherwise count most of the store.
static SEARCH_COUNT: Sql = Sql::new(concat!(
    "SELECT COUNT(*) FROM (SELECT id FROM tokens WHERE ",
    matches_search!(),
    " AND (:only IS NULL OR ",
    health_case!("0", "1", "2", "3"),
    " = :only) LIMIT :cap) AS matched"
));

static SEARCH_AFTER: Sql = search_page!(">", "ASC");
static SEARCH_BEFORE: Sql = search_page!("<", "DESC");

/// All sellers, and those of each state that needs attention, each counted through an
/// index (the total through the smallest): the rest are active.
static COUNTS: Sql = Sql::new(concat!(
    "SELECT (SELECT COUNT(*) FROM tokens),
            (SELECT COUNT(*) FROM tokens WHERE status = 'reauthorize'),
            (SELECT COUNT(*) FROM tokens WHERE consecutive_failures > 0
                                         AND status <> 'reauthorize'),
            (SELECT COUNT(*) FROM tokens WHERE status = 'active'
                                         AND refresh_expires_at <= :horizon AND ",
    health!(),
    " = 'refresh_expiring')"
));

/// A seller's place in the order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Place {
    pub health: Health,
    pub expiry: i64,
    pub id: TokenId,
}

impl Place {
    /// Where `pair` stands at `now`.
    pub fn of(pair: &Pair, now: i64) -> Self {
        Place {
            health: Health::of(pair, now),
            expiry: pair.access_expires_at.unwrap_or(i64::MAX),
            id: pair.id,
        }
    }
}

/// Which way a page goes from its place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Toward {
    /// The page after the place (or the first page, without one).
    Later,
    /// The page before the place.
    Earlier,
}

/// One page of sellers, in the order, and whether more lie beyond it the way it went.
#[derive(Debug)]
pub struct UrgencyPage {
    pub pairs: Vec<Pair>,
    pub more: bool,
}

/// What the console's list shows.
#[derive(Debug, Clone, Default)]
pub struct UrgencyFilter {
    pub health: Option<Health>,
    pub search: Option<String>,
}

/// One page's read: of one state or all, from where, which way, how many rows.
#[derive(Clone, Copy)]
struct Walk {
    only: Option<Health>,
    from: Option<Place>,
    toward: Toward,
    wanted: usize,
    now: EpochMs,
}

fn rank(health: Health) -> i64 {
    match health {
        Health::Reauthorize => 0,
        Health::Failing => 1,
        Health::RefreshExpiring => 2,
        Health::Active => 3,
    }
}

fn group_sql(health: Health, toward: Toward) -> &'static Sql {
    match (health, toward) {
        (Health::Reauthorize, Toward::Later) => &REAUTHORIZE_AFTER,
        (Health::Reauthorize, Toward::Earlier) => &REAUTHORIZE_BEFORE,
        (Health::Failing, Toward::Later) => &FAILING_AFTER,
        (Health::Failing, Toward::Earlier) => &FAILING_BEFORE,
        (Health::RefreshExpiring, Toward::Later) => &EXPIRING_AFTER,
        (Health::RefreshExpiring, Toward::Earlier) => &EXPIRING_BEFORE,
        (Health::Active, Toward::Later) => &ACTIVE_AFTER,
        (Health::Active, Toward::Earlier) => &ACTIVE_BEFORE,
    }
}

/// How long the counts of the states are kept, in the clock's time.
const COUNTS_FOR_MS: i64 = 5_000;

/// Counts per state, taken at a time (ms) and after a generation of writes.
type Counted = (i64, u64, Vec<(Health, i64)>);

/// The last counts, when they were taken and the generation of this process's writes of
/// pairs then; any write of a pair (`forget`) makes them stale.
#[derive(Default)]
pub(super) struct CountsMemo {
    last: std::sync::Mutex<Option<Counted>>,
    writes: std::sync::atomic::AtomicU64,
}

impl CountsMemo {
    fn recall(&self, now: EpochMs) -> Option<Vec<(Health, i64)>> {
        let writes = self.writes.load(std::sync::atomic::Ordering::Acquire);
        let last = self.last.lock().ok()?;
        let (at, seen, counts) = last.as_ref()?;
        let age = now.get() - at;
        ((0..COUNTS_FOR_MS).contains(&age) && *seen == writes).then(|| counts.clone())
    }

    /// Which writes counts taken from now on have seen.
    fn generation(&self) -> u64 {
        self.writes.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Keeps counts that were begun at `generation`.
    fn keep(&self, now: EpochMs, generation: u64, counts: &[(Health, i64)]) {
        if let Ok(mut last) = self.last.lock() {
            *last = Some((now.get(), generation, counts.to_vec()));
        }
    }

    /// A pair was written or deleted here (call it once the write is done): the next
    /// counts are taken afresh.
    pub(super) fn forget(&self) {
        self.writes
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
    }
}

/// No refresh token expiring later than this is expiring at `now`.
fn horizon(now: EpochMs) -> i64 {
    now.get().saturating_add(EXPIRING_WINDOW_MS)
}

/// The values every health test takes.
fn judged_at(now: EpochMs) -> Vec<(&'static str, Value)> {
    vec![
        ("reauthorize", TokenStatus::Reauthorize.as_str().into()),
        ("now", now.into()),
        ("week", EXPIRING_WINDOW_MS.into()),
    ]
}

impl Store {
    /// How many sellers `search` matches, of the state `only` if given, judged at `now`;
    /// no more than `cap` are counted.
    pub async fn count_search(
        &self,
        search: &str,
        only: Option<Health>,
        cap: i64,
        now: EpochMs,
    ) -> Result<i64, StoreError> {
        let mut values = judged_at(now);
        values.extend(word_ranges(search));
        values.extend([("only", only.map(rank).into()), ("cap", cap.into())]);
        let (count,): (i64,) = self
            .db
            .fetch_one(Statement::new(&SEARCH_COUNT, values)?)
            .await?;
        Ok(count)
    }

    /// Up to `limit` sellers that `filter` selects, in the console's order, from `from`
    /// (none: from the start) the way `toward` says; judged at `now`. The page is in the
    /// order either way.
    pub async fn urgency_page(
        &self,
        filter: &UrgencyFilter,
        from: Option<Place>,
        toward: Toward,
        limit: u32,
        now: EpochMs,
    ) -> Result<UrgencyPage, StoreError> {
        // One more than asked, to know whether more lie beyond.
        let wanted = usize::try_from(limit)
            .unwrap_or(usize::MAX)
            .saturating_add(1);
        let walk = Walk {
            only: filter.health,
            from,
            toward,
            wanted,
            now,
        };
        let mut pairs = match filter.search.as_deref().filter(|s| !s.trim().is_empty()) {
            Some(search) => self.search_page(search, &walk).await?,
            None => self.group_pages(&walk).await?,
        };
        let more = pairs.len() >= wanted;
        pairs.truncate(wanted - 1);
        if toward == Toward::Earlier {
            pairs.reverse();
        }
        Ok(UrgencyPage { pairs, more })
    }

    /// Walks the groups from `from`'s, each through its index, until `wanted` are read.
    async fn group_pages(&self, walk: &Walk) -> Result<Vec<Pair>, StoreError> {
        let mut groups: Vec<Health> = Health::ALL
            .into_iter()
            .filter(|h| walk.only.is_none_or(|only| only == *h))
            .collect();
        if walk.toward == Toward::Earlier {
            groups.reverse();
        }
        let mut pairs = Vec::new();
        for health in groups {
            // Groups before the place's (in the walk) are done; the place's group starts
            // at the place; the ones after it start at their beginning.
            let start = match walk.from {
                Some(place) if place.health == health => (place.expiry, place.id.get()),
                Some(place) if (walk.toward == Toward::Later) == (health < place.health) => {
                    continue;
                }
                _ if walk.toward == Toward::Later => (i64::MIN, 0),
                _ => (i64::MAX, i64::MAX),
            };
            let left = walk.wanted - pairs.len();
            let mut values = judged_at(walk.now);
            values.extend([
                ("health", health.as_str().into()),
                ("expiry", start.0.into()),
                ("id", start.1.into()),
                ("limit", i64::try_from(left).unwrap_or(i64::MAX).into()),
            ]);
            if health == Health::RefreshExpiring {
                values.push(("horizon", horizon(walk.now).into()));
            }
            let rows: Vec<PairRow> = self
                .db
                .fetch_all(Statement::new(group_sql(health, walk.toward), values)?)
                .await?;
            for row in rows {
                pairs.push(Pair::try_from(row)?);
            }
            if pairs.len() >= walk.wanted {
                break;
            }
        }
        Ok(pairs)
    }

    async fn search_page(&self, search: &str, walk: &Walk) -> Result<Vec<Pair>, StoreError> {
        let start = match (walk.from, walk.toward) {
            (Some(place), _) => (rank(place.health), place.expiry, place.id.get()),
            (None, Toward::Later) => (-1, i64::MIN, 0),
            (None, Toward::Earlier) => (i64::MAX, i64::MAX, i64::MAX),
        };
        let mut values = judged_at(walk.now);
        values.extend(word_ranges(search));
        values.extend([
            ("only", walk.only.map(rank).into()),
            ("rank", start.0.into()),
            ("expiry", start.1.into()),
            ("id", start.2.into()),
            (
                "limit",
                i64::try_from(walk.wanted).unwrap_or(i64::MAX).into(),
            ),
        ]);
        let sql = match walk.toward {
            Toward::Later => &SEARCH_AFTER,
            Toward::Earlier => &SEARCH_BEFORE,
        };
        let rows: Vec<PairRow> = self.db.fetch_all(Statement::new(sql, values)?).await?;
        rows.into_iter().map(Pair::try_from).collect()
    }

    /// How many sellers are in each state at `now`, by one aggregate query; states
    /// without sellers are left out. The answer is kept for `COUNTS_FOR` of `now` or until
    /// this process writes a pair: the total is a count of every row, which PostgreSQL
    /// cannot take from an index, and a console page would otherwise pay it each time.
    pub async fn health_counts(&self, now: EpochMs) -> Result<Vec<(Health, i64)>, StoreError> {
        if let Some(counts) = self.counts.recall(now) {
            return Ok(counts);
        }
        let generation = self.counts.generation();
        let counted = self.count_health(now).await?;
        self.counts.keep(now, generation, &counted);
        Ok(counted)
    }

    async fn count_health(&self, now: EpochMs) -> Result<Vec<(Health, i64)>, StoreError> {
        let mut values = judged_at(now);
        values.push(("horizon", horizon(now).into()));
        let (total, reauthorize, failing, expiring): (i64, i64, i64, i64) =
            self.db.fetch_one(Statement::new(&COUNTS, values)?).await?;
        let active = total - reauthorize - failing - expiring;
        Ok([
            (Health::Reauthorize, reauthorize),
            (Health::Failing, failing),
            (Health::RefreshExpiring, expiring),
            (Health::Active, active),
        ]
        .into_iter()
        .filter(|(_, count)| *count > 0)
        .collect())
    }
}
