//! Logging setup: text or JSON on stderr, filtered by RUST_LOG (default `info`). Values from
//! the platform (a seller's nick, an error message) reach log lines; a newline or an escape
//! sequence in one must not forge a line or drive an operator's terminal, so every control
//! character the formatter did not put there itself is escaped (`EscapedStderr`).

use std::io::Write;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

use crate::cli::LogFormat;

pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // Colour codes only for a person at a terminal, never into log files.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(EscapedStderr { ansi })
        .with_ansi(ansi);
    // A second init (tests building several apps) is harmless: keep the first.
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .try_init(),
    };
}

/// Standard error, receiving one whole event per write (the formatter buffers each),
/// with the control characters inside it escaped: only the event's final newline, tabs,
/// and (at a terminal) the formatter's own colour codes pass as they are.
#[derive(Clone, Copy)]
struct EscapedStderr {
    ansi: bool,
}

impl<'a> MakeWriter<'a> for EscapedStderr {
    type Writer = Self;

    fn make_writer(&'a self) -> Self {
        *self
    }
}

impl Write for EscapedStderr {
    fn write(&mut self, event: &[u8]) -> std::io::Result<usize> {
        let escaped = escape_controls(&String::from_utf8_lossy(event), self.ansi);
        std::io::stderr().lock().write_all(escaped.as_bytes())?;
        Ok(event.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

/// `event` with every control character but its final newline and tabs written as an
/// escape (`\n`, `\r`, `\u{1b}`); ESC is kept only when `ansi` (the formatter's colours).
pub(crate) fn escape_controls(event: &str, ansi: bool) -> String {
    let (body, end) = match event.strip_suffix('\n') {
        Some(body) => (body, "\n"),
        None => (event, ""),
    };
    let mut out = String::with_capacity(event.len() + 8);
    for c in body.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push('\t'),
            '\u{1b}' if ansi => out.push(c),
            c if c.is_control() => out.push_str(&format!("\\u{{{:x}}}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push_str(end);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_cannot_forge_a_line_or_send_escape_sequences() {
        let event =
            "INFO seller authorized seller=\"evil\n2026-01-01 INFO forged\u{1b}[31m\r\u{7}\"\n";
        let escaped = escape_controls(event, false);
        assert_eq!(escaped.matches('\n').count(), 1, "{escaped}");
        assert!(escaped.ends_with('\n'));
        assert!(
            !escaped.contains('\u{1b}') && !escaped.contains('\r') && !escaped.contains('\u{7}')
        );
        assert!(
            escaped.contains("evil\\n2026-01-01 INFO forged\\u{1b}[31m\\r\\u{7}"),
            "{escaped}"
        );
        assert_eq!(escape_controls("a\tb\n", false), "a\tb\n");
    }
}
