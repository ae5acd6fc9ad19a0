//! Log output through `tracing`, on standard error, in the two formats of NODE.md §6 (Go
//! `log/slog` style): text `time=… level=INFO msg="peer connected" peer=… component=transport`
//! or one JSON object per line with the keys `time`, `level`, `msg`, then the attributes.

use std::fmt::{self, Write as _};
use std::time::{SystemTime, UNIX_EPOCH};

use micelio_platform::config::{LogFormat, LogLevel};
use tracing::field::{Field, Visit};
use tracing::level_filters::LevelFilter;
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::filter::Targets;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt as _;

/// Installs the global subscriber. Safe to call once; later calls are ignored.
///
/// The SSH library's own records (which arrive through the `log` bridge) are kept only from
/// ERROR up: its per-packet traces would drown the node's DEBUG output, and its warnings are
/// about things any client can make it say.
pub fn init(level: LogLevel, format: LogFormat) {
    let filter = match level {
        LogLevel::Debug => LevelFilter::DEBUG,
        LogLevel::Info => LevelFilter::INFO,
        LogLevel::Warn => LevelFilter::WARN,
        LogLevel::Error => LevelFilter::ERROR,
    };
    let targets = Targets::new()
        .with_default(filter)
        .with_target("russh", filter.min(LevelFilter::ERROR));
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(filter)
        .event_format(SlogFormat {
            json: format == LogFormat::Json,
        })
        .finish()
        .with(targets)
        .try_init();
}

/// Formats events like Go's `slog` text and JSON handlers.
struct SlogFormat {
    json: bool,
}

/// The subsystem a record comes from, as the reference's `component` attribute.
fn component(target: &str) -> Option<&'static str> {
    let module = target
        .strip_prefix("micelio_core::")
        .or(target.strip_prefix("micelio_node::"));
    let module = module?;
    Some(
        if module.starts_with("node::gossip") || module.starts_with("node::relay") {
            "gossip"
        } else if module.starts_with("node::discovery")
            || module.starts_with("node::exchange")
            || module.starts_with("node::peers")
        {
            "discovery"
        } else if module.starts_with("ssh") {
            "ssh"
        } else if module.starts_with("partyline") {
            "partyline"
        } else if module.starts_with("node")
            || module.starts_with("connection")
            || module.starts_with("net")
        {
            "transport"
        } else {
            return None;
        },
    )
}

/// The message and attributes of one event, in order.
#[derive(Default)]
struct Fields {
    message: String,
    attributes: Vec<(&'static str, String)>,
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message = value.to_owned();
        } else {
            self.attributes.push((field.name(), value.to_owned()));
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        let text = format!("{value:?}");
        if field.name() == "message" {
            self.message = text;
        } else {
            self.attributes.push((field.name(), text));
        }
    }
}

impl<S, N> FormatEvent<S, N> for SlogFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let mut fields = Fields::default();
        event.record(&mut fields);
        let metadata = event.metadata();
        if let Some(component) = component(metadata.target()) {
            if !fields.attributes.iter().any(|(k, _)| *k == "component") {
                fields.attributes.push(("component", component.to_owned()));
            }
        }
        let level = match *metadata.level() {
            Level::ERROR => "ERROR",
            Level::WARN => "WARN",
            Level::INFO => "INFO",
            _ => "DEBUG",
        };
        let time = rfc3339_now();
        let mut line = String::new();
        if self.json {
            let _ = write!(
                line,
                "{{\"time\":{},\"level\":{},\"msg\":{}",
                json(&time),
                json(level),
                json(&fields.message)
            );
            for (key, value) in &fields.attributes {
                let _ = write!(line, ",{}:{}", json(key), json(value));
            }
            line.push('}');
        } else {
            let _ = write!(
                line,
                "time={time} level={level} msg={}",
                text_value(&fields.message)
            );
            for (key, value) in &fields.attributes {
                let _ = write!(line, " {key}={}", text_value(value));
            }
        }
        writeln!(writer, "{line}")
    }
}

/// A text value, quoted (Go `strconv.Quote` style) when empty or when it holds a space, a
/// quote, an `=` or a control character.
fn text_value(value: &str) -> String {
    let needs_quotes = value.is_empty()
        || value
            .chars()
            .any(|c| c == ' ' || c == '"' || c == '=' || c.is_control());
    if needs_quotes {
        quoted(value)
    } else {
        value.to_owned()
    }
}

/// `value` in double quotes with `"`, `\\` and control characters escaped (valid JSON too).
fn quoted(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A JSON string literal (the same escaping as a quoted text value).
fn json(value: &str) -> String {
    quoted(value)
}

/// The current UTC time as `YYYY-MM-DDTHH:MM:SS.mmmZ`.
fn rfc3339_now() -> String {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let secs = since.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (year, month, day) = civil_from_days(i64::try_from(days).unwrap_or(0));
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60,
        since.subsec_millis()
    )
}

/// Proleptic Gregorian date of a day count since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_convert_from_day_counts() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_000), (2022, 1, 8));
        assert_eq!(civil_from_days(20_784), (2026, 11, 27));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
    }

    #[test]
    fn text_values_are_quoted_like_slog() {
        assert_eq!(text_value("inbound"), "inbound");
        assert_eq!(text_value("peer connected"), "\"peer connected\"");
        assert_eq!(text_value(""), "\"\"");
        assert_eq!(text_value("a\"b"), "\"a\\\"b\"");
        assert_eq!(text_value("\u{1b}[2J"), "\"\\u001b[2J\"");
    }

    #[test]
    fn json_strings_escape_controls() {
        assert_eq!(json("a\"b\n\u{1}"), "\"a\\\"b\\n\\u0001\"");
    }

    #[test]
    fn components_follow_the_module() {
        assert_eq!(component("micelio_core::node::relay"), Some("gossip"));
        assert_eq!(component("micelio_core::node::exchange"), Some("discovery"));
        assert_eq!(
            component("micelio_core::node::admission"),
            Some("transport")
        );
        assert_eq!(component("micelio_node::ssh::handler"), Some("ssh"));
        assert_eq!(component("micelio_node::partyline::hub"), Some("partyline"));
        assert_eq!(component("micelio"), None);
    }
}
