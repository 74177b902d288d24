//! Faults and defences: properties over random scenarios (proptest), and
//! loss probabilities reproduced within sampling error.

mod common;
use common::*;
use proptest::prelude::*;

/// A random scenario with every fault switchable.
#[derive(Debug, Clone)]
struct Faults {
    seed: u64,
    vt_s: u32,
    heartbeat_s: Option<u32>,
    crash_mtbf_s: Option<u32>,
    loss: f64,
    latency_ms: u32,
    fail_p: f64,
    max_receive: Option<u32>,
    policy: &'static str,
    on_failure: &'static str,
    broker_dup: f64,
    strategy: &'static str,
    delay_s: u32,
    concurrency: u32,
    dependency_timeout_s: Option<u32>,
    change_visibility_policy: &'static str,
    visible_order: &'static str,
}

fn faults() -> impl Strategy<Value = Faults> {
    (
        (0u64..(i64::MAX as u64), 1u32..120, prop::option::of(1u32..60), prop::option::of(20u32..600)),
        (0.0f64..0.3, 0u32..200, 0.0f64..0.5, prop::option::of(1u32..6)),
        (
            prop::sample::select(vec!["latest_only", "any_handle", "strict"]),
            prop::sample::select(vec!["expire", "release", "backoff"]),
            0.0f64..0.2,
            prop::sample::select(vec!["none", "check_then_mark", "claim_first", "atomic"]),
        ),
        (
            0u32..5,
            1u32..4,
            prop::option::of(1u32..20),
            prop::sample::select(vec!["any_handle", "latest_only"]),
            prop::sample::select(vec!["oldest_sent", "became_visible"]),
        ),
    )
        .prop_map(|(a, b, c, d)| Faults {
            seed: a.0,
            vt_s: a.1,
            heartbeat_s: a.2,
            crash_mtbf_s: a.3,
            loss: b.0,
            latency_ms: b.1,
            fail_p: b.2,
            max_receive: b.3,
            policy: c.0,
            on_failure: c.1,
            broker_dup: c.2,
            strategy: c.3,
            delay_s: d.0,
            concurrency: d.1,
            dependency_timeout_s: d.2,
            change_visibility_policy: d.3,
            visible_order: d.4,
        })
}

