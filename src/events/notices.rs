//! The lifecycle events the service raises from its own state, so that no seller lapses
//! silently: `seller.authorized`, `seller.refresh_expiring` once at 14 days and once at 2
//! days before the deadline (the refresh token's, or the one the platform pushed when that
//! is sooner), `seller.reauthorization_needed` when a refresh is refused for good or the
//! deadline passes, and `seller.closed`.
//!
//! A pair says what was announced of it (`notices`, bits) and when the next announcement
//! may fall due (`next_notice_at`); whatever changes a pair (an authorization, a renewal,
//! a push) makes it due now. The announcer reads the due pairs each second, and keeps
//! each announcement together with its events and their deliveries in one write.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tokio::sync::watch;

use super::delivery::Bell;
use super::{REAUTHORIZATION_NEEDED, REFRESH_EXPIRING, SELLER_AUTHORIZED, SELLER_CLOSED};
use crate::apps::AppId;
use crate::clock::{SharedClock, format_rfc3339};
use crate::config::Config;
use crate::iop::SellerIdentity;
use crate::store::{NewEvent, NoticeDue, SharedStore};

const DAY: i64 = 24 * 60 * 60 * 1_000;

/// The bits of `tokens.notices`.
pub const AUTHORIZED: i64 = 1;
pub const EXPIRING_14: i64 = 2;
pub const EXPIRING_2: i64 = 4;
pub const LAPSED: i64 = 8;
pub const CLOSED: i64 = 16;

/// How often the due pairs are read.
const POLL: Duration = Duration::from_secs(1);
/// Pairs announced per write batch.
const BATCH: i64 = 500;

/// What a pair has to announce at `now`: the events, the bits it will then have, and when
/// its next announcement falls due.
#[derive(Debug, PartialEq)]
pub struct Announcement {
    pub events: Vec<NewEvent>,
    pub notices: i64,
    pub next: Option<i64>,
}

/// The seller's deadline: the sooner of the refresh token's and the pushed one, and which
/// it is.
fn deadline(due: &NoticeDue) -> Option<(i64, &'static str)> {
    match (due.refresh_expires_at, due.authorization_expires_at) {
        (Some(refresh), Some(pushed)) if pushed < refresh => Some((pushed, "platform")),
        (Some(refresh), _) => Some((refresh, "refresh_token")),
        (None, Some(pushed)) => Some((pushed, "platform")),
        (None, None) => None,
    }
}

