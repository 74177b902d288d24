//! Criterion benchmarks of whole runs (benchmarks 1 and 2 at 100 k messages)
//! and of the event queue alone. `scripts/bench` runs the full-size versions,
//! the other regimes and the peers; these are for quick before/after comparisons of the loop.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use dupsim::engine::Events;
use dupsim::{Override, Source};
use std::path::Path;

fn scenario(path: &str, messages: u64) -> dupsim::Scenario {
    let source = Source::load(Path::new(path)).expect("bench scenario");
    let set = Override::parse(&format!("run.messages={messages}")).expect("override");
    source.resolve(&[set], None).expect("valid")
}

fn runs(c: &mut Criterion) {
    let mut g = c.benchmark_group("run");
    g.sample_size(10);
    for (name, path) in
        [("b1-baseline", "scenarios/bench/b1-baseline.toml"), ("b2-faults", "scenarios/bench/b2-faults.toml")]
    {
        let s = scenario(path, 100_000);
        let events = dupsim::run(&s, dupsim::RunOptions::default()).expect("runs").0.events;
        g.throughput(Throughput::Elements(events));
        g.bench_function(name, |b| b.iter(|| dupsim::run(&s, dupsim::RunOptions::default()).expect("runs")));
    }
    g.finish();
}

/// A 24-byte payload, the size of `sim::Event`; never in a lane (the queue
/// has none here).
#[derive(Clone, Copy)]
struct Payload([u64; 3]);

impl dupsim::engine::Pack for Payload {
    fn pack(&self) -> Option<[u32; 3]> {
        None
    }
    fn unpack(_: [u32; 3]) -> Payload {
        unreachable!("never packed")
    }
}

/// The event queue alone, holding `pending` events: pop one, schedule it
/// again after a random delay (up to 2 s, as b1's steps, or 137 s, as b6's
/// ~750k steps in flight). Payloads are 24 bytes, the size of `sim::Event`.
fn queue(c: &mut Criterion) {
    let mut g = c.benchmark_group("events");
    g.sample_size(10);
    let n = 1_000_000u64;
    g.throughput(Throughput::Elements(n));
    for (pending, span) in [(600u64, 2_000_000_000u64), (750_000, 1 << 37)] {
        g.bench_function(format!("pop_after_{pending}_pending"), |b| {
            b.iter(|| {
                let mut q: Events<Payload> = Events::default();
                let mut x = 0x9E37_79B9_7F4A_7C15u64;
                for i in 0..pending {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    q.at(x % span, Payload([i, 0, 0]));
                }
                for _ in 0..n {
                    let e = q.pop().expect("pending");
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    q.after(x % span, Payload([e.0[0], x, 0]));
                }
                q.len()
            })
        });
    }
    g.finish();
}

criterion_group!(benches, runs, queue);
criterion_main!(benches);
