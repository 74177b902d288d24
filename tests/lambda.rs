//! The Lambda event source mapping rules of docs/model.md ("Lambda event
//! source mapping"), each checked against its documented behaviour: scripted
//! timelines row by row to the nanosecond (expected rows worked out by hand
//! from the rules), the configuration checks, the scaling curve against the
//! +300/min rule, and proptest properties over random Lambda scenarios
//! (conservation, determinism, no duplicates with partial batch responses).

mod common;
use common::*;
use proptest::prelude::*;
use std::path::Path;

fn lambda(s: &dupsim::Summary) -> serde_json::Value {
    s.to_json()["lambda"].clone()
}

/// One poller (initial concurrency 1, no scaling) gathers the three messages
/// sent at 0 into one batch (window 1 s, batch size 3) and invokes at once.
/// Each record calls `db` then works 1 s; `db` is down from 2 s to 10 s, so
/// record 3 fails at 2 s. VT 30 s.
const BATCH: &str = r#"
name = "batch"
[producer]
arrival = { kind = "scripted", at = ["0s", "0s", "0s"] }
[queue]
visibility_timeout = "30s"
[[dependencies]]
name = "db"
latency = "0s"
outages = [{ from = "2s", to = "10s", mode = "error" }]
[[functions]]
name = "fn"
batch_size = 3
batching_window = "1s"
timeout = "5s"
initial_concurrency = 1
scale_per_minute = 0
[handler]
steps = [{ call = "db" }, { delay = "1s" }]
"#;

/// An exception fails the whole batch: records 1 and 2, whose effects
/// committed, return with record 3 when their VT ends at 30 and run again
/// (duplicate effects, cause after_failure); nothing is deleted at 2.
#[test]
fn an_exception_fails_the_whole_batch_and_reruns_its_successes() {
    let (rows, s) = trace_run(BATCH, &[]);
    assert_rows(
        &rows,
        &[
            "0,send,1,,,",
            "0,receive,1,fn#1,1,",
            "0,send,2,,,",
            "0,receive,2,fn#1,1,",
            "0,send,3,,,",
            "0,receive,3,fn#1,1,",
            "1,effect,1,fn#1,1,",
            "2,effect,2,fn#1,1,",
            "2,fail,3,fn#1,1,dependency error",
            "2,fail,1,fn#1,1,batch failed: returned although it succeeded",
            "2,fail,2,fn#1,1,batch failed: returned although it succeeded",
            "30,expire,1,,1,",
            "30,receive,1,fn#2,2,",
            "30,expire,2,,1,",
            "30,receive,2,fn#2,2,",
            "30,expire,3,,1,",
            "30,receive,3,fn#2,2,",
            "31,duplicate_effect,1,fn#2,2,",
            "32,duplicate_effect,2,fn#2,2,",
            "33,effect,3,fn#2,2,",
            "33,delete,1,fn#2,2,",
            "33,delete,2,fn#2,2,",
            "33,delete,3,fn#2,2,",
        ],
    );
    assert_eq!(s.duplicate_effects, 2);
    assert_eq!(s.causes.after_failure, 3);
    let l = lambda(&s);
    assert_eq!(l["invocations"], 2);
    assert_eq!(l["errors"], 1);
    assert_eq!(l["records"], 6);
    // DeleteMessageBatch: one request for the three records.
    assert_eq!(l["delete_batch_requests"], 1);
    assert_eq!(s.api_calls.delete, 1);
}

/// ReportBatchItemFailures: record 3 is reported, records 1 and 2 are
/// deleted when the invocation returns at 2; only record 3 comes back at 30,
/// waits out its 1 s batching window alone, and runs: no duplicate.
#[test]
fn a_partial_batch_response_returns_only_the_failed_record() {
    let (rows, s) = trace_run(BATCH, &["functions.report_batch_item_failures=true"]);
    assert_rows(
        &rows,
        &[
            "0,send,1,,,",
            "0,receive,1,fn#1,1,",
            "0,send,2,,,",
            "0,receive,2,fn#1,1,",
            "0,send,3,,,",
            "0,receive,3,fn#1,1,",
            "1,effect,1,fn#1,1,",
            "2,effect,2,fn#1,1,",
            "2,fail,3,fn#1,1,dependency error",
            "2,delete,1,fn#1,1,",
            "2,delete,2,fn#1,1,",
            "30,expire,3,,1,",
            "30,receive,3,fn#2,2,",
            "32,effect,3,fn#2,2,",
            "32,delete,3,fn#2,2,",
        ],
    );
    assert_eq!(s.duplicate_effects, 0);
    let l = lambda(&s);
    assert_eq!(l["errors"], 0);
    assert_eq!(l["records_reported_failed"], 1);
}

