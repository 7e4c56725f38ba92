//! The console's pages, one askama view each, and what they show of a stored pair.

use askama::Template;
use secrecy::ExposeSecret;

use super::paging::ListRequest;
use crate::admin::AuditEntry;
use crate::clock;
use crate::tokens::{Health, Pair, StoredToken, TokenId};
use crate::web::views::{CountryRow, ExpiryView, Field, Layout, country_rows, identity_fields};

/// The header's links and the sign-out form, on every page behind the sign-in.
pub(super) struct Nav {
    pub(super) csrf: String,
    /// `sellers`, `events` or `audit`: the current section.
    pub(super) section: &'static str,
}

#[derive(Template)]
#[template(path = "admin/login.html")]
pub(super) struct LoginPage {
    pub(super) layout: Layout,
    pub(super) csrf: String,
    /// Why the last attempt did not sign in.
    pub(super) problem: Option<String>,
    /// Sign-ins from here are refused for now: no form, only the reason.
    pub(super) locked: bool,
    pub(super) signed_out: bool,
}

#[derive(Template)]
#[template(path = "admin/sellers.html")]
pub(super) struct SellersPage {
    pub(super) layout: Layout,
    pub(super) nav: Nav,
    /// The search as typed.
    pub(super) filter: String,
    pub(super) rows: Vec<SellerRow>,
    pub(super) counts: StateCounts,
    /// How many sellers the search or the state shown selects, in words; `None` when the
    /// list shows every seller.
    pub(super) selected: Option<String>,
    /// The pages beside this one, if any.
    pub(super) previous: Option<String>,
    pub(super) next: Option<String>,
    pub(super) notice: Option<Notice>,
    /// Where a first seller can be sent to authorize, per app.
    pub(super) authorize_links: Vec<(String, String)>,
}

#[derive(Template)]
#[template(path = "admin/seller.html")]
pub(super) struct SellerPage {
    pub(super) layout: Layout,
    pub(super) nav: Nav,
    /// This page's address (`seller_path`); its forms post below it.
    pub(super) path: String,
    pub(super) app: String,
    pub(super) platform_name: &'static str,
    pub(super) seller_name: String,
    pub(super) badge: Badge,
    pub(super) identity: Vec<Field>,
    pub(super) countries: Vec<CountryRow>,
    pub(super) access_token: TokenView,
    pub(super) refresh_token: Option<TokenView>,
    pub(super) access_expiry: Option<ExpiryView>,
    pub(super) refresh_expiry: Option<ExpiryView>,
    pub(super) last_refresh: String,
    pub(super) last_error: Option<String>,
    pub(super) failures: i64,
    pub(super) authorized_at: String,
    /// What the platform's pushes said: the authorization's end, and a closed shop.
    pub(super) authorization_expires: Option<String>,
    pub(super) closed: Option<String>,
    pub(super) reauthorize_link: String,
    /// Only the seller can renew the pair: the link comes first, and no refresh is offered.
    pub(super) must_reauthorize: bool,
    pub(super) revealed: bool,
    pub(super) notice: Option<Notice>,
}

#[derive(Template)]
#[template(path = "admin/delete.html")]
pub(super) struct ConfirmDeletePage {
    pub(super) layout: Layout,
    pub(super) nav: Nav,
    /// The seller's page (`seller_path`).
    pub(super) path: String,
    pub(super) app: String,
    pub(super) platform_name: &'static str,
    pub(super) seller_name: String,
}

#[derive(Template)]
#[template(path = "admin/audit.html")]
pub(super) struct AuditPage {
    pub(super) layout: Layout,
    pub(super) nav: Nav,
    pub(super) entries: Vec<AuditRow>,
    /// The cursor of the next, older page, if there is one.
    pub(super) older: Option<i64>,
    /// Whether this is a later page (offer the newest).
    pub(super) paged: bool,
}

/// A status as a coloured label.
pub(super) struct Badge {
    pub(super) class: &'static str,
    pub(super) label: &'static str,
}

