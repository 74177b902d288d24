//! Fuzzing the scenario reader and the simulator (issue 15): no input may
//! panic, abort, hang past its limits or exceed the memory limit. Every
//! input must end as an input error (exit 2), a limit (exit 2) or a summary;
//! never as a panic or a bug (`Error::Bug`, exit 70).
//!
//! Two generators:
//! - `mutated_text`: a valid scenario (plain, sweep, with `[expect]`) with a
//!   few random edits: a value replaced by a hostile one (NaN, infinities,
//!   i64 extremes, "30s30s", "3651d", "/dev/zero", tables where scalars go),
//!   a key inserted (valid, misspelt, unknown), a line deleted, duplicated
//!   or cut short. Most are rejected by the reader; the rest run.
//! - `extreme_scenario`: structurally valid scenarios whose every value is
//!   at or near the edge of its accepted range (1 ns waits, 12 h VTs,
//!   multiple = 1e300, 100000 workers, probabilities 0 and 1, ...).
//!
//! Each accepted scenario is validated like `dupsim validate` (including
//! the `[expect]` dry run and the sweep grid), then run with tight limits
//! (events, wall clock, memory) so that a case takes milliseconds.
//!
//! The normal suite runs a few hundred cases. The big run is ignored here
//! and started by hand (see reports/fuzz.md):
//!
//!     FUZZ_TEXT_CASES=980000 FUZZ_EXTREME_CASES=20000 \
//!         cargo test --release --test fuzz -- --ignored --nocapture

use dupsim::{check, sweep, Error, Source};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use std::path::Path;
use std::time::{Duration, Instant};

// ------------------------------------------------------------ the harness

/// How one input ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    Rejected,
    Limited,
    Ran,
}

/// No case may take longer than this (every run has a 2 s wall limit).
const MAX_CASE: Duration = Duration::from_secs(10);

/// Read, validate and run `text` as the CLI would, with tight limits.
fn exercise(text: &str) -> Result<End, String> {
    let started = Instant::now();
    let end = exercise_inner(text);
    let took = started.elapsed();
    if took > Duration::from_millis(300) && std::env::var_os("FUZZ_SHOW_SLOW").is_some() {
        eprintln!("slow case ({took:?}, {end:?}):\n{text}");
    }
    if took > MAX_CASE {
        return Err(format!("took {took:?} (over {MAX_CASE:?})"));
    }
    end
}

fn exercise_inner(text: &str) -> Result<End, String> {
    let source = match Source::from_text(Path::new("fuzz.toml"), text.to_string()) {
        Ok(s) => s,
        Err(e) => {
            if std::env::var_os("FUZZ_SHOW_REJECTIONS").is_some() {
                eprintln!("rejected: {e}");
            }
            return Ok(End::Rejected);
        }
    };
    // Errors must be located and worded: never empty.
    let validated = check::validate_source(&source);
    if let Err(e) = &validated {
        if e.message.trim().is_empty() {
            return Err("an input error without a message".into());
        }
    }
    let mut scenario = match source.resolve(&[], None) {
        Ok(s) => s,
        Err(e) => {
            if std::env::var_os("FUZZ_SHOW_REJECTIONS").is_some() {
                eprintln!("rejected: {e}");
            }
            return Ok(End::Rejected);
        }
    };
    if source.table.contains_key("sweep") {
        if let Ok(plan) = sweep::Plan::new(&source, &[]) {
            if let Some(first) = plan.scenarios.first() {
                scenario = first.clone();
            }
        }
    }
    scenario.run.max_events = scenario.run.max_events.min(3_000);
    scenario.run.max_wall_ns = Some(2_000_000_000);
    scenario.run.max_memory = scenario.run.max_memory.min(256 << 20);
    scenario.run.max_live_messages = scenario.run.max_live_messages.min(100_000);
    match dupsim::run(&scenario, dupsim::RunOptions::default()) {
        Ok(_) => Ok(End::Ran),
        Err(Error::Limit(_)) => Ok(End::Limited),
        Err(Error::Input(_)) => Ok(End::Rejected),
        Err(Error::Io(m)) => Err(format!("I/O error from a run without outputs: {m}")),
        Err(Error::Bug(m)) => Err(format!("bug: {m}")),
    }
}

// ------------------------------------------------------------ inputs