fn scenario(f: &Faults) -> String {
    let heartbeat = f
        .heartbeat_s
        .map(|i| format!("heartbeat = {{ kind = \"fixed\", interval = \"{i}s\", extend = \"{}s\" }}", i * 2))
        .unwrap_or_default();
    let crash =
        f.crash_mtbf_s.map(|m| format!("crash = {{ mtbf = \"{m}s\", restart_delay = \"5s\" }}")).unwrap_or_default();
    let on_failure = match f.on_failure {
        "backoff" => "{ kind = \"backoff\", base = \"1s\", max = \"20s\" }".to_string(),
        k => format!("{{ kind = \"{k}\" }}"),
    };
    let mrc = f.max_receive.map(|m| format!("max_receive_count = {m}")).unwrap_or_default();
    let timeout = f.dependency_timeout_s.map(|t| format!("timeout = \"{t}s\"")).unwrap_or_default();
    format!(
        r#"
name = "random"
seed = {seed}
[run]
messages = 300
max_sim_time = "3d"
[producer]
arrival = {{ kind = "poisson", rate = 5.0 }}
delay = "{delay}s"
[queue]
visibility_timeout = "{vt}s"
delete_policy = "{policy}"
change_visibility_policy = "{cv_policy}"
visible_order = "{order}"
broker_duplicate = {dup}
{mrc}
[[workers]]
name = "w"
count = 6
concurrency = {conc}
receive = {{ max = 10, wait = "5s" }}
on_failure = {on_failure}
{heartbeat}
{crash}
[handler]
steps = [{{ delay = {{ kind = "exponential", mean = "2s" }} }}, {{ call = "db" }}]
fail_probability = {fail}
[[dependencies]]
name = "db"
latency = {{ kind = "lognormal", median = "1s", p99 = "8s" }}
error_probability = 0.02
{timeout}
brownouts = [{{ from = "20s", to = "40s", latency_multiplier = 5.0 }}]
[network]
loss = {loss}
latency = {{ kind = "uniform", low = "0ms", high = "{lat}ms" }}
[idempotency]
strategy = "{strategy}"
latency = "5ms"
"#,
        seed = f.seed,
        delay = f.delay_s,
        vt = f.vt_s,
        policy = f.policy,
        cv_policy = f.change_visibility_policy,
        order = f.visible_order,
        dup = f.broker_dup,
        conc = f.concurrency,
        fail = f.fail_p,
        loss = f.loss,
        lat = f.latency_ms,
        strategy = f.strategy,
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Every message ends in exactly one final state; counts stay coherent.
    #[test]
    fn conservation_holds_with_every_fault_on(f in faults()) {
        // Checked after every event too (--paranoid): one lease timer per
        // in-flight message, receive counts only grow, the books balance.
        let s = run_text_paranoid(&scenario(&f), &[]);
        let fin = &s.final_states;
        prop_assert_eq!(fin.total(), s.sent);
        prop_assert_eq!(s.sent, s.logical_sent + s.producer_duplicates);
        prop_assert!(s.effects >= s.duplicate_effects);
        prop_assert!(s.effects - s.duplicate_effects <= s.logical_sent);
        let c = &s.causes;
        prop_assert_eq!(c.concurrent + c.after_failure + c.after_crash + c.after_success + c.broker, s.redeliveries);
        if s.stop_reason == "drained" {
            prop_assert_eq!(fin.in_flight + fin.visible, 0);
        }
        if let Some(m) = f.max_receive {
            prop_assert!(s.dlq_deliveries.as_ref().is_none_or(|d| d.max <= m));
        }
    }

    /// `atomic` commits the mark with the effect: never a duplicate effect,
    /// whatever the faults (no key TTL).
    #[test]
    fn atomic_never_duplicates(mut f in faults()) {
        f.strategy = "atomic";
        let s = run_text_paranoid(&scenario(&f), &[]);
        prop_assert_eq!(s.duplicate_effects, 0, "{}", s.to_text());
    }

    /// The same inputs give the same summary.
    #[test]
    fn runs_are_deterministic(f in faults()) {
        let text = scenario(&f);
        let plain = json_without_perf(&run_text(&text, &[]));
        prop_assert_eq!(&plain, &json_without_perf(&run_text(&text, &[])));
        // Checking invariants changes no result.
        prop_assert_eq!(&plain, &json_without_perf(&run_text_paranoid(&text, &[])));
    }
}

#[test]
fn no_idempotency_with_lossy_deletes_duplicates_after_success() {
    let text = std::fs::read_to_string("scenarios/delete-lost.toml").unwrap();
    let s = run_text(&text, &[]);
    assert!(s.causes.after_success > 0 && s.duplicate_effects > 0, "{}", s.to_text());
    assert_eq!(s.idempotency.duplicates_through.unprotected, s.duplicate_effects);
    let atomic = run_text(&text, &["idempotency.strategy=atomic"]);
    assert_eq!(atomic.duplicate_effects, 0);
    assert!(atomic.idempotency.suppressed > 0);
}

/// Request loss p on deletes: the broker sees a fraction 1-p of the deletes.
#[test]
fn delete_request_loss_is_reproduced() {
    let text = std::fs::read_to_string("scenarios/delete-lost.toml").unwrap();
    let s = run_text(&text, &["network.delete.request_loss=0.2", "network.delete.response_loss=0"]);
    // Every attempt succeeds and calls delete once.
    let attempts = s.deliveries;
    assert_binomial(s.api_calls.delete, attempts, 0.8, 4.0, "deletes reaching the broker");
    // Each lost delete request brings its message back exactly once more.
    assert_eq!(s.causes.after_success, attempts - s.api_calls.delete);
}

/// A lost delete response deletes the message: no redelivery.
#[test]
fn delete_response_loss_deletes_anyway() {
    let text = std::fs::read_to_string("scenarios/delete-lost.toml").unwrap();
    let s = run_text(&text, &["network.delete.request_loss=0", "network.delete.response_loss=0.5"]);
    assert_eq!((s.redeliveries, s.duplicate_effects), (0, 0));
    assert_eq!(s.api_calls.delete, s.sent);
}

/// Lost send responses make producer duplicates; lost requests are retried.
#[test]
fn lost_send_responses_make_producer_duplicates() {
    let text = std::fs::read_to_string("scenarios/delete-lost.toml").unwrap();
    let s = run_text(
        &text,
        &["network.send.response_loss=0.1", "network.delete.request_loss=0", "network.delete.response_loss=0"],
    );
    // Each accepted send whose response is lost is sent again (up to 3
    // retries): expected extra copies per message = 0.1 + 0.1^2 + 0.1^3.
    assert_binomial(s.producer_duplicates, s.logical_sent, 0.1 + 0.01 + 0.001, 4.0, "producer duplicates");
    assert_eq!(s.duplicate_effects, s.producer_duplicates);
    let atomic = run_text(
        &text,
        &[
            "network.send.response_loss=0.1",
            "network.delete.request_loss=0",
            "network.delete.response_loss=0",
            "idempotency.strategy=atomic",
        ],
    );
    assert_eq!(atomic.duplicate_effects, 0);
}

#[test]
fn claim_first_crash_leaves_the_claim_and_delays_the_retry() {
    let text = r#"
name = "claim"
[run]
messages = 1
[producer]
arrival = { kind = "constant", interval = "1s" }
[queue]
visibility_timeout = "10s"
[[workers]]
name = "A"
crash = { at = ["5s"], restart_delay = "1h" }
[[workers]]
name = "B"
on_failure = { kind = "backoff", base = "10s", max = "10s" }
start_at = "1s"
[handler]
duration = "30s"
[idempotency]
strategy = "claim_first"
claim_ttl = "2m"
"#;
    let s = run_text(text, &[]);
    // A claims at 0 and crashes at 5; B is turned away while the claim holds
    // (until 120 s), then proceeds: one effect, retry waits for the claim.
    assert_eq!(s.effects, 1);
    assert!(s.idempotency.rejected_in_progress >= 1, "{}", s.to_text());
    assert!(s.e2e_latency_s.p50 >= 120.0, "{}", s.to_text());
}

#[test]
fn brownout_duplicates_stay_inside_the_window() {
    let text = std::fs::read_to_string("scenarios/brownout.toml").unwrap();
    let s = run_text(&text, &[]);
    let minutes = &s.timeseries.duplicate_effects;
    // Calls start slow from 10m; the last slow calls finish within ~4 minutes after 20m.
    let inside: u64 = minutes.iter().enumerate().filter(|(m, _)| (10..25).contains(m)).map(|(_, d)| d).sum();
    let outside: u64 = minutes.iter().sum::<u64>() - inside;
    assert!(inside > 20, "{minutes:?}");
    // Outside the window a duplicate needs a normal call past the VT (30 s
    // less the 200 ms step): the lognormal's tail there is about 1e-5, so
    // over the ~4,800 calls made outside the window the count is Poisson
    // with a mean near 0.05, and more than 3 has a probability below 1e-5.
    let tail = dupsim::dist::Dist::lognormal(4_000_000_000, 12_000_000_000).survival(29_800_000_000).unwrap();
    let mean = 4_800.0 * tail;
    assert!(mean < 0.1, "mean {mean}");
    assert!(outside <= 3, "{outside} duplicates outside the brownout (expected about {mean:.3}): {minutes:?}");
}

#[test]
fn heartbeats_shorten_crash_retry_latency() {
    let long = dupsim::run_file(std::path::Path::new("scenarios/crash-storm.toml"), &[], None).unwrap();
    let short = dupsim::run_file(std::path::Path::new("scenarios/crash-storm-heartbeat.toml"), &[], None).unwrap();
    assert!(long.causes.after_crash > 0 && short.causes.after_crash > 0);
    assert!(long.retry_latency_s.p50 > 200.0 && short.retry_latency_s.p99 <= 30.5);
    assert_eq!((long.duplicate_effects, short.duplicate_effects), (0, 0));
}

#[test]
fn adaptive_heartbeat_keeps_long_jobs_leased() {
    let text = std::fs::read_to_string("scenarios/incident.toml").unwrap();
    let s = run_text(
        &text,
        &["workers.heartbeat={ kind = \"adaptive\", interval = \"10s\", multiple = 2.0, min_extend = \"30s\" }"],
    );
    assert_eq!(s.duplicate_effects, 0, "{}", s.to_text());
    assert!(s.heartbeats > 0);
}