impl Badge {
    pub(super) fn of(health: Health) -> Self {
        let class = match health {
            Health::Reauthorize => "danger",
            Health::Failing | Health::RefreshExpiring => "warning",
            Health::Active => "ok",
        };
        Badge {
            class,
            label: health.label(),
        }
    }
}

/// The sellers stored in all and in each state, each state a link that lists only it.
pub(super) struct StateCounts {
    pub(super) total: i64,
    pub(super) attention: i64,
    pub(super) states: Vec<StateCount>,
    /// Whether the list shows one state only (with a link back to all).
    pub(super) filtered: bool,
    pub(super) all_link: String,
}

pub(super) struct StateCount {
    pub(super) badge: Badge,
    pub(super) count: i64,
    pub(super) link: String,
    pub(super) selected: bool,
}

/// The sentence above a filtered list: how many it selects (`matched`, counted up to
/// `cap`), of the state `health` and by `search` where given.
pub(super) fn selected_sentence(
    matched: i64,
    cap: i64,
    health: Option<Health>,
    search: &str,
) -> String {
    let number = if matched >= cap {
        format!("More than {}", cap - 1)
    } else {
        matched.to_string()
    };
    let sellers = if matched == 1 { "seller" } else { "sellers" };
    let state = health.map_or(String::new(), |h| format!(" in state “{}”", h.label()));
    if search.is_empty() {
        format!("{number} {sellers}{state}.")
    } else {
        let verb = if matched == 1 { "matches" } else { "match" };
        format!("{number} {sellers}{state} {verb} “{search}”.")
    }
}

impl StateCounts {
    pub(super) fn new(counts: &[(Health, i64)], request: &ListRequest) -> Self {
        let states: Vec<StateCount> = Health::ALL
            .into_iter()
            .filter_map(|health| {
                let count = counts.iter().find(|(h, _)| *h == health)?.1;
                Some(StateCount {
                    badge: Badge::of(health),
                    count,
                    link: request.filter_link(Some(health)),
                    selected: request.health == Some(health),
                })
            })
            .collect();
        StateCounts {
            total: counts.iter().map(|(_, n)| n).sum(),
            attention: counts
                .iter()
                .filter(|(h, _)| *h != Health::Active)
                .map(|(_, n)| n)
                .sum(),
            states,
            filtered: request.health.is_some(),
            all_link: request.filter_link(None),
        }
    }
}

/// One seller in the table.
pub(super) struct SellerRow {
    /// The seller's page (`seller_path`).
    pub(super) path: String,
    pub(super) app: String,
    pub(super) platform_name: &'static str,
    pub(super) seller_id: String,
    pub(super) name: String,
    pub(super) countries: String,
    pub(super) badge: Badge,
    pub(super) access_expiry: Option<ExpiryView>,
    pub(super) refresh_expiry: Option<ExpiryView>,
    pub(super) last_refresh: String,
    pub(super) last_error: Option<String>,
}

/// A seller's page in the console: `/admin/sellers/{app}/{seller id}`, the id every view
/// shows (`SellerIdentity::primary_id`); a pair without one (none the platforms issue) is
/// addressed by its account key instead (`account:…`).
pub(super) fn seller_path(token: &Pair) -> String {
    let seller = token
        .identity
        .primary_id()
        .map(str::to_owned)
        .or_else(|| token.identity.account_key())
        .unwrap_or_default();
    format!(
        "/admin/sellers/{}/{}",
        path_segment(token.app.as_str()),
        path_segment(&seller)
    )
}

/// `text` as one path segment: what could end or escape it is percent-encoded.
fn path_segment(text: &str) -> String {
    let mut segment = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~:@".contains(&byte) {
            segment.push(char::from(byte));
        } else {
            segment.push_str(&format!("%{byte:02X}"));
        }
    }
    segment
}