const PLAIN: &str = r#"name = "fuzz"
seed = 3
[run]
messages = 40
[producer]
arrival = { kind = "poisson", rate = 5.0 }
delay = "0s"
[queue]
visibility_timeout = "2s"
max_receive_count = 3
delete_policy = "latest_only"
[[workers]]
name = "a"
count = 2
concurrency = 2
receive = { max = 10, wait = "1s" }
heartbeat = { kind = "adaptive", interval = "500ms", multiple = 2.0, min_extend = "1s" }
on_failure = { kind = "backoff", base = "1s", max = "10s" }
crash = { mtbf = "30s", restart_delay = "1s" }
[[dependencies]]
name = "db"
latency = { kind = "lognormal", median = "100ms", p99 = "900ms" }
error_probability = 0.05
timeout = "1s"
brownouts = [{ from = "2s", to = "5s", latency_multiplier = 3.0 }]
[handler]
steps = [{ delay = "200ms" }, { call = "db", effect = true }]
fail_probability = 0.1
[network]
loss = 0.05
latency = "10ms"
[idempotency]
strategy = "claim_first"
claim_ttl = "3s"
"#;

const SWEEP_TAIL: &str = r#"[sweep]
"queue.visibility_timeout" = ["1s", "3s"]
"workers.concurrency" = { from = 1, to = 3, step = 2 }
replications = 2
"#;

const EXPECT_TAIL: &str = r#"[expect]
replications = 2
"final.deleted" = ">= 0"
duplicate_rate = { mean = "< 1" }
[[expect.points]]
where = { "queue.visibility_timeout" = "1s" }
duplicate_effects = ">= 0"
[[expect.trends]]
metric = "duplicate_rate"
along = "queue.visibility_timeout"
direction = "non_increasing"
"#;

fn bases() -> Vec<String> {
    vec![
        PLAIN.to_string(),
        format!("{PLAIN}{SWEEP_TAIL}"),
        format!("{PLAIN}{SWEEP_TAIL}{EXPECT_TAIL}"),
        format!("{PLAIN}[expect]\nduplicate_effects = \">= 0\"\n"),
    ]
}

/// Hostile values, written as TOML.
const VALUES: &[&str] = &[
    "0",
    "1",
    "-1",
    "2",
    "10",
    "65535",
    "100000",
    "4294967296",
    "9223372036854775807",
    "-9223372036854775808",
    "0.0",
    "-0.0",
    "1e308",
    "-1e308",
    "1e-320",
    "nan",
    "inf",
    "-inf",
    "0.5",
    "1.5",
    "true",
    "false",
    "\"\"",
    "\"0s\"",
    "\"1ns\"",
    "\"3650d\"",
    "\"3651d\"",
    "\"30s30s\"",
    "\"1h30m\"",
    "\"1.5h30m\"",
    "\"-1s\"",
    "\"0.1ns\"",
    "\"99999999999999999999s\"",
    "\"12h\"",
    "\"12h1ns\"",
    "\"off\"",
    "\"fixed\"",
    "\"adaptive\"",
    "\"poisson\"",
    "\"scripted\"",
    "\"release\"",
    "\"x,y\\\"z\"",
    "\"Zürich\"",
    "\"/dev/zero\"",
    "\"../../x\"",
    "[]",
    "[\"1s\", \"0s\"]",
    "[1, \"a\"]",
    "{}",
    "{ kind = \"poisson\", rate = nan }",
    "{ kind = \"nope\" }",
    "{ kind = \"empirical\", file = \"/dev/zero\" }",
    "{ kind = \"pareto\", scale = \"1ns\", shape = 1e-300 }",
    "{ kind = \"lognormal\", median = \"1ns\", p99 = \"3650d\" }",
    "{ kind = \"sequence\", values = [] }",
    "{ from = nan, to = 1, step = 0.1 }",
    "{ from = 0, to = 9223372036854775807, step = 1 }",
    "{ from = \"0s\", to = \"3650d\", step = \"1ns\" }",
    "\"< nan\"",
    "\"between 2 and 1\"",
    "{ mean = \"< 0\" }",
    "1979-05-27T07:32:00Z",
];