/// FIFO with partial batch responses: processing stops at the first failure
/// (record 2, `db` down from 1 s); it returns with every later record (3,
/// never run), record 1 is deleted. The group's messages come back together
/// once both leases have ended (30.001) and run in order.
#[test]
fn fifo_stops_at_the_first_failure_and_returns_the_rest() {
    let text = r#"
name = "fifo"
[producer]
arrival = { kind = "scripted", at = ["0s", "0s", "0s"] }
[queue]
kind = "sqs_fifo"
visibility_timeout = "30s"
[[dependencies]]
name = "db"
latency = "0s"
outages = [{ from = "1s", to = "2s", mode = "error" }]
[[functions]]
name = "fn"
batch_size = 10
timeout = "5s"
initial_concurrency = 1
scale_per_minute = 0
start_at = "1ms"
report_batch_item_failures = true
[handler]
steps = [{ call = "db" }, { delay = "1s" }]
"#;
    let (rows, s) = trace_run(text, &[]);
    assert_rows(
        &rows,
        &[
            "0,send,1,,,",
            "0,send,2,,,",
            "0,send,3,,,",
            "0.001,receive,1,fn#1,1,",
            "0.001,receive,2,fn#1,1,",
            "0.001,receive,3,fn#1,1,",
            "1.001,effect,1,fn#1,1,",
            "1.001,fail,2,fn#1,1,dependency error",
            "1.001,delete,1,fn#1,1,",
            "1.001,fail,3,fn#1,1,not processed: an earlier record failed (FIFO)",
            "30.001,expire,2,,1,",
            "30.001,expire,3,,1,",
            "30.001,receive,2,fn#2,2,",
            "30.001,receive,3,fn#2,2,",
            "31.001,effect,2,fn#2,2,",
            "32.001,effect,3,fn#2,2,",
            "32.001,delete,2,fn#2,2,",
            "32.001,delete,3,fn#2,2,",
        ],
    );
    assert_eq!(s.duplicate_effects, 0);
    assert_eq!(s.order_violations, Some(0));
    assert_eq!(lambda(&s)["records_reported_failed"], 2);
}

/// The function timeout fails the whole batch too, with report_batch_item_failures:
/// record 1 (1 s) commits, record 2 is cut at the 1.5 s timeout; both return.
#[test]
fn a_timeout_fails_the_whole_batch() {
    let (rows, s) = trace_run(
        BATCH,
        &["functions.timeout=1500ms", "functions.report_batch_item_failures=true", "run.max_sim_time=20s"],
    );
    assert_rows(
        &rows[6..10],
        &[
            "1,effect,1,fn#1,1,",
            "1.5,fail,2,fn#1,1,function timeout",
            "1.5,fail,1,fn#1,1,batch failed: returned although it succeeded",
            "1.5,fail,3,fn#1,1,batch failed: not processed",
        ],
    );
    assert_eq!(lambda(&s)["timeouts"], 1);
    // Billed duration: 1.5 s x 128 MB.
    assert_eq!(lambda(&s)["gb_seconds"], 1.5 * 128.0 / 1024.0);
}

