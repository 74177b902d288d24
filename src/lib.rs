//! dupsim: a deterministic discrete-event simulator of duplicate message
//! processing in message queues.
//!
//! A scenario file (`config.rs`) resolves to a [`scenario::Scenario`]; the
//! event loop (`sim.rs`, `engine.rs`) runs the producer (`producer.rs`), the
//! broker (`broker/`), workers (`worker.rs`), dependencies, the network and
//! the idempotency store, and records into `metrics.rs`; `summary.rs` reports.
//! `sweep.rs` runs grids of scenarios in parallel, `check.rs` evaluates a
//! scenario's `[expect]`, `report/` draws charts. See ARCHITECTURE.md.

pub mod advise;
pub mod broker;
pub mod check;
pub mod cli;
pub mod config;
pub mod consumer;
pub mod dependency;
pub mod dist;
pub mod duration;
pub mod engine;
pub mod error;
pub mod expect;
pub mod idempotency;
pub mod lease;
pub mod limits;
pub mod metrics;
pub mod network;
pub mod observed;
pub mod output;
pub mod paranoid;
pub mod prefetch;
pub mod producer;
pub mod progress;
pub mod report;
pub mod rng;
pub mod scenario;
pub mod sim;
pub mod slots;
pub(crate) mod spans;
pub mod summary;
pub mod sweep;
pub mod theory;

/// The model's version: raised by every commit that changes a result for
/// the same scenario, seed and overrides (the commit that regenerates the
/// golden summaries; `tests/golden.rs` refuses new goldens without a new
/// version). It is part of the sweep cache key (`sweep::scenario_hash`), so
/// a sweep resumed with a binary whose model changed runs everything again
/// instead of mixing old and new results.
///
/// 1: issue 17, `events` no longer counts stale SQS timers dropped before firing.
/// 2: nor stale JetStream and Pub/Sub lease timers.
/// 3: random streams are xoshiro256++, not ChaCha8 (every random draw changes).
/// 4: exponential and normal (so lognormal) draws by the ziggurat method, not
///    -ln(U) and the inverse normal CDF (every such draw changes); lognormal
///    draws through a table-driven e^x (`dist/exp.rs`), not `libm::exp`.
pub const MODEL_VERSION: u32 = 4;
pub mod trace;
pub(crate) mod wording;
pub mod worker;

pub use config::{Override, Source};
pub use error::{Error, InputError};
pub use scenario::Scenario;
pub use sim::{run, RunOptions};
pub use summary::Summary;

/// Load, resolve and run a scenario file without a trace: the shortest path
/// from a file to a summary (used by tests and sweeps).
pub fn run_file(path: &std::path::Path, overrides: &[Override], seed: Option<u64>) -> Result<Summary, Error> {
    let source = Source::load(path)?;
    let scenario = source.resolve(overrides, seed)?;
    Ok(run(&scenario, RunOptions::default())?.0)
}