/// Keys, valid and not, for insertions.
const KEYS: &[&str] = &[
    "messages",
    "duration",
    "max_sim_time",
    "max_events",
    "max_live_messages",
    "max_memory",
    "max_wall_time",
    "timeseries_bucket",
    "arrival",
    "delay",
    "payload_bytes",
    "max_send_retries",
    "visibility_timeout",
    "retention",
    "max_receive_count",
    "delete_policy",
    "short_poll_miss",
    "broker_duplicate",
    "inflight_limit",
    "price_per_million",
    "redrive_at",
    "count",
    "concurrency",
    "start_at",
    "receive",
    "heartbeat",
    "on_failure",
    "crash",
    "steps",
    "effect_step",
    "fail_probability",
    "poison_fraction",
    "loss",
    "request_loss",
    "latency",
    "timeout",
    "strategy",
    "claim_ttl",
    "key_ttl",
    "replications",
    "name",
    "seed",
    "visiblity_timeout",
    "\"queue.visibility_timeout\"",
    "\"workers.count\"",
    "\"sweep.x\"",
    "where",
    "metric",
    "along",
    "direction",
    "\"final.deleted\"",
    "duplicate_effects",
    "\"\"",
    "kind",
    "wait",
    "max",
    "multiple",
    "min_extend",
];

const HEADERS: &[&str] = &[
    "[run]",
    "[producer]",
    "[queue]",
    "[[workers]]",
    "[handler]",
    "[network]",
    "[network.send]",
    "[idempotency]",
    "[[dependencies]]",
    "[sweep]",
    "[expect]",
    "[[expect.points]]",
    "[[expect.trends]]",
    "[nope]",
    "[[run]]",
];

#[derive(Debug, Clone)]
enum Edit {
    /// Replace the value of line `i` (if it has one) by VALUES[v].
    Value(usize, usize),
    /// Insert `KEYS[k] = VALUES[v]` after line `i`.
    Insert(usize, usize, usize),
    /// Insert a header after line `i`.
    Header(usize, usize),
    Delete(usize),
    Duplicate(usize),
    /// Cut line `i` after `n` bytes.
    Truncate(usize, usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        4 => (any::<usize>(), 0..VALUES.len()).prop_map(|(i, v)| Edit::Value(i, v)),
        3 => (any::<usize>(), 0..KEYS.len(), 0..VALUES.len()).prop_map(|(i, k, v)| Edit::Insert(i, k, v)),
        1 => (any::<usize>(), 0..HEADERS.len()).prop_map(|(i, h)| Edit::Header(i, h)),
        1 => any::<usize>().prop_map(Edit::Delete),
        1 => any::<usize>().prop_map(Edit::Duplicate),
        1 => (any::<usize>(), 0usize..40).prop_map(|(i, n)| Edit::Truncate(i, n)),
    ]
}

fn apply(base: &str, edits: &[Edit]) -> String {
    let mut lines: Vec<String> = base.lines().map(String::from).collect();
    for e in edits {
        let n = lines.len().max(1);
        match *e {
            Edit::Value(i, v) => {
                let line = &mut lines[i % n];
                if let Some(eq) = line.find(" = ") {
                    line.truncate(eq + 3);
                    line.push_str(VALUES[v]);
                }
            }
            Edit::Insert(i, k, v) => lines.insert((i % n) + 1, format!("{} = {}", KEYS[k], VALUES[v])),
            Edit::Header(i, h) => lines.insert((i % n) + 1, HEADERS[h].to_string()),
            Edit::Delete(i) => {
                if !lines.is_empty() {
                    lines.remove(i % n);
                }
            }
            Edit::Duplicate(i) => {
                if !lines.is_empty() {
                    let l = lines[i % n].clone();
                    lines.insert(i % n, l);
                }
            }
            Edit::Truncate(i, cut) => {
                let line = &mut lines[i % n];
                let mut at = cut.min(line.len());
                while !line.is_char_boundary(at) {
                    at -= 1;
                }
                line.truncate(at);
            }
        }
    }
    lines.join("\n") + "\n"
}

fn mutated_text() -> impl Strategy<Value = String> {
    let bases = bases();
    (0..bases.len(), prop::collection::vec(edit(), 1..5)).prop_map(move |(b, edits)| apply(&bases[b], &edits))
}

/// One of the boundary values of a field.
fn pick<T: Clone + std::fmt::Debug + 'static>(values: &[T]) -> impl Strategy<Value = T> {
    prop::sample::select(values.to_vec())
}