/// Reserved concurrency 1, two pollers, one message each. The second
/// invocation is throttled at 0.001, retried at 1.001 and 2.001 (the first
/// still runs until 2.501); a retry at 3.001 would reach the VT (3 s from the
/// receive), so the batch is given up at 2.001 unrun. Its message shows again
/// at 3.001 and, with maxReceiveCount 1, goes to the DLQ: it never ran.
#[test]
fn throttled_messages_reach_the_dlq_without_running() {
    let text = r#"
name = "throttle"
[producer]
arrival = { kind = "scripted", at = ["0s", "0s"] }
[queue]
visibility_timeout = "3s"
max_receive_count = 1
[[functions]]
name = "fn"
batch_size = 1
timeout = "3s"
initial_concurrency = 2
scale_per_minute = 0
reserved_concurrency = 1
start_at = "1ms"
[handler]
duration = "2500ms"
"#;
    let (rows, s) = trace_run(text, &[]);
    assert_rows(
        &rows,
        &[
            "0,send,1,,,",
            "0,send,2,,,",
            "0.001,receive,1,fn#1,1,",
            "0.001,receive,2,fn#2,1,",
            "2.001,fail,2,fn#2,1,throttled: returned unrun",
            "2.501,effect,1,fn#1,1,",
            "2.501,delete,1,fn#1,1,",
            "3.001,expire,2,,1,",
            "3.001,dlq,2,,1,",
        ],
    );
    let l = lambda(&s);
    assert_eq!(l["throttles"], 3);
    assert_eq!(l["throttled_batches"], 1);
    assert_eq!(l["invocations"], 1);
    assert_eq!(s.final_states.dlq, 1);
    assert_eq!(s.effects, 1);
    assert_eq!(s.failures, 0);
}

/// A burst of 300 messages, each running 800 s: the mapping starts with 5
/// concurrent batches and adds 5 each second (300 per minute) while messages
/// wait, so in second k at most 5 + 5k invocations run, until all 300 run;
/// with maximum_concurrency 50 it stops at 50.
#[test]
fn concurrency_grows_by_300_per_minute_from_5() {
    let text = r#"
name = "scaling"
[run]
messages = 300
timeseries_bucket = "1s"
max_sim_time = "90s"
[producer]
arrival = { kind = "constant", interval = "1ms" }
[queue]
visibility_timeout = "15m"
[[functions]]
name = "fn"
batch_size = 1
timeout = "15m"
[handler]
duration = "800s"
"#;
    for (cap, sets) in [(300u64, vec![]), (50, vec!["functions.maximum_concurrency=50"])] {
        let s = run_text(text, &sets);
        let l = lambda(&s);
        let series: Vec<u64> = l["concurrency"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap()).collect();
        assert!(series.len() >= 80, "{series:?}");
        for (k, &c) in series.iter().enumerate().take(80) {
            assert_eq!(c, (5 + 5 * k as u64).min(cap), "second {k}: {series:?}");
        }
        assert_eq!(l["concurrency_max"], cap);
    }
}

/// Back-off: every call fails from 10 s to 20 s (invocations of 500 ms, one
/// record each). Until 10 s the mapping grows by 5 a second (55 at 10 s);
/// each once-a-second check after a failed invocation halves the
/// concurrency, not below the initial 5: 27 at 11 s, 13 at 12 s, 6 at 13 s,
/// 5 from 14 s. Pollers above the target stop when their invocation ends, so
/// second k still sees the invocations that began before its check.
#[test]
fn failed_invocations_halve_the_concurrency() {
    let text = r#"
name = "backoff"
[run]
messages = 5000
timeseries_bucket = "1s"
max_sim_time = "20s"
[producer]
arrival = { kind = "constant", interval = "1ms" }
[queue]
visibility_timeout = "15m"
[[dependencies]]
name = "db"
latency = "500ms"
brownouts = [{ from = "10s", to = "20s", error_probability = 1.0 }]
[[functions]]
name = "fn"
batch_size = 1
timeout = "1s"
[handler]
steps = [{ call = "db" }]
"#;
    let s = run_text(text, &[]);
    let l = lambda(&s);
    let series: Vec<u64> = l["concurrency"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap()).collect();
    let mut want: Vec<u64> = (0..=10).map(|k| 5 + 5 * k).collect();
    want.extend([55, 27, 13, 6, 5, 5, 5, 5, 5]);
    assert_eq!(&series[..20], &want[..], "{series:?}");
    // With partial batch responses a failed record is no exception: no back-off.
    let s = run_text(text, &["functions.report_batch_item_failures=true"]);
    let l = lambda(&s);
    let series: Vec<u64> = l["concurrency"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap()).collect();
    let want: Vec<u64> = (0..20).map(|k| 5 + 5 * k).collect();
    assert_eq!(&series[..20], &want[..], "{series:?}");
}

