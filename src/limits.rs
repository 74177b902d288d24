//! Run limits that watch resources rather than the model: the memory limit
//! (`run.max_memory`) and the wall-clock limit (`run.max_wall_time`), beside
//! `run.max_events` and `run.max_live_messages` (checked in `sim.rs`).
//!
//! Memory is an *estimate*, not the process's RSS: the bytes held by the
//! run's growing structures (event queue, message stores, visible heap, DLQ,
//! redelivery queues, deduplication windows, SNS deliveries in progress,
//! idempotency keys, effect bitset, time series, slots, parked polls),
//! from their capacities. It is a pure function of the scenario, seed and
//! overrides, so whether a run stops does not depend on `--threads` or on
//! other runs in the process (determinism). It is checked every
//! [`CHECK_EVERY`] events (a few additions), and once before the run for
//! what is allocated up front (worker slots). A runaway stops with exit 2 and
//! a message naming the limit, before the allocator aborts.
//!
//! The wall clock is read every [`CHECK_EVERY`] events only when a
//! wall-clock limit or a progress line asks for it; a run stopped by it is an
//! error, never a summary, so results stay a pure function of the inputs.

use crate::duration::{self, Nanos};
use crate::error::Error;
use crate::progress::Progress;
use crate::scenario::Scenario;
use crate::sim::World;
use std::sync::Arc;
use std::time::Instant;

/// Events between two checks of the memory estimate and the clock.
pub const CHECK_EVERY: u64 = 1 << 14;

/// The default of `run.max_memory`: 4 GiB.
pub const DEFAULT_MAX_MEMORY: u64 = 4 << 30;

/// Bytes of `len` elements of `T` (capacity, not length: what is allocated).
pub fn bytes_of<T>(capacity: usize) -> u64 {
    (capacity as u64).saturating_mul(std::mem::size_of::<T>() as u64)
}

/// The capacity a buffer holding `len` entries in room for `capacity` should
/// be cut to, if it holds more than four times its entries plus `above`
/// (what a burst left behind): twice its entries. None: keep it. The one
/// rule by which visible sets, redelivery queues, deduplication windows and
/// `far` maps give memory back (event lanes hold blocks that follow their
/// entries, `engine/blocks.rs`).
pub fn give_back(len: usize, capacity: usize, above: usize) -> Option<usize> {
    (capacity > 4 * len + above).then_some(2 * len)
}

/// Bytes of the workers of `groups` and their slots, allocated before the
/// first event and never grown: (workers, slots, bytes). Counted per group,
/// not per worker (a run may have 10^5 workers); each worker holds its first
/// slot inline (`slots.rs`, counted in `Worker`), the others beside it with
/// their free-list entries.
pub(crate) fn worker_bytes(groups: &[crate::scenario::WorkerGroup]) -> (u64, u64, u64) {
    let slots: u64 = groups.iter().map(|g| u64::from(g.count) * u64::from(g.concurrency)).sum();
    let workers: u64 = groups.iter().map(|g| u64::from(g.count)).sum();
    let beyond_first = slots.saturating_sub(workers) as usize;
    let bytes = bytes_of::<crate::worker::Slot>(beyond_first)
        .saturating_add(bytes_of::<u32>(beyond_first))
        .saturating_add(bytes_of::<crate::worker::Worker>(workers as usize));
    (workers, slots, bytes)
}

/// What is allocated before the first event, checked before allocating it.
pub fn check_start(s: &Scenario) -> Result<(), Error> {
    let (workers, slots, need) = worker_bytes(&s.workers);
    if need > s.run.max_memory {
        return Err(Error::Limit(format!(
            "{workers} workers with {slots} slots in all need about {} before the first event, over run.max_memory = {}; use fewer workers or less concurrency, or raise it with --set run.max_memory=...",
            format_size(need),
            format_size(s.run.max_memory)
        )));
    }
    Ok(())
}

impl World {
    /// The estimated bytes this run holds (see the module comment).
    pub fn footprint(&self) -> u64 {
        [
            self.ev.footprint(),
            self.brokers.iter().map(crate::broker::Broker::footprint).sum(),
            self.topics.iter().map(crate::broker::sns::SnsTopic::footprint).sum(),
            self.stores.iter().map(crate::idempotency::Store::footprint).sum(),
            self.obs.m.iter().map(crate::metrics::Metrics::footprint).sum(),
            self.producer.footprint(),
            self.waiters.iter().map(|w| bytes_of::<crate::worker::Waiter>(w.capacity())).sum(),
            worker_bytes(&self.groups).2,
            self.inboxes.footprint(),
        ]
        .iter()
        .fold(0u64, |a, b| a.saturating_add(*b))
    }
}

/// Watches one run's resources every [`CHECK_EVERY`] events.
pub struct Watch {
    max_memory: u64,
    deadline: Option<(Instant, Nanos)>,
    progress: Option<Arc<Progress>>,
    reported_events: u64,
}

impl Watch {
    pub fn new(s: &Scenario, progress: Option<Arc<Progress>>) -> Watch {
        Watch {
            max_memory: s.run.max_memory,
            deadline: s.run.max_wall_ns.map(|ns| (Instant::now(), ns)),
            progress,
            reported_events: 0,
        }
    }

