//! The progress line of `run` and `check` on a terminal: simulated time,
//! events per second and an ETA, redrawn on standard error at most five
//! times a second and cleared at the end. Fed by `limits::Watch` every few
//! thousand events (shared by parallel runs of one `check`); nothing is
//! drawn when standard error is not a terminal, and nothing here changes a
//! result.

use crate::duration::{self, Nanos};
use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub struct Progress {
    label: Mutex<String>,
    start: Instant,
    last_draw: Mutex<Option<Instant>>,
    events: AtomicU64,
    now_ns: AtomicU64,
    /// The fraction done of the run reporting last (f64 bits).
    fraction: AtomicU64,
    runs_total: AtomicUsize,
    runs_done: AtomicUsize,
    drawn: std::sync::atomic::AtomicBool,
}

impl Progress {
    /// A progress line on standard error, if it is a terminal.
    pub fn on_terminal(label: &str) -> Option<std::sync::Arc<Progress>> {
        std::io::stderr().is_terminal().then(|| std::sync::Arc::new(Progress::new(label)))
    }

    pub fn new(label: &str) -> Progress {
        Progress {
            label: Mutex::new(label.to_string()),
            start: Instant::now(),
            last_draw: Mutex::new(None),
            events: AtomicU64::new(0),
            now_ns: AtomicU64::new(0),
            fraction: AtomicU64::new(0),
            runs_total: AtomicUsize::new(1),
            runs_done: AtomicUsize::new(0),
            drawn: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// A new group of `runs` runs (a file of `check`), under `label`.
    pub fn begin(&self, label: &str, runs: usize) {
        if let Ok(mut l) = self.label.lock() {
            *l = label.to_string();
        }
        self.runs_total.store(runs.max(1), Ordering::Relaxed);
        self.runs_done.store(0, Ordering::Relaxed);
        self.fraction.store(0f64.to_bits(), Ordering::Relaxed);
    }

    /// A run has finished.
    pub fn run_done(&self) {
        self.runs_done.fetch_add(1, Ordering::Relaxed);
        self.fraction.store(0f64.to_bits(), Ordering::Relaxed);
    }

    /// `events` more events; the reporting run is at `now` and `fraction` done.
    pub fn tick(&self, events: u64, now: Nanos, fraction: f64) {
        self.events.fetch_add(events, Ordering::Relaxed);
        self.now_ns.store(now, Ordering::Relaxed);
        self.fraction.store(fraction.to_bits(), Ordering::Relaxed);
        let Ok(mut last) = self.last_draw.try_lock() else { return };
        let t = Instant::now();
        if last.is_some_and(|l| t - l < Duration::from_millis(200)) {
            return;
        }
        *last = Some(t);
        let line = self.line();
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "\r\x1b[2K{line}");
        let _ = err.flush();
        self.drawn.store(true, Ordering::Relaxed);
    }

    /// The text of the line.
    pub fn line(&self) -> String {
        let elapsed = self.start.elapsed().as_secs_f64().max(1e-9);
        let events = self.events.load(Ordering::Relaxed);
        let (total, done) = (self.runs_total.load(Ordering::Relaxed), self.runs_done.load(Ordering::Relaxed));
        let f = f64::from_bits(self.fraction.load(Ordering::Relaxed));
        let overall = ((done as f64 + f) / total as f64).clamp(0.0, 1.0);
        let eta = if overall > 0.001 {
            duration::format_human(((elapsed * (1.0 - overall) / overall).round() as u64) * 1_000_000_000)
        } else {
            "?".into()
        };
        let label = self.label.lock().map(|l| l.clone()).unwrap_or_default();
        let runs = if total > 1 { format!("  runs {done}/{total}") } else { String::new() };
        format!(
            "{label}: simulated t = {}s{runs}  {:.1}M events  {:.2}M events/s  {:.0}%  ETA {eta}",
            duration::format_seconds(self.now_ns.load(Ordering::Relaxed) / 1_000_000_000 * 1_000_000_000),
            events as f64 / 1e6,
            events as f64 / elapsed / 1e6,
            overall * 100.0
        )
    }

    /// Clear the line (if one was drawn).
    pub fn clear(&self) {
        if self.drawn.swap(false, Ordering::Relaxed) {
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r\x1b[2K");
            let _ = err.flush();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_names_simulated_time_rate_and_eta() {
        let p = Progress::new("run x");
        p.events.store(2_000_000, Ordering::Relaxed);
        p.now_ns.store(3_600_500_000_000, Ordering::Relaxed);
        p.fraction.store(0.5f64.to_bits(), Ordering::Relaxed);
        let line = p.line();
        assert!(line.starts_with("run x: simulated t = 3600s  2.0M events"), "{line}");
        assert!(line.contains("50%") && line.contains("ETA"), "{line}");
    }
}
