//! Log output through `tracing`: the levels and the text or JSON formats of NODE.md §6, on
//! standard error.

use micelio_platform::config::{LogFormat, LogLevel};
use tracing::level_filters::LevelFilter;

/// Installs the global subscriber. Safe to call once; later calls are ignored.
pub fn init(level: LogLevel, format: LogFormat) {
    let filter = match level {
        LogLevel::Debug => LevelFilter::DEBUG,
        LogLevel::Info => LevelFilter::INFO,
        LogLevel::Warn => LevelFilter::WARN,
        LogLevel::Error => LevelFilter::ERROR,
    };
    let builder = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(filter)
        .with_target(false);
    let _ = match format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Text => builder.with_ansi(false).try_init(),
    };
}
