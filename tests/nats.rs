//! NATS JetStream rules of docs/model.md ("NATS JetStream"), each checked on
//! a scripted timeline, row by row to the nanosecond, against the rule as the
//! server source states it (nats-server `server/consumer.go`): BackOff steps,
//! -NAK ignoring BackOff, -NAK with a delay and its BackOff shift, +WPI
//! restarting the step, MaxAckPending, MaxDeliver advisories, late replies
//! matched by stream sequence, the publish deduplication window's edges and
//! subjects the stream does not capture. Then properties over random
//! JetStream scenarios: conservation and determinism.

mod common;
use common::*;
use proptest::prelude::*;

/// One message, one always-polling worker whose every attempt fails after 100 ms.
fn failing(queue: &str, on_failure: &str) -> String {
    format!(
        r#"
name = "failing"
[producer]
arrival = {{ kind = "scripted", at = ["0s"] }}
[queue]
kind = "jetstream"
{queue}
[[workers]]
name = "W"
receive = {{ max = 1, wait = "20s" }}
on_failure = {on_failure}
[handler]
duration = "100ms"
fail_probability = 1.0
"#
    )
}

/// BackOff [1s, 5s, 30s], MaxDeliver 4, failures left to the timer: delivery
/// n waits BackOff[min(n-1, 2)], so deliveries at 0, 1, 6 and 36; the fourth
/// step (30 s, the last entry repeated) ends at 66, where MaxDeliver is
/// reached: the message leaves pending with one advisory (final `dlq`).
#[test]
fn backoff_steps_then_the_max_deliveries_advisory() {
    let q = "backoff = [\"1s\", \"5s\", \"30s\"]\nmax_deliver = 4";
    let rows = trace_rows(&failing(q, "{ kind = \"expire\" }"), &[]);
    assert_rows(
        &rows,
        &[
            "0,send,1,,,",
            "0,receive,1,W,1,",
            "0.1,fail,1,W,1,handler error",
            "1,expire,1,,1,",
            "1,receive,1,W,2,",
            "1.1,fail,1,W,2,handler error",
            "6,expire,1,,2,",
            "6,receive,1,W,3,",
            "6.1,fail,1,W,3,handler error",
            "36,expire,1,,3,",
            "36,receive,1,W,4,",
            "36.1,fail,1,W,4,handler error",
            "66,expire,1,,4,",
            "66,dlq,1,,4,max deliveries advisory",
        ],
    );
    let s = run_text(&failing(q, "{ kind = \"expire\" }"), &[]);
    let j = s.to_json();
    assert_eq!(j["final"]["dlq"], 1);
    assert_eq!(j["nats"]["max_deliveries_advisories"], 1);
    assert_eq!(j["dlq_deliveries"]["max"], 4);
}

/// A plain -NAK redelivers at once whatever the BackOff list says (BackOff
/// [10s, 20s] would wait 10 s): deliveries at 0, 0.1 and 0.2; the third
/// -NAK queues the message, and the next pull finds MaxDeliver reached.
#[test]
fn a_plain_nak_ignores_backoff() {
    let q = "backoff = [\"10s\", \"20s\"]\nmax_deliver = 3";
    let rows = trace_rows(&failing(q, "{ kind = \"release\" }"), &[]);
    assert_rows(
        &rows,
        &[
            "0,send,1,,,",
            "0,receive,1,W,1,",
            "0.1,fail,1,W,1,handler error",
            "0.1,visible,1,W,1,released",
            "0.1,receive,1,W,2,",
            "0.2,fail,1,W,2,handler error",
            "0.2,visible,1,W,2,released",
            "0.2,receive,1,W,3,",
            "0.3,fail,1,W,3,handler error",
            "0.3,visible,1,W,3,released",
            "0.3,dlq,1,,3,max deliveries advisory",
        ],
    );
}