/// AWS rejects a mapping whose function timeout is above the queue's VT: exit
/// 2, the value's location, the rule named.
#[test]
fn a_function_timeout_above_the_visibility_timeout_is_rejected() {
    let text = BATCH.replace("timeout = \"5s\"", "timeout = \"31s\"");
    let source = dupsim::Source::from_text(Path::new("lambda.toml"), text.clone()).unwrap();
    let e = source.resolve(&[], None).unwrap_err().to_string();
    let line = text.lines().position(|l| l.contains("\"31s\"")).unwrap() + 1;
    assert!(e.contains(&format!("lambda.toml:{line}:")), "{e}");
    assert!(e.contains("above the visibility timeout of queue `queue`"), "{e}");
    // Equal is allowed.
    let ok = BATCH.replace("timeout = \"5s\"", "timeout = \"30s\"");
    assert!(dupsim::Source::from_text(Path::new("lambda.toml"), ok).unwrap().resolve(&[], None).is_ok());

    let dir = std::env::temp_dir().join(format!("dupsim-lambda-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("bad.toml");
    std::fs::write(&file, &text).unwrap();
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_dupsim"))
        .args(["run", file.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains(&format!("bad.toml:{line}:")) && err.contains("visibility timeout"), "{err}");
    std::fs::remove_dir_all(&dir).ok();
}

/// VT below 6x the function timeout is a warning (summary and stderr); 6x is not.
#[test]
fn a_visibility_timeout_below_six_times_the_function_timeout_warns() {
    let warned = |sets: &[&str]| {
        let s = run_text(BATCH, sets);
        s.warnings.iter().any(|w| w.contains("below 6x the function timeout"))
    };
    assert!(!warned(&[])); // 30 s is exactly 6 x 5 s
    assert!(!warned(&["functions.timeout=4s"])); // 30 s >= 24 s
    assert!(warned(&["functions.timeout=5001ms"]));

    let dir = std::env::temp_dir().join(format!("dupsim-lambda-warn-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("warn.toml");
    std::fs::write(&file, BATCH.replace("timeout = \"5s\"", "timeout = \"10s\"")).unwrap();
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_dupsim"))
        .args(["run", file.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("warning: function fn:") && err.contains("below 6x"), "{err}");
    std::fs::remove_dir_all(&dir).ok();
}

/// Every key of a Lambda run's summary is documented in docs/output.md.
#[test]
fn output_doc_lists_the_lambda_keys() {
    let doc = std::fs::read_to_string("docs/output.md").unwrap();
    let s = dupsim::run_file(Path::new("scenarios/lambda-throttle-dlq.toml"), &[], None).unwrap();
    let l = lambda(&s);
    let keys: Vec<&String> = l.as_object().unwrap().keys().collect();
    assert!(keys.len() >= 10, "{keys:?}");
    let missing: Vec<&&String> = keys.iter().filter(|k| !doc.contains(&format!("`{k}`"))).collect();
    assert!(missing.is_empty(), "lambda keys missing from docs/output.md: {missing:?}");
    assert!(doc.contains("`lambda`") && doc.contains("`warnings`"));
}

// ------------------------------------------------------------ properties

#[derive(Debug, Clone)]
struct Lam {
    fifo: bool,
    batch: u32,
    window: bool,
    rbif: bool,
    reserved: Option<u32>,
    poison: f64,
    fail: f64,
    vt_s: u32,
    timeout_s: u32,
    max_receive: Option<u32>,
    rate: f64,
    mean_ms: u32,
    seed: u64,
}

fn lams() -> impl Strategy<Value = Lam> {
    (
        (any::<bool>(), 1u32..=10, any::<bool>(), any::<bool>(), prop::option::of(0u32..=6)),
        (0.0..0.1f64, 0.0..0.1f64, 1u32..=60, 1u32..=10, prop::option::of(1u32..=4)),
        (1.0..50.0f64, 1u32..=500, 0u64..1000),
    )
        .prop_map(
            |(
                (fifo, batch, window, rbif, reserved),
                (poison, fail, vt_s, timeout_s, max_receive),
                (rate, mean_ms, seed),
            )| Lam {
                fifo,
                batch,
                window: window && !fifo,
                rbif,
                reserved,
                poison,
                fail,
                vt_s: vt_s.max(timeout_s),
                timeout_s,
                max_receive,
                rate,
                mean_ms,
                seed,
            },
        )
}

fn lam_scenario(l: &Lam) -> String {
    let mut t = format!(
        "name = \"prop\"\nseed = {}\n[run]\nmessages = 150\nmax_sim_time = \"2h\"\n[producer]\narrival = {{ kind = \"poisson\", rate = {} }}\n[queue]\nvisibility_timeout = \"{}s\"\n",
        l.seed, l.rate, l.vt_s
    );
    if l.fifo {
        t += "kind = \"sqs_fifo\"\ngroups = 7\n";
    }
    if let Some(m) = l.max_receive {
        t += &format!("max_receive_count = {m}\n");
    }
    t += &format!(
        "[[functions]]\nname = \"fn\"\nbatch_size = {}\ntimeout = \"{}s\"\nreport_batch_item_failures = {}\n",
        l.batch, l.timeout_s, l.rbif
    );
    if l.window {
        t += "batching_window = \"1s\"\n";
    }
    if let Some(r) = l.reserved {
        t += &format!("reserved_concurrency = {r}\n");
    }
    t += &format!(
        "[handler]\nduration = {{ kind = \"exponential\", mean = \"{}ms\" }}\npoison_fraction = {}\nfail_probability = {}\n",
        l.mean_ms, l.poison, l.fail
    );
    t
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 40, ..ProptestConfig::default() })]

    /// Every message ends in exactly one final state, redeliveries sum by
    /// cause, and the mapping's counters are coherent.
    #[test]
    fn lambda_runs_conserve_messages(l in lams()) {
        let s = run_text(&lam_scenario(&l), &[]);
        prop_assert_eq!(s.final_states.total(), s.sent);
        let c = &s.causes;
        prop_assert_eq!(c.concurrent + c.after_failure + c.after_crash + c.after_success + c.broker, s.redeliveries);
        prop_assert!(s.effects - s.duplicate_effects <= s.logical_sent);
        let j = lambda(&s);
        let n = |k: &str| j[k].as_u64().unwrap();
        prop_assert!(n("records") <= s.deliveries);
        prop_assert!(n("invocations") * u64::from(l.batch) >= n("records"));
        prop_assert!(n("delete_batch_requests") <= n("invocations"));
        prop_assert!(n("concurrency_max") <= u64::from(l.reserved.unwrap_or(1000)));
        if l.reserved.is_none() {
            prop_assert_eq!(n("throttles"), 0);
        }
        if !l.rbif {
            prop_assert_eq!(n("records_reported_failed"), 0);
        }
        if s.stop_reason == "drained" {
            prop_assert_eq!(s.final_states.in_flight + s.final_states.visible, 0);
        }
    }

    /// Same scenario and seed: byte-identical summaries; the second run
    /// checks the invariants after every event (`--paranoid`: the queue's
    /// books and lease timers, busy slots = pollers holding a batch).
    #[test]
    fn lambda_runs_are_deterministic(l in lams()) {
        let text = lam_scenario(&l);
        prop_assert_eq!(json_without_perf(&run_text(&text, &[])), json_without_perf(&run_text_paranoid(&text, &[])));
    }

    /// With partial batch responses, no throttles, and a VT of at least 6x
    /// the timeout plus the window, only failed records return: a committed
    /// effect never runs again (the handler's failures come at its end, after
    /// no effect).
    #[test]
    fn partial_batch_responses_never_rerun_a_success(mut l in lams()) {
        l.rbif = true;
        l.reserved = None;
        l.vt_s = 6 * l.timeout_s + 1;
        l.mean_ms = l.mean_ms.min(50);
        let s = run_text(&lam_scenario(&l), &["functions.timeout=10s", "queue.visibility_timeout=61s"]);
        prop_assume!(lambda(&s)["timeouts"] == 0);
        prop_assert_eq!(s.duplicate_effects, 0, "{}", s.to_text());
    }
}
