//! A bare binary-heap event loop: pops and pushes the given number of events
//! with the same entry layout as dupsim's queue and a similar number of
//! pending events, and does nothing else. The floor dupsim's loop is
//! compared with in `scripts/bench`.
//!
//! Usage: `cargo run --release --example heap_baseline -- EVENTS [PENDING]`

use std::collections::BinaryHeap;
use std::time::Instant;

#[derive(Clone, Copy)]
#[allow(dead_code)]
enum Event {
    A { id: u64, gen: u32 },
    B { w: u32, slot: u32, gen: u32 },
}

struct Entry {
    time: u64,
    seq: u64,
    event: Event,
}

impl PartialEq for Entry {
    fn eq(&self, o: &Self) -> bool {
        (self.time, self.seq) == (o.time, o.seq)
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Entry {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        (o.time, o.seq).cmp(&(self.time, self.seq))
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let events: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(4_000_000);
    let pending: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(600);
    let mut heap = BinaryHeap::with_capacity(pending as usize * 2);
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut seq = 0;
    for i in 0..pending {
        heap.push(Entry { time: next() % 1_000_000_000, seq, event: Event::A { id: i, gen: 0 } });
        seq += 1;
    }
    let start = Instant::now();
    let mut checksum = 0u64;
    for _ in 0..events {
        let e = heap.pop().expect("never empty");
        if let Event::A { id, .. } = e.event {
            checksum = checksum.wrapping_add(id);
        }
        heap.push(Entry { time: e.time + next() % 2_000_000_000, seq, event: e.event });
        seq += 1;
    }
    let wall = start.elapsed().as_secs_f64();
    println!(
        "{{\"events\": {events}, \"pending\": {pending}, \"wall_s\": {wall:.6}, \"events_per_s\": {:.0}, \"checksum\": {checksum}}}",
        events as f64 / wall
    );
}