/// -NAK with a 4 s delay under BackOff [1s, 10s]. The server sets the
/// pending timestamp to now - AckWait + delay (AckWait = BackOff[0] = 1 s),
/// and the step of delivery n is BackOff[min(n-1, 1)]: redelivery at
/// now + 4 + BackOff[n-1] - 1, i.e. 0.1 + 4 = 4.1, then 4.2 + 13 = 17.2;
/// the third step ends at 17.3 + 13 = 30.3 with MaxDeliver 3 reached.
#[test]
fn nak_with_delay_is_shifted_by_backoff() {
    let q = "backoff = [\"1s\", \"10s\"]\nmax_deliver = 3";
    let nak = "{ kind = \"backoff\", base = \"4s\", max = \"4s\" }";
    let rows = trace_rows(&failing(q, nak), &[]);
    assert_rows(
        &rows,
        &[
            "0,send,1,,,",
            "0,receive,1,W,1,",
            "0.1,fail,1,W,1,handler error",
            "0.1,change_visibility,1,W,1,backoff",
            "4.1,expire,1,,1,",
            "4.1,receive,1,W,2,",
            "4.2,fail,1,W,2,handler error",
            "4.2,change_visibility,1,W,2,backoff",
            "17.2,expire,1,,2,",
            "17.2,receive,1,W,3,",
            "17.3,fail,1,W,3,handler error",
            "17.3,change_visibility,1,W,3,backoff",
            "30.3,expire,1,,3,",
            "30.3,dlq,1,,3,max deliveries advisory",
        ],
    );
}

/// The same with `nak_delay = "plain"` (the documentation's reading): every
/// redelivery comes exactly 4 s after its -NAK.
#[test]
fn nak_with_delay_plain_waits_the_delay() {
    let q = "backoff = [\"1s\", \"10s\"]\nmax_deliver = 3\nnak_delay = \"plain\"";
    let nak = "{ kind = \"backoff\", base = \"4s\", max = \"4s\" }";
    let rows = trace_rows(&failing(q, nak), &[]);
    let times: Vec<&str> =
        rows.iter().filter(|r| r.contains(",expire,")).map(|r| r.split(',').next().unwrap()).collect();
    assert_eq!(times, ["4.1", "8.2", "12.3"]);
    assert!(rows.last().unwrap().starts_with("12.3,dlq,1,,3,"));
}

/// Without BackOff a -NAK delay is the delay itself under either setting
/// (BackOff[n-1] - BackOff[0] is AckWait - AckWait = 0).
#[test]
fn nak_with_delay_without_backoff_is_the_delay() {
    let q = "ack_wait = \"30s\"\nmax_deliver = 2";
    let nak = "{ kind = \"backoff\", base = \"4s\", max = \"4s\" }";
    for variant in ["shifted", "plain"] {
        let rows = trace_rows(&failing(q, nak), &[&format!("queue.nak_delay={variant}")]);
        let times: Vec<&str> =
            rows.iter().filter(|r| r.contains(",expire,")).map(|r| r.split(',').next().unwrap()).collect();
        assert_eq!(times, ["4.1", "8.2"], "{variant}");
    }
}

/// +TERM acks the message at once: no redelivery, counted as `terminated`.
#[test]
fn term_stops_redelivery() {
    let rows = trace_rows(&failing("max_deliver = 5", "{ kind = \"term\" }"), &[]);
    assert_rows(&rows, &["0,send,1,,,", "0,receive,1,W,1,", "0.1,fail,1,W,1,handler error", "0.1,delete,1,W,1,+TERM"]);
    let j = run_text(&failing("", "{ kind = \"term\" }"), &[]).to_json();
    assert_eq!((j["nats"]["terminated"].as_u64(), j["final"]["deleted"].as_u64()), (Some(1), Some(1)));
}