/// Structurally valid scenarios with values at the edges of their ranges.
fn extreme_scenario() -> impl Strategy<Value = String> {
    let durations = ["0s", "1ns", "1ms", "1s", "30s", "12h"];
    (
        (
            pick(&["1", "2", "1000", "9223372036854775807"]),
            pick(&[
                "{ kind = \"poisson\", rate = 1e-300 }",
                "{ kind = \"poisson\", rate = 1e300 }",
                "{ kind = \"constant\", interval = \"1ns\" }",
                "{ kind = \"constant\", rate = 1e9 }",
                "{ kind = \"scripted\", at = [\"0s\", \"0s\", \"3650d\"] }",
            ]),
            pick(&["0s", "15m"]),
            pick(&durations[..]),
            pick(&["1", "1000"]),
        ),
        (
            pick(&["latest_only", "any_handle", "strict"]),
            pick(&["0.0", "1.0", "0.5"]),
            pick(&["0.0", "1.0"]),
            pick(&["1", "9223372036854775807"]),
        ),
        (
            pick(&["1", "3", "100000"]),
            pick(&["1", "64", "65535"]),
            pick(&["0s", "1ns", "20s"]),
            pick(&["1ns", "1d"]),
            pick(&[
                "{ kind = \"none\" }",
                "{ kind = \"fixed\", interval = \"1ms\", extend = \"12h\" }",
                "{ kind = \"fixed\", interval = \"12h\", extend = \"0s\" }",
                "{ kind = \"adaptive\", interval = \"1ms\", multiple = 1e300, min_extend = \"12h\" }",
                "{ kind = \"adaptive\", interval = \"1ms\", multiple = 1e-300, min_extend = \"0s\" }",
            ]),
            pick(&[
                "{ kind = \"expire\" }",
                "{ kind = \"release\" }",
                "{ kind = \"backoff\", base = \"0s\", max = \"12h\" }",
                "{ kind = \"backoff\", base = \"12h\", max = \"12h\" }",
            ]),
            pick(&[
                "{ mtbf = \"1s\", restart_delay = \"0s\" }",
                "{ at = [\"0s\", \"0s\"], restart_delay = \"3650d\" }",
                "{}",
            ]),
        ),
        (
            pick(&[
                "\"0s\"",
                "\"3650d\"",
                "{ kind = \"uniform\", low = \"0s\", high = \"3650d\" }",
                "{ kind = \"exponential\", mean = \"1ns\" }",
                "{ kind = \"lognormal\", median = \"1ns\", p99 = \"3650d\" }",
                "{ kind = \"pareto\", scale = \"1ns\", shape = 1e-300 }",
                "{ kind = \"sequence\", values = [\"0s\", \"3650d\"] }",
            ]),
            pick(&["0.0", "1.0"]),
            pick(&["0.0", "1.0"]),
            pick(&["0.0", "1.0", "0.999"]),
            pick(&["none", "check_then_mark", "claim_first", "atomic"]),
            pick(&["1ns", "365d"]),
            0..=i64::MAX as u64,
        ),
    )
        .prop_map(
            move |(
                (msgs, arrival, delay, vt, max_recv),
                (policy, miss, dup, cap),
                (count, conc, wait, backoff, hb, fail, crash),
                (dur, fp, poison, loss, strategy, claim, seed),
            )| {
                format!(
                    r#"name = "extreme"
seed = {seed}
[run]
messages = {msgs}
[producer]
arrival = {arrival}
delay = "{delay}"
max_send_retries = 100
[queue]
visibility_timeout = "{vt}"
max_receive_count = {max_recv}
delete_policy = "{policy}"
short_poll_miss = {miss}
broker_duplicate = {dup}
inflight_limit = {cap}
retention = "1m"
redrive_at = ["0s", "3650d"]
[[workers]]
name = "w"
count = {count}
concurrency = {conc}
receive = {{ max = 10, wait = "{wait}", idle_backoff = "{backoff}" }}
heartbeat = {hb}
on_failure = {fail}
crash = {crash}
[handler]
duration = {dur}
fail_probability = {fp}
poison_fraction = {poison}
[network]
loss = {loss}
latency = "1ns"
timeout = "1ns"
[idempotency]
strategy = "{strategy}"
claim_ttl = "{claim}"
key_ttl = "1ns"
"#
                )
            },
        )
}

// ------------------------------------------------------------ runs

/// Counts of how inputs ended, and the failures.
#[derive(Default, Debug)]
struct Tally {
    rejected: u64,
    limited: u64,
    ran: u64,
}

fn fuzz(name: &str, cases: u32, strategy: impl Strategy<Value = String>) -> Tally {
    let config = Config { cases, failure_persistence: None, max_shrink_iters: 200, ..Config::default() };
    let mut runner = TestRunner::new(config);
    let tally = std::cell::RefCell::new(Tally::default());
    let result = runner.run(&strategy, |text| {
        let end = exercise(&text).map_err(|m| TestCaseError::fail(format!("{m}\n--- input:\n{text}")))?;
        let mut t = tally.borrow_mut();
        match end {
            End::Rejected => t.rejected += 1,
            End::Limited => t.limited += 1,
            End::Ran => t.ran += 1,
        }
        Ok(())
    });
    if let Err(e) = result {
        panic!("{name}: {e}");
    }
    tally.into_inner()
}