impl SellerRow {
    pub(super) fn new(token: &Pair, now: i64) -> Self {
        let id = &token.identity;
        SellerRow {
            path: seller_path(token),
            app: token.app.to_string(),
            platform_name: token.platform.display_name(),
            // Always something to click: the seller id, else whatever names the seller.
            seller_id: id
                .primary_id()
                .map_or_else(|| id.display_name(), str::to_owned),
            name: id
                .user_nick
                .clone()
                .or_else(|| id.account.clone())
                .unwrap_or_default(),
            countries: id
                .country_user_info
                .iter()
                .filter_map(|c| c.country.as_deref())
                .collect::<Vec<_>>()
                .join(", ")
                .to_uppercase(),
            badge: Badge::of(Health::of(token, now)),
            access_expiry: token.access_expires_at.map(|at| ExpiryView::new(at, now)),
            refresh_expiry: token.refresh_expires_at.map(|at| ExpiryView::new(at, now)),
            last_refresh: last_refresh(token),
            last_error: token.last_error.clone(),
        }
    }
}

fn last_refresh(token: &Pair) -> String {
    token
        .last_refresh_at
        .map_or_else(|| "never".to_owned(), clock::format_utc)
}

/// A token as the page shows it: masked, and the value itself only once revealed.
pub(super) struct TokenView {
    pub(super) masked: String,
    pub(super) value: Option<String>,
}

impl TokenView {
    fn new(token: &str, revealed: bool) -> Self {
        TokenView {
            masked: mask(token),
            value: revealed.then(|| token.to_owned()),
        }
    }
}

/// `5000…a1b2`: enough to tell two tokens apart, not enough to use one. A short token
/// shows nothing at all.
pub(super) fn mask(token: &str) -> String {
    let chars: Vec<char> = token.chars().collect();
    if chars.len() < 16 {
        return "••••••••".to_owned();
    }
    let head: String = chars[..4].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}…{tail}")
}

impl SellerPage {
    pub(super) fn new(
        layout: Layout,
        nav: Nav,
        token: &StoredToken,
        now: i64,
        reauthorize_link: String,
        revealed: bool,
        notice: Option<Notice>,
    ) -> Self {
        SellerPage {
            layout,
            nav,
            path: seller_path(token),
            app: token.app.to_string(),
            platform_name: token.platform.display_name(),
            seller_name: token.identity.display_name(),
            badge: Badge::of(Health::of(token, now)),
            must_reauthorize: Health::of(token, now) == Health::Reauthorize,
            identity: identity_fields(&token.identity),
            countries: country_rows(&token.identity),
            access_token: TokenView::new(token.access_token.expose_secret(), revealed),
            refresh_token: token
                .refresh_token
                .as_ref()
                .map(|t| TokenView::new(t.expose_secret(), revealed)),
            access_expiry: token.access_expires_at.map(|at| ExpiryView::new(at, now)),
            refresh_expiry: token.refresh_expires_at.map(|at| ExpiryView::new(at, now)),
            last_refresh: last_refresh(token),
            last_error: token.last_error.clone(),
            failures: token.consecutive_failures,
            authorized_at: clock::format_utc(token.authorized_at),
            authorization_expires: token
                .authorization_expires_at
                .map(|at| format!("{} ({})", clock::format_utc(at), clock::remaining(at, now))),
            closed: token.closed_at.map(clock::format_utc),
            reauthorize_link,
            revealed,
            notice,
        }
    }
}

/// One audit entry, for people.
pub(super) struct AuditRow {
    pub(super) at: String,
    pub(super) iso: String,
    pub(super) label: &'static str,
    pub(super) warning: bool,
    pub(super) client: String,
    pub(super) token_id: Option<TokenId>,
    pub(super) subject: String,
    pub(super) detail: String,
}

impl AuditRow {
    pub(super) fn new(entry: AuditEntry) -> Self {
        AuditRow {
            at: clock::format_utc(entry.at),
            iso: clock::format_rfc3339(entry.at),
            label: entry.action.label(),
            warning: entry.action.is_warning(),
            client: entry.client,
            token_id: entry.token_id,
            subject: entry.subject.unwrap_or_default(),
            detail: entry.detail.unwrap_or_default(),
        }
    }
}