    /// Check the limits; the message of the one exceeded.
    /// `used`: the world's footprint now.
    pub fn check(&mut self, world: &World, s: &Scenario, used: u64) -> Option<String> {
        let now = world.now();
        if used > self.max_memory {
            return Some(format!(
                "run.max_memory = {} exceeded at t = {}s (about {} held: {} live messages, {} pending events); the scenario grows without bound, or raise it with --set run.max_memory=...",
                format_size(self.max_memory),
                duration::format_seconds(now),
                format_size(used),
                world.live(),
                world.ev.len()
            ));
        }
        if let Some((start, limit_ns)) = self.deadline {
            let wall = start.elapsed();
            if wall.as_nanos() > u128::from(limit_ns) {
                return Some(format!(
                    "run.max_wall_time = {} of wall-clock time reached at simulated t = {}s after {} events; raise it with --max-wall or --set run.max_wall_time=...",
                    duration::format_human(limit_ns),
                    duration::format_seconds(now),
                    world.events()
                ));
            }
        }
        if let Some(p) = &self.progress {
            let events = world.events();
            p.tick(events - self.reported_events, now, fraction_done(world, s));
            self.reported_events = events;
        }
        None
    }

    /// The run ended (either way): count its last events.
    pub fn finish(&mut self, world: &World) {
        if let Some(p) = &self.progress {
            p.tick(world.events() - self.reported_events, world.now(), 1.0);
            self.reported_events = world.events();
        }
    }
}

/// How far the run is, from 0 to 1: the larger of messages sent over
/// `run.messages` and simulated time over `run.duration` (or max_sim_time).
fn fraction_done(world: &World, s: &Scenario) -> f64 {
    let by_time = |end: Nanos| world.now() as f64 / end.max(1) as f64;
    let sent = match s.run.messages {
        Some(m) => world.producer.produced() as f64 / m.max(1) as f64,
        None => 0.0,
    };
    let time = by_time(s.run.duration_ns.unwrap_or(s.run.max_sim_time_ns));
    sent.max(time).clamp(0.0, 1.0)
}

/// Parse a memory size: "4GiB", "512MiB", "100MB", "1.5GiB" or a bare
/// integer number of bytes.
pub fn parse_size(text: &str) -> Result<u64, String> {
    const UNITS: &[(&str, u64)] = &[
        ("TiB", 1 << 40),
        ("GiB", 1 << 30),
        ("MiB", 1 << 20),
        ("KiB", 1 << 10),
        ("TB", 1_000_000_000_000),
        ("GB", 1_000_000_000),
        ("MB", 1_000_000),
        ("KB", 1_000),
        ("kB", 1_000),
        ("B", 1),
    ];
    let t = text.trim();
    let (num, scale) = UNITS.iter().find_map(|(u, s)| t.strip_suffix(u).map(|n| (n.trim(), *s))).unwrap_or((t, 1));
    let bad = || format!("\"{text}\" is not a memory size; expected e.g. \"4GiB\", \"512MiB\" or \"100MB\"");
    let v: f64 = num.parse().map_err(|_| bad())?;
    if !(v.is_finite() && v >= 0.0) || num.starts_with(['+', '-']) {
        return Err(bad());
    }
    let bytes = v * scale as f64;
    if bytes >= u64::MAX as f64 {
        return Err(format!("\"{text}\" is too large"));
    }
    Ok(bytes as u64)
}

/// "4GiB", "1.5MiB", "512B".
pub fn format_size(bytes: u64) -> String {
    for (unit, size) in [("TiB", 1u64 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)] {
        if bytes >= size {
            let v = bytes as f64 / size as f64;
            return if bytes.is_multiple_of(size) {
                format!("{}{unit}", bytes / size)
            } else {
                format!("{v:.1}{unit}")
            };
        }
    }
    format!("{bytes}B")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_is_given_back_past_four_times_the_entries_plus_the_slack() {
        assert_eq!(give_back(100, 4 * 100 + 64, 64), None, "exactly four times plus the slack: kept");
        assert_eq!(give_back(100, 4 * 100 + 65, 64), Some(200), "beyond it: cut to twice the entries");
        assert_eq!(give_back(0, 64, 64), None);
        assert_eq!(give_back(0, 65, 64), Some(0), "an empty buffer past the slack is given back whole");
    }

    #[test]
    fn sizes_parse_and_format() {
        assert_eq!(parse_size("4GiB"), Ok(4 << 30));
        assert_eq!(parse_size("512 MiB"), Ok(512 << 20));
        assert_eq!(parse_size("100MB"), Ok(100_000_000));
        assert_eq!(parse_size("1.5KiB"), Ok(1536));
        assert_eq!(parse_size("12345"), Ok(12345));
        for bad in ["", "GiB", "-1GiB", "4 parsecs", "nan", "inf", "1e30TiB"] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
        assert_eq!(format_size(4 << 30), "4GiB");
        assert_eq!(format_size(1536), "1.5KiB");
        assert_eq!(format_size(10), "10B");
    }
}