/// One message, a 50 s handler and a +WPI every 20 s. AckWait 30 s: each
/// +WPI restarts the full step (the heartbeat's `extend` of 1 s plays no
/// part), so the step ends at 50, 70 instead of 30, and nothing expires.
/// Without the heartbeat the step ends at 30 and a second worker gets it.
#[test]
fn progress_restarts_the_ack_wait_step() {
    let text = r#"
name = "wpi"
[producer]
arrival = { kind = "scripted", at = ["0s"] }
[queue]
kind = "jetstream"
ack_wait = "30s"
[[workers]]
name = "A"
receive = { max = 1, wait = "20s" }
heartbeat = { kind = "fixed", interval = "20s", extend = "1s" }
[[workers]]
name = "B"
receive = { max = 1, wait = "20s" }
[handler]
duration = { kind = "sequence", values = ["50s", "5s"] }
"#;
    assert_rows(
        &trace_rows(text, &[]),
        &[
            "0,send,1,,,",
            "0,receive,1,A,1,",
            "20,heartbeat,1,A,1,",
            "40,heartbeat,1,A,1,",
            "50,effect,1,A,1,",
            "50,delete,1,A,1,",
        ],
    );
    let rows = trace_rows(text, &["workers.A.heartbeat.interval=off"]);
    assert_eq!(rows[2], "30,expire,1,,1,holder still processing");
    assert_eq!(rows[3], "30,receive,1,B,2,");
}

/// Under BackOff [5s, 60s] the step +WPI restarts is BackOff[0] = 5 s for
/// the first delivery: with a +WPI every 4 s a 10 s handler never expires;
/// every 6 s it expires at 5.
#[test]
fn progress_restarts_the_backoff_step() {
    let text = r#"
name = "wpi-backoff"
[producer]
arrival = { kind = "scripted", at = ["0s"] }
[queue]
kind = "jetstream"
backoff = ["5s", "60s"]
[[workers]]
name = "A"
receive = { max = 1, wait = "20s" }
heartbeat = { kind = "fixed", interval = "4s", extend = "1h" }
[handler]
duration = "10s"
"#;
    assert_rows(
        &trace_rows(text, &[]),
        &[
            "0,send,1,,,",
            "0,receive,1,A,1,",
            "4,heartbeat,1,A,1,",
            "8,heartbeat,1,A,1,",
            "10,effect,1,A,1,",
            "10,delete,1,A,1,",
        ],
    );
    let rows = trace_rows(text, &["workers.A.heartbeat.interval=6s"]);
    assert_eq!(rows[2], "5,expire,1,,1,holder still processing");
}

/// MaxAckPending 2, five messages at 0, a worker with five slots and a 10 s
/// handler: only two messages are ever pending; the others wait in the
/// stream until acks make room (at 10 and 20).
#[test]
fn max_ack_pending_caps_outstanding_messages() {
    let text = r#"
name = "map"
[producer]
arrival = { kind = "scripted", at = ["0s", "0s", "0s", "0s", "0s"] }
[queue]
kind = "jetstream"
max_ack_pending = 2
[[workers]]
name = "W"
concurrency = 5
receive = { max = 10, wait = "20s" }
[handler]
duration = "10s"
"#;
    let rows = trace_rows(text, &[]);
    let receives: Vec<&str> = rows.iter().filter(|r| r.contains(",receive,")).map(String::as_str).collect();
    assert_eq!(
        receives,
        ["0,receive,1,W,1,", "0,receive,2,W,1,", "10,receive,3,W,1,", "10,receive,4,W,1,", "20,receive,5,W,1,"]
    );
    let j = run_text(text, &[]).to_json();
    assert!(j["nats"]["max_ack_pending_stalls"].as_u64().unwrap() >= 1);
    let unlimited = trace_rows(text, &["queue.max_ack_pending=-1"]);
    assert_eq!(unlimited.iter().filter(|r| r.starts_with("0,receive,")).count(), 5);
}

/// A's AckWait (30 s) ends while its call hangs; B gets delivery 2 at 30
/// (a 25 s call). A's call times out at 44 and A sends -NAK for delivery 1.
/// By stream sequence, that late -NAK re-queues B's delivery: A itself pulls
/// a third copy at once and commits at 54, B commits again at 55.
const LATE_NAK: &str = r#"
name = "late-nak"
[producer]
arrival = { kind = "scripted", at = ["0s"] }
[queue]
kind = "jetstream"
ack_wait = "30s"
[[workers]]
name = "A"
receive = { max = 1, wait = "20s" }
on_failure = { kind = "release" }
[[workers]]
name = "B"
start_at = "30s"
receive = { max = 1, wait = "20s" }
[handler]
steps = [{ call = "api" }]
[[dependencies]]
name = "api"
latency = { kind = "sequence", values = ["45s", "25s", "10s"] }
timeout = "44s"
"#;

