//! A process-wide `tracing` subscriber that keeps every event as a line of text
//! (`LEVEL message field=value ...`), for tests that check what the integrations log.
//!
//! Global, not per thread: the servers under test log from their own worker threads. Installed
//! once per test binary; every test of the binary logs into it.

use std::fmt::Write as _;
use std::sync::{Arc, Mutex, OnceLock};

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

/// The lines logged so far by the whole test binary.
#[derive(Clone, Default)]
pub struct Lines(Arc<Mutex<Vec<String>>>);

impl Lines {
    /// Every line logged so far.
    pub fn all(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }

    /// The lines that contain `needle`.
    pub fn containing(&self, needle: &str) -> Vec<String> {
        self.all()
            .into_iter()
            .filter(|line| line.contains(needle))
            .collect()
    }
}

struct Capture(Lines);

struct Line<'a>(&'a mut String);

impl Visit for Line<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let _ = write!(self.0, " {}={value:?}", field.name());
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        let _ = write!(self.0, " {}={value}", field.name());
    }
}

impl Subscriber for Capture {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let mut line = event.metadata().level().to_string();
        event.record(&mut Line(&mut line));
        (self.0).0.lock().unwrap().push(line);
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

/// The binary's captured lines, installing the subscriber on first use.
pub fn install() -> Lines {
    static LINES: OnceLock<Lines> = OnceLock::new();
    LINES
        .get_or_init(|| {
            let lines = Lines::default();
            tracing::subscriber::set_global_default(Capture(lines.clone()))
                .expect("no other global subscriber in the HTTP test binaries");
            lines
        })
        .clone()
}