fn cases_from_env(var: &str, default: u32) -> u32 {
    std::env::var(var).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

#[test]
fn mutated_scenario_text_never_panics() {
    let t = fuzz("mutated text", 300, mutated_text());
    assert!(t.rejected > 0 && t.ran + t.limited > 0, "the generator should reach both outcomes: {t:?}");
}

#[test]
fn extreme_in_range_scenarios_never_panic_or_run_away() {
    let t = fuzz("extreme values", 60, extreme_scenario());
    assert!(t.ran + t.limited > 0, "{t:?}");
}

/// The big run recorded in reports/fuzz.md (by hand, release build).
#[test]
#[ignore]
fn fuzz_a_million_cases() {
    let started = Instant::now();
    let text_cases = cases_from_env("FUZZ_TEXT_CASES", 980_000);
    let extreme_cases = cases_from_env("FUZZ_EXTREME_CASES", 20_000);
    let a = fuzz("mutated text", text_cases, mutated_text());
    println!("mutated text: {text_cases} cases: {a:?} ({:?})", started.elapsed());
    let b = fuzz("extreme values", extreme_cases, extreme_scenario());
    println!("extreme values: {extreme_cases} cases: {b:?} ({:?})", started.elapsed());
    if let Ok(status) = std::fs::read_to_string("/proc/self/status") {
        if let Some(hwm) = status.lines().find(|l| l.starts_with("VmHWM")) {
            println!("peak RSS of the whole fuzz run: {hwm}");
        }
    }
}

// ------------------------------------------------------------ corpus

/// Inputs that once misbehaved (issue 15 and the fuzz runs), kept as
/// regression tests. Each must end without a panic or a bug.
#[test]
fn corpus_of_interesting_cases() {
    let plain = PLAIN.to_string();
    let corpus: Vec<String> = vec![
        // "30s30s" was 60 s.
        plain.replace("visibility_timeout = \"2s\"", "visibility_timeout = \"30s30s\""),
        // A NaN sweep bound: validate said ok, the sweep panicked.
        format!("{PLAIN}[sweep]\n\"queue.short_poll_miss\" = {{ from = nan, to = 0.5, step = 0.1 }}\n"),
        format!("{PLAIN}[sweep]\n\"queue.short_poll_miss\" = {{ from = inf, to = inf, step = 1.0 }}\n"),
        // Integer ranges at i64's edge overflowed a + s * i.
        format!("{PLAIN}[sweep]\n\"run.max_events\" = {{ from = 9223372036854775806, to = 9223372036854775807, step = 1 }}\n"),
        // A 1 ns long poll kept one parked entry per empty poll (4 GiB).
        plain.replace("receive = { max = 10, wait = \"1s\" }", "receive = { max = 10, wait = \"1ns\" }"),
        // A huge adaptive multiple overflowed now + extension.
        plain.replace("multiple = 2.0", "multiple = 1e300"),
        // count x concurrency allocated up front.
        plain.replace("count = 2\nconcurrency = 2", "count = 100000\nconcurrency = 65535"),
        // An empirical CSV read whole.
        plain.replace("latency = { kind = \"lognormal\", median = \"100ms\", p99 = \"900ms\" }", "latency = { kind = \"empirical\", file = \"/dev/zero\" }"),
        // mean over one replication, known only after the run.
        format!("{PLAIN}[expect]\nduplicate_rate = {{ mean = \"< 0.1\" }}\n"),
        // where on a value not in the grid.
        format!("{PLAIN}{SWEEP_TAIL}[[expect.points]]\nwhere = {{ \"queue.visibility_timeout\" = \"7s\" }}\nduplicate_effects = 0\n"),
        // A comma and a quote in a worker name.
        plain.replace("name = \"a\"", "name = 'a,\"b\"'"),
        // Sampled latencies at the 3650 d cap, summed.
        plain.replace("steps = [{ delay = \"200ms\" }, { call = \"db\", effect = true }]", "steps = [{ delay = \"3650d\" }, { delay = \"3650d\" }, { delay = \"3650d\" }]"),
    ];
    for (i, text) in corpus.iter().enumerate() {
        if let Err(m) = exercise(text) {
            panic!("corpus case {i}: {m}");
        }
    }
}