#[test]
fn a_late_nak_requeues_the_newest_delivery() {
    assert_rows(
        &trace_rows(LATE_NAK, &[]),
        &[
            "0,send,1,,,",
            "0,receive,1,A,1,",
            "30,expire,1,,1,holder still processing",
            "30,receive,1,B,2,",
            "44,fail,1,A,1,dependency timeout",
            "44,visible,1,A,1,late -NAK: re-queued the newest delivery (by stream sequence)",
            "44,receive,1,A,3,after a late -NAK re-queued the newest delivery",
            "54,effect,1,A,3,",
            "54,delete,1,A,3,",
            "55,duplicate_effect,1,B,2,",
            "55,delete_stale,1,B,2,already acked",
        ],
    );
}

/// With `late_ack = "ignored"` A's -NAK is dropped: one effect, by B.
#[test]
fn an_ignored_late_nak_changes_nothing() {
    assert_rows(
        &trace_rows(LATE_NAK, &["queue.late_ack=ignored"]),
        &[
            "0,send,1,,,",
            "0,receive,1,A,1,",
            "30,expire,1,,1,holder still processing",
            "30,receive,1,B,2,",
            "44,fail,1,A,1,dependency timeout",
            "44,change_visibility,1,A,1,stale handle",
            "55,effect,1,B,2,",
            "55,delete,1,B,2,",
        ],
    );
}

/// The seed timeline on JetStream: A's +ACK at 45 is late (B holds
/// delivery 2 since 31) and acks B's delivery; B's own +ACK at 60 finds the
/// message gone. With `ignored`, A's ack is dropped and B's acks.
#[test]
fn a_late_ack_acks_the_newest_delivery() {
    let text = r#"
name = "late-ack"
[producer]
arrival = { kind = "scripted", at = ["0s"] }
[queue]
kind = "jetstream"
[[workers]]
name = "A"
receive = { max = 1, wait = "20s" }
[[workers]]
name = "B"
start_at = "31s"
receive = { max = 1, wait = "20s" }
[handler]
duration = { kind = "sequence", values = ["45s", "29s"] }
"#;
    let rows = trace_rows(text, &[]);
    assert_eq!(rows[5], "45,delete,1,A,1,late +ACK: acked the newest delivery (by stream sequence)");
    assert_eq!(rows[7], "60,delete_stale,1,B,2,already acked");
    let rows = trace_rows(text, &["queue.late_ack=ignored"]);
    assert_eq!(rows[5], "45,delete_stale,1,A,1,late +ACK ignored; message stays");
    assert_eq!(rows[7], "60,delete,1,B,2,");
}

/// Every send's response is lost and retried after the 5 s client timeout
/// (sends at 0, 5 and 10 with the same Nats-Msg-Id). The window is
/// [t, t + duplicate_window): with 5 s the retry at 5 is new again; with
/// 5 s + 1 ns it is removed and the one at 10 is new; with 2 min both go.
#[test]
fn the_duplicate_window_edges() {
    let text = r#"
name = "dedup"
[producer]
arrival = { kind = "scripted", at = ["0s"] }
max_send_retries = 2
[queue]
kind = "jetstream"
[network]
timeout = "5s"
send = { response_loss = 1.0 }
[[workers]]
name = "W"
[handler]
duration = "1s"
"#;
    for (window, sent, dedup) in [("5s", 3, 0), ("5000000001ns", 2, 1), ("2m", 1, 2)] {
        let j = run_text(text, &[&format!("queue.duplicate_window={window}")]).to_json();
        assert_eq!((j["sent"].as_u64(), j["deduplicated"].as_u64()), (Some(sent), Some(dedup)), "window {window}");
    }
    let j = run_text(text, &["queue.msg_id=false"]).to_json();
    assert_eq!(j["sent"], 3, "without Nats-Msg-Id nothing is removed");
}