#[derive(Template)]
#[template(path = "admin/events.html")]
pub(super) struct EventsPage {
    pub(super) layout: Layout,
    pub(super) nav: Nav,
    pub(super) csrf: String,
    /// Whether an event was just sent again.
    pub(super) redelivered: bool,
    /// Events with a delivery the schedule gave up on.
    pub(super) failed: Vec<EventRow>,
    pub(super) recent: Vec<EventRow>,
    /// Whether webhook endpoints are configured at all.
    pub(super) endpoints: usize,
}

/// One event in the console's lists.
pub(super) struct EventRow {
    pub(super) id: String,
    pub(super) at: String,
    pub(super) iso: String,
    pub(super) kind: String,
    pub(super) app: String,
    pub(super) seller: String,
    /// Its deliveries in words: "1 delivered, 1 failed".
    pub(super) deliveries: String,
    pub(super) failed: bool,
}

impl EventRow {
    /// `states`: (state, count) of its deliveries.
    pub(super) fn new(event: &crate::store::EventRecord, states: &[(String, i64)]) -> Self {
        let kind = match event.message_type {
            Some(n) => format!("{} (type {n})", event.kind),
            None => event.kind.clone(),
        };
        let deliveries = if states.is_empty() {
            "none".to_owned()
        } else {
            states
                .iter()
                .map(|(state, n)| format!("{n} {state}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        EventRow {
            id: event.uid.clone(),
            at: clock::format_utc(event.created_at),
            iso: clock::format_rfc3339(event.created_at),
            kind,
            app: event.app_id.clone(),
            seller: event.seller_id.clone().unwrap_or_else(|| "-".to_owned()),
            deliveries,
            failed: states.iter().any(|(state, _)| state == "failed"),
        }
    }
}

/// What the last action did, shown once after its redirect. Only these fixed words
/// travel in the URL; nothing from it is echoed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Notice {
    Refreshed,
    RefreshFailed,
    Reauthorize,
    Busy,
    Deleted,
    /// A revealed page reloaded after its pass ran out.
    RevealEnded,
}

impl Notice {
    const ALL: [Notice; 6] = [
        Notice::Refreshed,
        Notice::RefreshFailed,
        Notice::Reauthorize,
        Notice::Busy,
        Notice::Deleted,
        Notice::RevealEnded,
    ];

    pub(super) fn as_str(self) -> &'static str {
        match self {
            Notice::Refreshed => "refreshed",
            Notice::RefreshFailed => "refresh_failed",
            Notice::Reauthorize => "reauthorize",
            Notice::Busy => "busy",
            Notice::Deleted => "deleted",
            Notice::RevealEnded => "reveal_ended",
        }
    }

    pub(super) fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|n| n.as_str() == raw)
    }

    pub(super) fn message(self) -> &'static str {
        match self {
            Notice::Refreshed => "Refreshed: the seller has a new access token.",
            Notice::RefreshFailed => {
                "The refresh failed (see the last error below); the refresher keeps trying."
            }
            Notice::Reauthorize => {
                "This pair cannot be refreshed any more: send the seller the link below to authorize again."
            }
            Notice::Busy => {
                "Another replica is refreshing this pair right now; reload in a moment."
            }
            Notice::Deleted => "The seller's tokens were deleted.",
            Notice::RevealEnded => {
                "The tokens are masked again: a reveal shows them for a minute. Reveal them again to see them (it is recorded again)."
            }
        }
    }

    pub(super) fn is_problem(self) -> bool {
        !matches!(
            self,
            Notice::Refreshed | Notice::Deleted | Notice::RevealEnded
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_masked_to_their_ends() {
        assert_eq!(mask("50000501234abcdefa1b2"), "5000…a1b2");
        assert_eq!(mask("short"), "••••••••");
        assert_eq!(mask("ééééxxxxxxxxxxxxüüüü"), "éééé…üüüü");
    }

    #[test]
    fn notices_round_trip_and_refuse_anything_else() {
        for notice in Notice::ALL {
            assert_eq!(Notice::parse(notice.as_str()), Some(notice));
        }
        assert_eq!(Notice::parse("<script>"), None);
    }
}
