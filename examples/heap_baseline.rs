//! A bare binary-heap event loop: the floor dupsim's event loop is compared
//! with in `scripts/bench` (issue 17: b1 at 80% or more of it).
//!
//! It keeps PENDING entries of (time, seq, 24-byte payload) in a
//! `std::collections::BinaryHeap`, ordered by (time, seq) as dupsim orders
//! its events, and does POPS pops; after each pop it pushes the entry back
//! at a random future time (0 to 2 s later, from a tiny inline xorshift), so
//! the heap keeps its size. Nothing else happens: no model, no metrics.
//! `scripts/bench` passes b1's event count as POPS and about b1's average
//! number of pending events as PENDING.
//!
//! Usage: `cargo run --release --example heap_baseline -- POPS [PENDING]`
//! (defaults: 4,000,000 pops, 400 pending). Prints one JSON object:
//! `{"pops", "pending", "wall_s", "pops_per_s", "checksum"}` (`events` and
//! `events_per_s` repeat the pops for older readers).

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::time::Instant;

/// One pending event: its time in ns, its tie-breaking sequence number and
/// a 24-byte payload, the size of dupsim's event body.
struct Entry {
    time: u64,
    seq: u64,
    payload: [u64; 3],
}

impl PartialEq for Entry {
    fn eq(&self, o: &Self) -> bool {
        (self.time, self.seq) == (o.time, o.seq)
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Entry {
    /// Reversed, so that the max-heap pops the earliest (time, seq) first.
    fn cmp(&self, o: &Self) -> Ordering {
        (o.time, o.seq).cmp(&(self.time, self.seq))
    }
}

/// Marsaglia's xorshift64: enough randomness for heap positions, no crate.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
}

fn arg(value: Option<String>, name: &str, default: u64) -> u64 {
    match value {
        None => default,
        Some(s) => match s.replace('_', "").parse::<u64>() {
            Ok(n) if n > 0 => n,
            _ => {
                eprintln!("heap_baseline: {name} must be a positive integer, got '{s}'");
                eprintln!("usage: heap_baseline POPS [PENDING]");
                std::process::exit(2);
            }
        },
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let pops = arg(args.next(), "POPS", 4_000_000);
    let pending = arg(args.next(), "PENDING", 400);
    const MAX_DELAY_NS: u64 = 2_000_000_000;

    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    let mut heap = BinaryHeap::with_capacity(pending as usize + 1);
    let mut seq = 0u64;
    for i in 0..pending {
        let time = rng.next() % MAX_DELAY_NS;
        heap.push(Entry { time, seq, payload: [i, i ^ time, seq] });
        seq += 1;
    }

    let start = Instant::now();
    let mut checksum = 0u64;
    for _ in 0..pops {
        let e = heap.pop().expect("the heap never empties: one push per pop");
        checksum = checksum.wrapping_add(e.payload[0] ^ e.payload[2]);
        let time = e.time + rng.next() % MAX_DELAY_NS;
        heap.push(Entry { time, seq, payload: [e.payload[0], e.payload[1], seq] });
        seq += 1;
    }
    let wall = start.elapsed().as_secs_f64();
    let per_s = pops as f64 / wall;
    println!(
        "{{\"pops\": {pops}, \"pending\": {pending}, \"wall_s\": {wall:.6}, \"pops_per_s\": {per_s:.0}, \
         \"events\": {pops}, \"events_per_s\": {per_s:.0}, \"checksum\": {checksum}}}"
    );
}