/// A publish to a subject the stream does not capture is stored nowhere.
#[test]
fn an_uncaptured_subject_is_lost() {
    let text = r#"
name = "subjects"
[run]
messages = 10
[producer]
arrival = { kind = "constant", interval = "1s" }
subject = "orders.created"
[queue]
kind = "jetstream"
subjects = ["order.*"]
[[workers]]
name = "W"
[handler]
duration = "1s"
"#;
    let j = run_text(text, &[]).to_json();
    assert_eq!((j["final"]["lost"].as_u64(), j["nats"]["not_captured"].as_u64()), (Some(10), Some(10)));
    assert_eq!(j["deliveries"], 0);
    let j = run_text(text, &["queue.subjects=[\"orders.*\"]"]).to_json();
    assert_eq!((j["final"]["deleted"].as_u64(), j["final"]["lost"].as_u64()), (Some(10), Some(0)));
}

/// Bad NATS settings name the key and what to use instead.
#[test]
fn nats_settings_are_checked() {
    let base = "name = \"x\"\n[producer]\narrival = { kind = \"scripted\", at = [\"0s\"] }\n[[workers]]\nname = \"W\"\n[handler]\nduration = \"1s\"\n";
    for (queue, needle) in [
        ("kind = \"jetstream\"\nvisibility_timeout = \"30s\"", "use ack_wait"),
        ("ack_wait = \"30s\"", "set kind = \"jetstream\""),
        ("kind = \"jetstream\"\nbackoff = [\"1s\", \"2s\"]\nmax_deliver = 1", "len(backoff) <= max_deliver"),
        ("kind = \"jetstream\"\nmax_deliver = 0", "-1 (unlimited) or at least 1"),
        ("kind = \"jetstream\"\nsubjects = [\"a..b\"]", "expected a list of subjects"),
    ] {
        let text = format!("{base}[queue]\n{queue}\n");
        let e = try_run_text(&text, &[]).err().unwrap_or_else(|| panic!("accepted: {queue}"));
        assert!(e.to_string().contains(needle), "{queue}: {e}");
    }
    let delayed =
        format!("{}[queue]\nkind = \"jetstream\"\n", base.replace("[[workers]]", "delay = \"5s\"\n[[workers]]"));
    assert!(try_run_text(&delayed, &[]).unwrap_err().to_string().contains("NATS has no per-message delay"));
    let term_on_sqs = base.replace("name = \"W\"\n", "name = \"W\"\non_failure = { kind = \"term\" }\n");
    assert!(try_run_text(&term_on_sqs, &[]).unwrap_err().to_string().contains("JetStream verb"));
}

#[derive(Debug, Clone)]
struct Js {
    seed: u64,
    ack_wait_s: u32,
    backoff: Option<Vec<u32>>,
    max_deliver: Option<u32>,
    max_ack_pending: i64,
    late_ack: &'static str,
    nak_delay: &'static str,
    on_failure: &'static str,
    heartbeat_s: Option<u32>,
    crash_mtbf_s: Option<u32>,
    loss: f64,
    fail_p: f64,
    window_s: u32,
}

fn js() -> impl Strategy<Value = Js> {
    (
        (0u64..(i64::MAX as u64), 1u32..60, prop::option::of(prop::collection::vec(1u32..40, 1..4))),
        (prop::option::of(3u32..8), prop::sample::select(vec![-1i64, 1, 3, 50])),
        (
            prop::sample::select(vec!["by_sequence", "ignored"]),
            prop::sample::select(vec!["shifted", "plain"]),
            prop::sample::select(vec!["expire", "release", "backoff", "term"]),
        ),
        (prop::option::of(1u32..40), prop::option::of(20u32..400), 0.0f64..0.3, 0.0f64..0.5, 1u32..200),
    )
        .prop_map(|(a, b, c, d)| Js {
            seed: a.0,
            ack_wait_s: a.1,
            backoff: a.2,
            max_deliver: b.0,
            max_ack_pending: b.1,
            late_ack: c.0,
            nak_delay: c.1,
            on_failure: c.2,
            heartbeat_s: d.0,
            crash_mtbf_s: d.1,
            loss: d.2,
            fail_p: d.3,
            window_s: d.4,
        })
}

