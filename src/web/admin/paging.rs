//! The sellers list's pages: what `/admin?q=&status=&after=|before=` asks for, and the
//! links to the pages beside it. A place in the list is opaque in the URL (base64url of
//! the state, the expiry and the row id), so the order can change without breaking links.

use super::forms::query_field;
use crate::store::{Place, Toward};
use crate::tokens::{Health, TokenId};
use crate::web::opaque;

/// A filter longer than this matches nothing anyway.
const MAX_FILTER: usize = 100;

/// Sellers a page shows.
pub(super) const PAGE: u32 = 50;

/// What one request of the list asks for. Anything it cannot read is left out: the
/// console shows the first page rather than an error.
#[derive(Debug, Default)]
pub(super) struct ListRequest {
    pub(super) search: String,
    pub(super) health: Option<Health>,
    pub(super) from: Option<(Place, Toward)>,
}

impl ListRequest {
    pub(super) fn read(query: Option<&str>) -> Self {
        let mut search: String = query_field(query, "q")
            .unwrap_or_default()
            .trim()
            .chars()
            .take(MAX_FILTER)
            .collect();
        let mut health = query_field(query, "status").and_then(|raw| Health::parse(&raw));
        // Searching for a badge's words ("Re-authorize") lists that state.
        if let Some(named) = Health::named(&search) {
            health = Some(named);
            search.clear();
        }
        let from = [("after", Toward::Later), ("before", Toward::Earlier)]
            .into_iter()
            .find_map(|(name, toward)| {
                let place = read_place(&query_field(query, name)?)?;
                Some((place, toward))
            });
        ListRequest {
            search,
            health,
            from,
        }
    }

    /// The first page of this search, of one state or of all.
    pub(super) fn filter_link(&self, health: Option<Health>) -> String {
        link(&self.search, health, None)
    }

    /// `/admin` with this request's filters and a place (or none).
    fn link(&self, place: Option<(&str, Place)>) -> String {
        link(&self.search, self.health, place)
    }

    /// The links to the pages before and after the one shown, which runs from `first` to
    /// `last`; `more` says whether rows lie beyond it the way it was read.
    pub(super) fn neighbours(
        &self,
        first: Option<Place>,
        last: Option<Place>,
        more: bool,
    ) -> (Option<String>, Option<String>) {
        let toward = self.from.map(|(_, toward)| toward);
        let (earlier, later) = match toward {
            None => (false, more),
            Some(Toward::Later) => (true, more),
            Some(Toward::Earlier) => (more, true),
        };
        let previous = first
            .filter(|_| earlier)
            .map(|place| self.link(Some(("before", place))));
        let next = last
            .filter(|_| later)
            .map(|place| self.link(Some(("after", place))));
        (previous, next)
    }
}

fn link(search: &str, health: Option<Health>, place: Option<(&str, Place)>) -> String {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    if !search.is_empty() {
        query.append_pair("q", search);
    }
    if let Some(health) = health {
        query.append_pair("status", health.as_str());
    }
    if let Some((name, place)) = place {
        query.append_pair(name, &write_place(place));
    }
    let query = query.finish();
    if query.is_empty() {
        "/admin".to_owned()
    } else {
        format!("/admin?{query}")
    }
}

fn write_place(place: Place) -> String {
    opaque::seal(&format!(
        "u{}.{}.{}",
        place.health.as_str(),
        place.expiry,
        place.id.get()
    ))
}

fn read_place(raw: &str) -> Option<Place> {
    let text = opaque::open(raw)?;
    let mut parts = text.strip_prefix('u')?.split('.');
    let health = Health::parse(parts.next()?)?;
    let expiry = parts.next()?.parse().ok()?;
    let id = parts.next()?.parse::<i64>().ok().filter(|id| *id > 0)?;
    if parts.next().is_some() {
        return None;
    }
    Some(Place {
        health,
        expiry,
        id: TokenId::new(id),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_place_reads_back_and_nothing_else_does() {
        let place = Place {
            health: Health::RefreshExpiring,
            expiry: -5,
            id: TokenId::new(42),
        };
        assert_eq!(read_place(&write_place(place)), Some(place));
        for bad in ["", "u", "dDA", "!!", &opaque::seal("uactive.1.0")] {
            assert_eq!(read_place(bad), None, "{bad}");
        }
    }

    #[test]
    fn links_keep_the_filters_and_say_which_way() {
        let request = ListRequest::read(Some("q=shop+1&status=failing"));
        assert_eq!(request.search, "shop 1");
        assert_eq!(request.health, Some(Health::Failing));
        let place = Place {
            health: Health::Failing,
            expiry: 9,
            id: TokenId::new(3),
        };
        let (previous, next) = request.neighbours(Some(place), Some(place), true);
        assert_eq!(previous, None, "the first page has none before it");
        let next = next.unwrap();
        assert!(
            next.starts_with("/admin?q=shop+1&status=failing&after="),
            "{next}"
        );
        let second = ListRequest::read(next.strip_prefix("/admin?"));
        assert_eq!(second.from, Some((place, Toward::Later)));
        let (previous, next) = second.neighbours(Some(place), Some(place), false);
        assert!(previous.unwrap().contains("before="));
        assert_eq!(next, None, "nothing after the last page");
    }
}
