//! Memory follows live messages, not finished ones (issue 17).
//!
//! Measured with the run's own count of the bytes its growing structures
//! hold (`perf.peak_model_bytes`: capacities of the event queue, message
//! stores, visible set, DLQ, idempotency stores, time series), never RSS,
//! so the checks are deterministic. Each regime is run at two sizes, both
//! past the fixed slack of the store index and the event queue (a few
//! thousand entries); what the larger run holds beyond the smaller, per
//! extra message, must stay under a byte. The only structures that may grow
//! with finished messages are the effect bitset (one bit per key, for
//! duplicate counting) and the time series (one bucket a minute): together
//! well under a byte per message at these rates. Before the fixes the
//! long-VT regime held a 40-byte lease timer per message for 12 hours and
//! the pinned regime a 72-byte tombstone per message sent after the oldest
//! live one. A last check bounds the bytes per message in flight when many
//! are.

mod common;
use common::*;

/// 20 workers at about 75% load, lognormal processing (median 1 s).
const BASE: &str = r#"
name = "memory"
seed = 5

[producer]
arrival = { kind = "poisson", rate = 11.8 }

[queue]
visibility_timeout = "30s"

[[workers]]
name = "w"
count = 20
receive = { max = 1, wait = "20s" }

[handler]
duration = { kind = "lognormal", median = "1s", p99 = "5s" }
"#;

fn peak_bytes(text: &str, messages: u64, sets: &[&str]) -> (u64, u64) {
    let n = format!("run.messages={messages}");
    let mut all = vec![n.as_str()];
    all.extend_from_slice(sets);
    let s = run_text(text, &all);
    (s.perf.peak_model_bytes, s.perf.peak_live_messages)
}

/// Bytes held per message added between `lo` and `hi` messages.
fn growth_per_message(text: &str, lo: u64, hi: u64, sets: &[&str]) -> f64 {
    let (small, _) = peak_bytes(text, lo, sets);
    let (large, live) = peak_bytes(text, hi, sets);
    assert!(live > 0 && live < 2_000, "the regime keeps few messages live (peak {live})");
    (large as f64 - small as f64) / (hi - lo) as f64
}

#[test]
fn a_long_visibility_timeout_holds_no_memory_per_finished_message() {
    let g = growth_per_message(BASE, 20_000, 60_000, &["queue.visibility_timeout=12h"]);
    assert!(g < 1.0, "VT 12 h: {g:.2} bytes held per finished message");
}

#[test]
fn a_pinned_message_holds_no_memory_per_message_sent_after_it() {
    // About one message in 1,000 always fails; with no DLQ and the default
    // 4-day retention each stays live to the end, pinning the oldest id.
    let pinned = format!("{BASE}poison_fraction = 0.001\n");
    let g = growth_per_message(&pinned, 20_000, 60_000, &[]);
    assert!(g < 1.0, "pinned: {g:.2} bytes held per message sent after the oldest live one");
}

#[test]
fn pinned_messages_moved_out_of_the_index_still_expire_and_conserve() {
    // The same poison messages with a 10-minute retention: each one is moved
    // out of the store index's front as the index grows sparse behind it, and must
    // still be removed by the retention rule (docs/model.md, "SQS Standard").
    // Every poison message expires, every other message is deleted, so
    // expired ~ Binomial(sent, 0.001) and deleted + expired = sent.
    let pinned = format!("{BASE}poison_fraction = 0.001\n");
    let s = run_text(&pinned, &["run.messages=40000", "queue.retention=10m"]);
    assert_eq!(s.final_states.deleted + s.final_states.expired, s.sent);
    assert_eq!(s.final_states.in_flight + s.final_states.visible, 0);
    assert_binomial(s.final_states.expired, s.sent, 0.001, 4.0, "poison messages expired");
}

/// The same load on a JetStream pull consumer.
const JETSTREAM: &str = r#"
name = "memory-jetstream"
seed = 5

[producer]
arrival = { kind = "poisson", rate = 11.8 }

[queue]
kind = "jetstream"
ack_wait = "1h"

[[workers]]
name = "w"
count = 20
receive = { max = 1, wait = "20s" }

[handler]
duration = { kind = "lognormal", median = "1s", p99 = "5s" }
"#;

#[test]
fn a_long_jetstream_ack_wait_holds_no_memory_per_finished_message() {
    // An acked message's AckWait timer must not stay queued for the hour.
    let g = growth_per_message(JETSTREAM, 20_000, 60_000, &[]);
    assert!(g < 1.0, "JetStream AckWait 1 h: {g:.2} bytes held per finished message");
}

#[test]
fn a_message_jetstream_redelivers_without_end_pins_no_memory() {
    // Poison messages with no MaxDeliver are redelivered after every AckWait
    // for ever (the run stops at its time limit); the stream's store must
    // not keep an entry for every message acked after the first of them.
    let pinned = format!("{JETSTREAM}poison_fraction = 0.001\n");
    let sets = ["queue.ack_wait=30s", "run.max_sim_time=3h"];
    let g = growth_per_message(&pinned, 20_000, 60_000, &sets);
    assert!(g < 1.0, "JetStream pinned: {g:.2} bytes held per message acked after the oldest live one");
}

