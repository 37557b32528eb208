//! Ferry's `tracing` output for apps: to logcat on Android, to the unified log on iOS (both
//! through the `log` facade), and to an optional listener the app implements (its own log
//! view, crash reports).

use std::sync::{Arc, OnceLock, RwLock};
use tracing::field::{Field, Visit};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::Layer;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, uniffi::Enum)]
pub enum LogLevel {
    Error,
    Warn,
    Info,
    Debug,
    Trace,
}

impl LogLevel {
    fn of(level: &tracing::Level) -> LogLevel {
        match *level {
            tracing::Level::ERROR => LogLevel::Error,
            tracing::Level::WARN => LogLevel::Warn,
            tracing::Level::INFO => LogLevel::Info,
            tracing::Level::DEBUG => LogLevel::Debug,
            tracing::Level::TRACE => LogLevel::Trace,
        }
    }
}

/// Receives Ferry's log lines (from Ferry's threads; return quickly). A line it throws on is
/// lost, nothing else.
#[uniffi::export(with_foreign)]
pub trait LogListener: Send + Sync {
    fn on_log(&self, level: LogLevel, target: String, message: String) -> Result<(), crate::ListenerError>;
}

struct Settings {
    level: LogLevel,
    listener: Option<Arc<dyn LogListener>>,
}

fn settings() -> &'static RwLock<Settings> {
    static S: OnceLock<RwLock<Settings>> = OnceLock::new();
    S.get_or_init(|| RwLock::new(Settings { level: LogLevel::Info, listener: None }))
}

#[derive(Default)]
struct Message(String);

impl Visit for Message {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.0 = format!("{value:?}");
        } else {
            self.0.push_str(&format!(" {}={value:?}", field.name()));
        }
    }
}

struct Forward;

impl<S: tracing::Subscriber> Layer<S> for Forward {
    fn on_event(&self, event: &tracing::Event<'_>, _ctx: Context<'_, S>) {
        let meta = event.metadata();
        let level = LogLevel::of(meta.level());
        // The listener is taken out: the app's code never runs under the lock.
        let listener = {
            let settings = settings().read().unwrap_or_else(|p| p.into_inner());
            if level > settings.level {
                return;
            }
            settings.listener.clone()
        };
        let mut msg = Message::default();
        event.record(&mut msg);
        platform_log(level, meta.target(), &msg.0);
        if let Some(l) = listener {
            // A failure is not logged (that would come back here).
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| l.on_log(level, meta.target().to_string(), msg.0)));
        }
    }
}

#[cfg(any(target_os = "android", target_os = "ios"))]
fn platform_log(level: LogLevel, target: &str, message: &str) {
    let level = match level {
        LogLevel::Error => log::Level::Error,
        LogLevel::Warn => log::Level::Warn,
        LogLevel::Info => log::Level::Info,
        LogLevel::Debug => log::Level::Debug,
        LogLevel::Trace => log::Level::Trace,
    };
    log::log!(target: target, level, "{message}");
}

#[cfg(not(any(target_os = "android", target_os = "ios")))]
fn platform_log(_level: LogLevel, _target: &str, _message: &str) {}

#[cfg(target_os = "android")]
fn init_platform() {
    android_logger::init_once(android_logger::Config::default().with_tag("Ferry").with_max_level(log::LevelFilter::Trace));
}

#[cfg(target_os = "ios")]
fn init_platform() {
    let _ = oslog::OsLogger::new("app.ferry.core").level_filter(log::LevelFilter::Trace).init();
}

#[cfg(not(any(target_os = "android", target_os = "ios")))]
fn init_platform() {}

/// Sends Ferry's log (from `level` up) to the platform log and to `listener`. Call it again to
/// change the level or the listener.
#[uniffi::export]
pub fn init_logging(level: LogLevel, listener: Option<Arc<dyn LogListener>>) {
    {
        let mut s = settings().write().unwrap_or_else(|p| p.into_inner());
        s.level = level;
        s.listener = listener;
    }
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        init_platform();
        let subscriber = tracing_subscriber::registry().with(Forward);
        if tracing::subscriber::set_global_default(subscriber).is_err() {
            // The embedding program installed its own subscriber; it keeps Ferry's events.
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    struct Lines(Mutex<Vec<(LogLevel, String)>>);
    impl LogListener for Lines {
        fn on_log(&self, level: LogLevel, _target: String, message: String) -> Result<(), crate::ListenerError> {
            self.0.lock().unwrap().push((level, message));
            Ok(())
        }
    }

    #[test]
    fn lines_reach_the_listener_from_the_level_up() {
        let lines = Arc::new(Lines(Mutex::new(Vec::new())));
        init_logging(LogLevel::Info, Some(lines.clone()));
        tracing::debug!("hidden");
        tracing::info!(peer = 7, "shown");
        tracing::warn!("also shown");
        let got = lines.0.lock().unwrap().clone();
        assert_eq!(got, vec![(LogLevel::Info, "shown peer=7".to_string()), (LogLevel::Warn, "also shown".to_string())]);
        init_logging(LogLevel::Error, None);
    }
}