/// What `due` announces at `now`; `authorize_url` starts a new authorization for its app.
pub fn announce(due: &NoticeDue, now: i64, authorize_url: Option<&str>) -> Announcement {
    let identity: SellerIdentity = serde_json::from_str(&due.identity).unwrap_or_default();
    let seller_id = identity.primary_id().map(str::to_owned);
    let deadline = deadline(due);
    let data = |extra: serde_json::Value| {
        let mut data = json!({
            "seller_id": seller_id,
            "nick": identity.user_nick.as_deref().or(identity.account.as_deref()),
            "country": identity.country,
            "deadline": deadline.map(|(at, _)| format_rfc3339(at)),
            "deadline_from": deadline.map(|(_, from)| from),
            "authorize_url": authorize_url,
        });
        if let (Some(data), serde_json::Value::Object(extra)) = (data.as_object_mut(), extra) {
            data.extend(extra);
        }
        data.to_string()
    };
    let authorized_at = due.authorized_at.unwrap_or_default();
    let mut notices = due.notices;
    let mut events = Vec::new();
    let mut event = |kind: &'static str, once: String, extra: serde_json::Value| {
        events.push(NewEvent {
            kind,
            once: format!("{}:{authorized_at}:{once}", due.id),
            seller_id: seller_id.clone(),
            data: data(extra),
        });
    };
    let refused = due.status == "reauthorize";
    let lapsed = refused || deadline.is_some_and(|(at, _)| at <= now);
    if notices & AUTHORIZED == 0 && !lapsed {
        event(SELLER_AUTHORIZED, String::new(), json!({}));
    }
    notices |= AUTHORIZED;
    if lapsed {
        if notices & LAPSED == 0 {
            let why = if refused {
                "refused"
            } else {
                "deadline_passed"
            };
            event(
                REAUTHORIZATION_NEEDED,
                why.to_owned(),
                json!({ "reason": why }),
            );
        }
        notices |= LAPSED | EXPIRING_14 | EXPIRING_2;
    } else if let Some((at, _)) = deadline {
        let days_left = (at - now) / DAY;
        if now >= at - 2 * DAY {
            if notices & EXPIRING_2 == 0 {
                event(
                    REFRESH_EXPIRING,
                    format!("{at}:2"),
                    json!({ "days_left": days_left, "warning": "2d" }),
                );
            }
            notices |= EXPIRING_2 | EXPIRING_14;
        } else if now >= at - 14 * DAY {
            if notices & EXPIRING_14 == 0 {
                event(
                    REFRESH_EXPIRING,
                    format!("{at}:14"),
                    json!({ "days_left": days_left, "warning": "14d" }),
                );
            }
            notices |= EXPIRING_14;
        }
    }
    if let Some(closed_at) = due.closed_at
        && notices & CLOSED == 0
    {
        event(
            SELLER_CLOSED,
            closed_at.to_string(),
            json!({ "closed_at": format_rfc3339(closed_at) }),
        );
        notices |= CLOSED;
    }
    let next = deadline.and_then(|(at, _)| {
        [
            (EXPIRING_14, at - 14 * DAY),
            (EXPIRING_2, at - 2 * DAY),
            (LAPSED, at),
        ]
        .into_iter()
        .filter(|(bit, when)| notices & bit == 0 && *when > now)
        .map(|(_, when)| when)
        .min()
    });
    Announcement {
        events,
        notices,
        next,
    }
}

/// Reads the due pairs and announces them, each second, until `stop`; forgets events past
/// their retention on the way.
pub struct Announcer {
    pub store: SharedStore,
    pub config: Arc<Config>,
    pub clock: SharedClock,
    pub bell: Bell,
}

