//! Page cursors as clients see them: a text of the service's own in base64url, so that
//! clients pass it back as given and the order it keys on can change without breaking
//! their links (the token API's `after`, the console's `after` and `before`).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// `text` as a cursor.
pub(crate) fn seal(text: &str) -> String {
    URL_SAFE_NO_PAD.encode(text)
}

/// The text of a cursor made by `seal`, if `raw` is one.
pub(crate) fn open(raw: &str) -> Option<String> {
    String::from_utf8(URL_SAFE_NO_PAD.decode(raw).ok()?).ok()
}