/// b5's load (95% of the workers busy, lognormal processing) with 2,000
/// workers: about 1,900 messages in flight at once.
const IN_FLIGHT: &str = r#"
name = "memory-in-flight"
seed = 1

[producer]
arrival = { kind = "poisson", rate = 1495.5 }

[queue]
visibility_timeout = "30s"

[[workers]]
name = "w"
count = 2000
receive = { max = 1, wait = "20s" }

[handler]
duration = { kind = "lognormal", median = "1s", p99 = "5s" }
"#;

#[test]
fn a_message_in_flight_holds_at_most_250_bytes() {
    // What each live message costs, from the structures' capacities: a slab
    // slot (72 B; the slab holds at most 1.25x the most live messages), 4-byte
    // index entries (up to twice as many as live), a 24-byte lease-lane
    // entry and a 40-byte heap entry for its handler step, each structure
    // holding up to twice its contents (doubling; stale leases until the
    // sweep): about 200 B here. Before issue 17's session 4 (a ring of whole
    // messages with tombstones, 40-byte lane entries) this regime held about
    // 480 B per live message; the bound catches a return to that.
    let (one, _) = peak_bytes(IN_FLIGHT, 1, &[]);
    let (many, live) = peak_bytes(IN_FLIGHT, 40_000, &[]);
    assert!(live > 1_500, "the regime keeps many messages in flight (peak {live})");
    let per_live = (many - one) as f64 / live as f64;
    assert!(per_live < 250.0, "{per_live:.0} bytes per live message");
}

/// A burst: 100,000 messages sent in 50 s while the workers are not yet up
/// (they start at 60 s), then drained in about half a minute.
const BURST: &str = r#"
name = "burst"
seed = 3

[run]
messages = 100000

[producer]
arrival = { kind = "constant", rate = 2000 }

[queue]
visibility_timeout = "5s"

[[workers]]
name = "w"
count = 100
concurrency = 10
start_at = "60s"
receive = { max = 10, wait = "20s" }

[handler]
duration = { kind = "lognormal", median = "0.2s", p99 = "1s" }
"#;

#[test]
fn memory_held_for_a_burst_is_given_back_once_it_drains() {
    // At the peak about 100 B per queued message (slab, index, visible
    // set). Once drained, the slab, the visible set and the event lanes
    // shrink to a few hundred kilobytes of slack (the slab keeps 4,096
    // slots). Without giving memory back the run ends holding 95% of its
    // peak (9.9 MB of 10.4 MB); it holds about 9% now (0.95 of 10.2 MB).
    let s = run_text(BURST, &[]);
    assert!(s.perf.peak_live_messages > 90_000, "the burst queues (peak {})", s.perf.peak_live_messages);
    let (peak, end) = (s.perf.peak_model_bytes, s.perf.final_model_bytes);
    assert!(end < peak / 5, "{end} bytes held after the burst drained, {peak} at its peak");
}

/// A JetStream burst that all comes back for redelivery: 60,000 messages
/// in 2 s, all delivered at once (MaxAckPending 100,000; 60,000 slots);
/// the workers crash at 3 s and restart at 33 s, so every message waits out
/// its AckWait in the redelivery queue; then the stream drains over about
/// a minute. No deduplication window (it keeps ids for 2 minutes, by rule).
const JETSTREAM_BURST: &str = r#"
name = "burst-jetstream"
seed = 3

[run]
messages = 60000

[producer]
arrival = { kind = "constant", rate = 30000 }

[queue]
kind = "jetstream"
ack_wait = "5s"
max_ack_pending = 100000
msg_id = false

[[workers]]
name = "w"
count = 60
concurrency = 1000
crash = { at = ["3s"], restart_delay = "30s" }
receive = { max = 10, wait = "1s" }

[handler]
duration = { kind = "lognormal", median = "10s", p99 = "40s" }
"#;

#[test]
fn a_jetstream_redelivery_queue_held_for_a_burst_is_given_back() {
    // The slots (60 x 1,000) are held from the start: measure beyond what
    // a one-message run holds. At the peak the burst holds about 10 MB
    // (store, lanes, heap, the 60,000-entry redelivery queue). Once drained
    // the store and lanes are back to their slack; the redelivery queue
    // (1 MB at its peak) was kept whole until it was shrunk too: 14% of the
    // burst's bytes stayed, 5% now.
    let s = run_text(JETSTREAM_BURST, &[]);
    assert!(s.causes.after_crash > 50_000, "the burst comes back for redelivery ({})", s.causes.after_crash);
    assert_eq!(s.final_states.deleted, s.sent);
    let (fixed, _) = peak_bytes(JETSTREAM_BURST, 1, &[]);
    let (peak, end) = (s.perf.peak_model_bytes - fixed, s.perf.final_model_bytes - fixed);
    assert!(end < peak / 10, "{end} bytes held after the burst drained, {peak} at its peak");
}