fn js_scenario(f: &Js) -> String {
    let lease = match &f.backoff {
        Some(b) => format!("backoff = [{}]", b.iter().map(|s| format!("\"{s}s\"")).collect::<Vec<_>>().join(", ")),
        None => format!("ack_wait = \"{}s\"", f.ack_wait_s),
    };
    let max_deliver = f.max_deliver.map(|m| format!("max_deliver = {m}")).unwrap_or_default();
    let on_failure = match f.on_failure {
        "backoff" => "{ kind = \"backoff\", base = \"1s\", max = \"20s\" }".to_string(),
        k => format!("{{ kind = \"{k}\" }}"),
    };
    let heartbeat = f
        .heartbeat_s
        .map(|i| format!("heartbeat = {{ kind = \"fixed\", interval = \"{i}s\", extend = \"1s\" }}"))
        .unwrap_or_default();
    let crash =
        f.crash_mtbf_s.map(|m| format!("crash = {{ mtbf = \"{m}s\", restart_delay = \"5s\" }}")).unwrap_or_default();
    format!(
        r#"
name = "random-js"
seed = {seed}
[run]
messages = 200
max_sim_time = "3d"
[producer]
arrival = {{ kind = "poisson", rate = 5.0 }}
[queue]
kind = "jetstream"
{lease}
{max_deliver}
max_ack_pending = {map}
late_ack = "{late}"
nak_delay = "{nak}"
duplicate_window = "{window}s"
[[workers]]
name = "w"
count = 4
concurrency = 2
receive = {{ max = 10, wait = "5s" }}
on_failure = {on_failure}
{heartbeat}
{crash}
[handler]
duration = {{ kind = "lognormal", median = "2s", p99 = "30s" }}
fail_probability = {fail}
[network]
loss = {loss}
latency = {{ kind = "uniform", low = "0ms", high = "50ms" }}
"#,
        seed = f.seed,
        map = f.max_ack_pending,
        late = f.late_ack,
        nak = f.nak_delay,
        window = f.window_s,
        fail = f.fail_p,
        loss = f.loss,
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    /// Final states sum to `sent` (checked by every run: a violation is an
    /// error), nothing is left once drained, and a rerun is byte-identical;
    /// the rerun checks the stream's books after every event (`--paranoid`:
    /// counts, one live AckWait timer per delivered message, the redelivery
    /// queue, delivery counts, conservation).
    #[test]
    fn random_jetstream_runs_conserve_and_repeat(f in js()) {
        let text = js_scenario(&f);
        let a = run_text(&text, &[]);
        let j = a.to_json();
        let fin = &j["final"];
        let total: u64 = ["deleted", "dlq", "expired", "lost", "in_flight", "visible"].iter().map(|k| fin[*k].as_u64().unwrap()).sum();
        prop_assert_eq!(total, j["sent"].as_u64().unwrap());
        prop_assert_eq!(fin["expired"].as_u64(), Some(0), "JetStream has no retention here");
        if f.max_deliver.is_none() {
            prop_assert_eq!(fin["dlq"].as_u64(), Some(0));
        }
        prop_assert_eq!(j["nats"]["max_deliveries_advisories"].as_u64(), fin["dlq"].as_u64());
        if f.late_ack == "ignored" {
            let l = &j["nats"]["late_acks"];
            prop_assert_eq!((l["ack"].as_u64(), l["progress"].as_u64(), l["nak"].as_u64()), (Some(0), Some(0), Some(0)));
        }
        let b = run_text_paranoid(&text, &[]);
        prop_assert_eq!(json_without_perf(&a), json_without_perf(&b));
    }
}

/// Core NATS, one subscription with pending_msgs = 3 and a 10 s handler.
/// nats.go counts the message inside the handler: with 6 messages at 0,
/// message 1 is handled, 2 and 3 wait, 4 to 6 are dropped (one episode).
/// At 15 s message 2 is handled and 3 waits, so message 7 fits (the episode
/// ends); message 8 at 15.5 s is dropped again: a second episode.
const SLOW: &str = r#"
name = "slow"
[producer]
arrival = { kind = "scripted", at = ["0s", "0s", "0s", "0s", "0s", "0s", "15s", "15.5s"] }
[queue]
kind = "nats_core"
pending_msgs = 3
[[workers]]
name = "W"
receive = { max = 1, wait = "20s" }
[handler]
duration = "10s"
"#;

#[test]
fn pending_limits_drop_and_count_episodes() {
    let rows = trace_rows(SLOW, &[]);
    let lost: Vec<&str> = rows.iter().filter(|r| r.contains(",lost,")).map(String::as_str).collect();
    assert_eq!(
        lost,
        [
            "0,lost,4,W,,slow consumer: pending limit reached; dropped",
            "0,lost,5,W,,slow consumer: pending limit reached; dropped",
            "0,lost,6,W,,slow consumer: pending limit reached; dropped",
            "15.5,lost,8,W,,slow consumer: pending limit reached; dropped",
        ]
    );
    let receives: Vec<&str> = rows.iter().filter(|r| r.contains(",receive,")).map(String::as_str).collect();
    assert_eq!(receives, ["0,receive,1,W,1,", "10,receive,2,W,1,", "20,receive,3,W,1,", "30,receive,7,W,1,"]);
    let j = run_text(SLOW, &[]).to_json();
    assert_eq!((j["final"]["lost"].as_u64(), j["final"]["deleted"].as_u64()), (Some(4), Some(4)));
    assert_eq!((j["nats"]["dropped"].as_u64(), j["nats"]["slow_consumer_episodes"].as_u64()), (Some(4), Some(2)));
    assert_eq!((j["redeliveries"].as_u64(), j["duplicate_effects"].as_u64()), (Some(0), Some(0)));
}

/// The byte limit: 1024-byte messages under pending_bytes = 3000 fit two
/// at a time (2048 <= 3000 < 3072), the handler's included.
#[test]
fn the_byte_limit_counts_payloads() {
    let j = run_text(SLOW, &["queue.pending_msgs=100", "queue.pending_bytes=3000"]).to_json();
    // At 0: 1 handled, 2 waits, 3-6 dropped;
    // at 15 (2 handled, nothing waits) 7 fits; at 15.5 (2 and 7 pending) 8 is dropped.
    assert_eq!((j["final"]["lost"].as_u64(), j["final"]["deleted"].as_u64()), (Some(5), Some(3)));
}

/// A failed handler's message is gone (core NATS never redelivers), and a
/// crash closes the connection: what the worker buffered is lost, and
/// while no subscriber is connected a publish has no interest.
#[test]
fn core_nats_never_redelivers() {
    let j = run_text(SLOW, &["handler.fail_probability=1.0"]).to_json();
    assert_eq!(
        (j["final"]["lost"].as_u64(), j["deliveries"].as_u64(), j["redeliveries"].as_u64()),
        (Some(8), Some(4), Some(0))
    );
    let crash = SLOW.replace("name = \"W\"\n", "name = \"W\"\ncrash = { at = [\"5s\"], restart_delay = \"11s\" }\n");
    let rows = trace_rows(&crash, &[]);
    assert!(rows.contains(&"5,lost,2,W,,connection closed: buffered message lost".to_string()), "{rows:?}");
    assert!(rows.contains(&"15,lost,7,,,no subscriber connected: no interest".to_string()), "{rows:?}");
    // 1 (in the handler) and 2, 3 (buffered) die with the connection at 5; 4-6 were
    // dropped at 0; 7 and 8 find nobody subscribed until the restart at 16.
    let j = run_text(&crash, &[]).to_json();
    assert_eq!((j["final"]["deleted"].as_u64(), j["final"]["lost"].as_u64()), (Some(0), Some(8)));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Core NATS: conservation, no redelivery, no duplicate, repeatable; the
    /// rerun checks the subject's books after every event (`--paranoid`:
    /// counts, buffers, pending counts and bytes, conservation).
    #[test]
    fn random_core_nats_runs_conserve_and_repeat(
        seed in 0u64..(i64::MAX as u64),
        pending in 1u64..60,
        count in 1u32..4,
        conc in 1u32..3,
        fail in 0.0f64..0.5,
        mtbf in prop::option::of(20u32..300),
    ) {
        let crash = mtbf.map(|m| format!("crash = {{ mtbf = \"{m}s\", restart_delay = \"3s\" }}")).unwrap_or_default();
        let text = format!(r#"
name = "random-core"
seed = {seed}
[run]
messages = 300
[producer]
arrival = {{ kind = "poisson", rate = 8.0 }}
[queue]
kind = "nats_core"
pending_msgs = {pending}
[[workers]]
name = "w"
count = {count}
concurrency = {conc}
receive = {{ max = 5, wait = "5s" }}
{crash}
[handler]
duration = {{ kind = "exponential", mean = "300ms" }}
fail_probability = {fail}
"#);
        let a = run_text(&text, &[]);
        let j = a.to_json();
        let fin = &j["final"];
        prop_assert_eq!(fin["deleted"].as_u64().unwrap() + fin["lost"].as_u64().unwrap(), 300);
        prop_assert_eq!(j["redeliveries"].as_u64(), Some(0));
        prop_assert_eq!(j["duplicate_effects"].as_u64(), Some(0));
        prop_assert!(j["nats"]["slow_consumer_episodes"].as_u64() <= j["nats"]["dropped"].as_u64());
        prop_assert_eq!(json_without_perf(&a), json_without_perf(&run_text_paranoid(&text, &[])));
    }
}

/// A stale +WPI restarts the newest delivery's step. A (heartbeat every
/// 35 s) loses delivery 1 at 30; B gets delivery 2 (step to 60, a 33 s call).
/// A's +WPI at 35 is matched by stream sequence: B's step now ends at 65, so
/// B acks at 63 and nobody else gets the message. With `ignored`, B's step
/// ends at 60 while B works, and A (polling again) gets a third copy.
#[test]
fn a_late_progress_extends_the_newest_delivery() {
    let text = r#"
name = "late-wpi"
[producer]
arrival = { kind = "scripted", at = ["0s"] }
[queue]
kind = "jetstream"
ack_wait = "30s"
[[workers]]
name = "A"
receive = { max = 1, wait = "20s" }
heartbeat = { kind = "fixed", interval = "35s", extend = "1s" }
[[workers]]
name = "B"
start_at = "30s"
receive = { max = 1, wait = "20s" }
[handler]
steps = [{ call = "api" }]
[[dependencies]]
name = "api"
latency = { kind = "sequence", values = ["45s", "33s", "1s"] }
timeout = "44s"
"#;
    let head = ["0,send,1,,,", "0,receive,1,A,1,", "30,expire,1,,1,holder still processing", "30,receive,1,B,2,"];
    let mut want = head.to_vec();
    want.extend([
        "35,heartbeat,1,A,1,late reply: acted on the newest delivery (by stream sequence)",
        "44,fail,1,A,1,dependency timeout",
        "63,effect,1,B,2,",
        "63,delete,1,B,2,",
    ]);
    assert_rows(&trace_rows(text, &[]), &want);
    let mut want = head.to_vec();
    want.extend([
        "35,heartbeat,1,A,1,stale handle",
        "44,fail,1,A,1,dependency timeout",
        "60,expire,1,,2,holder still processing",
        "60,receive,1,A,3,",
        "61,effect,1,A,3,",
        "61,delete,1,A,3,",
        "63,duplicate_effect,1,B,2,",
        "63,delete_stale,1,B,2,already acked",
    ]);
    assert_rows(&trace_rows(text, &["queue.late_ack=ignored"]), &want);
}
