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

fn queue(c: &mut Criterion) {
    let mut g = c.benchmark_group("events");
    let n = 1_000_000u64;
    g.throughput(Throughput::Elements(n));
    g.bench_function("heap_pop_push_600_pending", |b| {
        b.iter(|| {
            let mut q: Events<u64> = Events::default();
            let mut x = 0x9E37_79B9_7F4A_7C15u64;
            for i in 0..600 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                q.at(x % 1_000_000_000, i);
            }
            for _ in 0..n {
                let e = q.pop().expect("pending");
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                q.after(x % 2_000_000_000, e);
            }
            q.len()
        })
    });
    g.finish();
}

criterion_group!(benches, runs, queue);
criterion_main!(benches);
