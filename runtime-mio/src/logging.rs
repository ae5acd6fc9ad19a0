//! Log output through `tracing`: the levels and the text or JSON formats of NODE.md §6, on
//! standard error.

use micelio_platform::config::{LogFormat, LogLevel};
use tracing::level_filters::LevelFilter;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt as _;
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
    let builder = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(filter)
        .with_target(false);
    let _ = match format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .finish()
            .with(targets)
            .try_init(),
        LogFormat::Text => builder.with_ansi(false).finish().with(targets).try_init(),
    };
}