impl Announcer {
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        loop {
            let more = match self.pass().await {
                Ok(more) => more,
                Err(error) => {
                    tracing::warn!(error = %error, "lifecycle events: cannot read the store");
                    false
                }
            };
            if more {
                continue;
            }
            tokio::select! {
                () = tokio::time::sleep(POLL) => {}
                _ = stop.wait_for(|stopped| *stopped) => break,
            }
        }
    }

    /// Announces one batch of due pairs; says whether more may be due.
    async fn pass(&self) -> Result<bool, crate::store::StoreError> {
        let now = self.clock.now();
        self.store
            .sweep_events(now, crate::clock::millis(self.config.events_retention))
            .await?;
        let due = self.store.notices_due(now, BATCH).await?;
        let mut kept = 0;
        for pair in &due {
            let app = AppId::parse(&pair.app_id).map_err(crate::store::StoreError::Corrupt)?;
            // A pair of an app no longer configured has no link to a new authorization.
            let link = self
                .config
                .apps
                .iter()
                .find(|a| a.id == app)
                .and_then(|config| self.config.public_url.join(&config.authorize_path()).ok())
                .map(|url| url.to_string());
            let announcement = announce(pair, now.get(), link.as_deref());
            let endpoints = self.config.webhook_endpoints(&app);
            if self
                .store
                .save_notices(
                    pair,
                    announcement.notices,
                    announcement.next,
                    &announcement.events,
                    &endpoints,
                    now,
                )
                .await?
            {
                for event in &announcement.events {
                    tracing::info!(app = %app, seller_id = event.seller_id.as_deref().unwrap_or("-"), event_type = event.kind, "lifecycle event");
                }
                kept += announcement.events.len();
            }
        }
        if kept > 0 {
            self.bell.ring();
        }
        Ok(i64::try_from(due.len()).unwrap_or(0) == BATCH)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000_000;

    fn pair(notices: i64, refresh_expires_at: Option<i64>) -> NoticeDue {
        NoticeDue {
            id: 7,
            app_id: "shop".into(),
            platform: "lazada".into(),
            identity: r#"{"seller_id":"1001","user_nick":"Tee Shop"}"#.into(),
            status: "active".into(),
            notices,
            next_notice_at: Some(NOW),
            refresh_expires_at,
            authorization_expires_at: None,
            closed_at: None,
            authorized_at: Some(NOW - DAY),
        }
    }

    fn kinds(announcement: &Announcement) -> Vec<&'static str> {
        announcement.events.iter().map(|e| e.kind).collect()
    }

    #[test]
    fn a_new_authorization_is_announced_and_the_next_look_is_at_fourteen_days() {
        let deadline = NOW + 100 * DAY;
        let a = announce(
            &pair(0, Some(deadline)),
            NOW,
            Some("https://cb.example/authorize/shop"),
        );
        assert_eq!(kinds(&a), [SELLER_AUTHORIZED]);
        assert_eq!(a.notices, AUTHORIZED);
        assert_eq!(a.next, Some(deadline - 14 * DAY));
        let data: serde_json::Value = serde_json::from_str(&a.events[0].data).unwrap();
        assert_eq!(data["seller_id"], "1001");
        assert_eq!(data["nick"], "Tee Shop");
        assert_eq!(data["authorize_url"], "https://cb.example/authorize/shop");
        assert_eq!(data["deadline_from"], "refresh_token");
        assert!(
            !a.events[0].data.contains("token\":"),
            "no token in {}",
            a.events[0].data
        );
    }

    #[test]
    fn fourteen_then_two_days_before_the_deadline_each_once() {
        let deadline = NOW + 10 * DAY;
        let first = announce(&pair(AUTHORIZED, Some(deadline)), NOW, None);
        assert_eq!(kinds(&first), [REFRESH_EXPIRING]);
        assert_eq!(first.next, Some(deadline - 2 * DAY));
        let again = announce(&pair(first.notices, Some(deadline)), NOW + 1, None);
        assert!(again.events.is_empty(), "once: {again:?}");
        let later = NOW + 8 * DAY + 1;
        let second = announce(&pair(first.notices, Some(deadline)), later, None);
        assert_eq!(kinds(&second), [REFRESH_EXPIRING]);
        assert_ne!(second.events[0].once, first.events[0].once);
        assert_eq!(second.next, Some(deadline));
        let lapsed = announce(&pair(second.notices, Some(deadline)), deadline, None);
        assert_eq!(kinds(&lapsed), [REAUTHORIZATION_NEEDED]);
        assert_eq!(lapsed.next, None);
    }

    #[test]
    fn a_pushed_deadline_sooner_than_the_refresh_token_s_wins() {
        let mut due = pair(AUTHORIZED | EXPIRING_14, Some(NOW + 10 * DAY));
        due.authorization_expires_at = Some(NOW + DAY);
        let a = announce(&due, NOW, None);
        assert_eq!(kinds(&a), [REFRESH_EXPIRING]);
        let data: serde_json::Value = serde_json::from_str(&a.events[0].data).unwrap();
        assert_eq!(data["deadline_from"], "platform");
        assert_eq!(data["warning"], "2d");
    }

    #[test]
    fn a_refused_refresh_and_a_closed_shop_are_announced_once() {
        let mut due = pair(AUTHORIZED, Some(NOW + 100 * DAY));
        due.status = "reauthorize".into();
        due.closed_at = Some(NOW - 1);
        let a = announce(&due, NOW, None);
        assert_eq!(kinds(&a), [REAUTHORIZATION_NEEDED, SELLER_CLOSED]);
        due.notices = a.notices;
        assert!(announce(&due, NOW + DAY, None).events.is_empty());
    }
}
