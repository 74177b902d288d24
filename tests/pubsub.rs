//! Google Cloud Pub/Sub rules of docs/model.md ("Google Cloud Pub/Sub")
//! checked against the documented behaviour: scripted timelines to the
//! nanosecond (expected rows worked out by hand from each rule), the
//! dead-letter limit, retry-policy backoff times, ordering replays,
//! exactly-once ack ids; and properties (conservation, determinism) over
//! random Pub/Sub scenarios.

mod common;
use common::*;
use proptest::prelude::*;

/// One worker, one slot, four messages processed one after another in
/// 12 s, 25 s, 44 s and 3 s. The client's lease deadline is the p99 of the
/// ack latencies seen so far (python-pubsub histogram.py), 10 s while none:
/// - message 1 (at 0): no acks yet, 10 s; renewed 0.9 x 10 = 9 s later.
/// - message 2 (at 12): acks {12}: p99 = 12; renewals every 10.8 s.
/// - message 3 (at 37): acks {12, 25}: target 2 - 1.98 = 0.02, the largest
///   (25) takes it below zero: 25; renewal 22.5 s later.
/// - message 4 (at 81): acks {12, 25, 44}: 44.
///
/// Renewals scheduled for after an ack find the slot moved on: no row.
#[test]
fn lease_extensions_follow_the_p99_of_observed_ack_latencies() {
    let text = r#"
name = "pubsub-lease-p99"
[producer]
arrival = { kind = "scripted", at = ["0s", "0s", "0s", "0s"] }
[queue]
kind = "pubsub"
[[workers]]
name = "A"
receive = { max = 1, wait = "20s" }
heartbeat = { kind = "pubsub_lease" }
[handler]
duration = { kind = "sequence", values = ["12s", "25s", "44s", "3s"] }
"#;
    let rows = trace_rows(text, &[]);
    assert_rows(
        &rows,
        &[
            "0,send,1,,,",
            "0,receive,1,A,1,",
            "0,send,2,,,",
            // The receipt modAck runs after the send already scheduled for 0.
            "0,heartbeat,1,A,1,modAck 10",
            "0,send,3,,,",
            "0,send,4,,,",
            "9,heartbeat,1,A,1,modAck 10",
            "12,effect,1,A,1,",
            "12,delete,1,A,1,",
            "12,receive,2,A,1,",
            "12,heartbeat,2,A,1,modAck 12",
            "22.8,heartbeat,2,A,1,modAck 12",
            "33.6,heartbeat,2,A,1,modAck 12",
            "37,effect,2,A,1,",
            "37,delete,2,A,1,",
            "37,receive,3,A,1,",
            "37,heartbeat,3,A,1,modAck 25",
            "59.5,heartbeat,3,A,1,modAck 25",
            "81,effect,3,A,1,",
            "81,delete,3,A,1,",
            "81,receive,4,A,1,",
            "81,heartbeat,4,A,1,modAck 44",
            "84,effect,4,A,1,",
            "84,delete,4,A,1,",
        ],
    );
}

/// max_lease_duration 15 s, deadline 10 s, A's run takes 50 s: modAcks at
/// 0 and 9 (lease to 19); at the renewal at 18 the message has been held
/// 18 s > 15 s, so it is dropped from lease management; its lease ends at
/// 19 and B gets it (receive 2). A's late ack at 50 finds it acked by B.
#[test]
fn max_lease_duration_drops_the_message_which_comes_back_at_its_last_deadline() {
    let text = r#"
name = "pubsub-max-lease"
[producer]
arrival = { kind = "scripted", at = ["0s"] }
[queue]
kind = "pubsub"
ack_deadline = "10s"
[[workers]]
name = "A"
receive = { max = 1, wait = "20s" }
heartbeat = { kind = "pubsub_lease", max_lease_duration = "15s" }
[[workers]]
name = "B"
start_at = "1s"
receive = { max = 1, wait = "20s" }
heartbeat = { kind = "pubsub_lease", max_lease_duration = "15s" }
[handler]
duration = { kind = "sequence", values = ["50s", "5s"] }
"#;
    let rows = trace_rows(text, &[]);
    assert_rows(
        &rows,
        &[
            "0,send,1,,,",
            "0,receive,1,A,1,",
            "0,heartbeat,1,A,1,modAck 10",
            "9,heartbeat,1,A,1,modAck 10",
            "18,heartbeat,1,A,1,dropped from lease management (max_lease_duration)",
            "19,expire,1,,1,holder still processing",
            "19,receive,1,B,2,",
            "19,heartbeat,1,B,2,modAck 10",
            "24,effect,1,B,2,",
            "24,delete,1,B,2,",
            "50,duplicate_effect,1,A,1,",
            "50,delete_stale,1,A,1,already deleted",
        ],
    );
}

/// Every run fails and is nacked (modAck 0). Retry policy exponential,
/// min 10 s, max 30 s: the redelivery waits min x 2^(attempts - 1), at most
/// max: 10, 20, 30, 30 s. Dead-letter policy 5 attempts: when the fifth
/// nacked delivery comes back, the message goes to the dead-letter topic.
#[test]
fn nacks_back_off_by_the_retry_policy_and_dead_letter_after_the_attempts() {
    let text = r#"
name = "pubsub-retry"
[producer]
arrival = { kind = "scripted", at = ["0s"] }
[queue]
kind = "pubsub"
retry_policy = { kind = "exponential", min = "10s", max = "30s" }
max_delivery_attempts = 5
[[workers]]
name = "A"
receive = { max = 1, wait = "20s" }
on_failure = { kind = "release" }
[handler]
duration = "1s"
fail_probability = 1.0
"#;
    let rows = trace_rows(text, &[]);
    assert_rows(
        &rows,
        &[
            "0,send,1,,,",
            "0,receive,1,A,1,",
            "1,fail,1,A,1,handler error",
            "1,change_visibility,1,A,1,nack: retry policy backoff",
            "11,visible,1,,,",
            "11,receive,1,A,2,",
            "12,fail,1,A,2,handler error",
            "12,change_visibility,1,A,2,nack: retry policy backoff",
            "32,visible,1,,,",
            "32,receive,1,A,3,",
            "33,fail,1,A,3,handler error",
            "33,change_visibility,1,A,3,nack: retry policy backoff",
            "63,visible,1,,,",
            "63,receive,1,A,4,",
            "64,fail,1,A,4,handler error",
            "64,change_visibility,1,A,4,nack: retry policy backoff",
            "94,visible,1,,,",
            "94,receive,1,A,5,",
            "95,fail,1,A,5,handler error",
            "95,change_visibility,1,A,5,nack: retry policy backoff",
            "125,visible,1,,,",
            "125,dlq,1,,5,",
        ],
    );
    let s = run_text(text, &[]);
    assert_eq!((s.final_states.dlq, s.deliveries), (1, 5));
    let d = s.dlq_deliveries.unwrap();
    assert_eq!((d.min, d.max), (5, 5));
}

/// A deadline expiry counts as an attempt and backs off like a nack:
/// deadline 10 s, a 15 s run, backoff min 10 s: the message returns at 20.
/// With exactly-once delivery, A's ack at 15 (its deadline passed at 10)
/// fails, so B processes the message again.
#[test]
fn a_deadline_expiry_backs_off_by_the_retry_policy() {
    let text = r#"
name = "pubsub-expiry-backoff"
[producer]
arrival = { kind = "scripted", at = ["0s"] }
[queue]
kind = "pubsub"
ack_deadline = "10s"
retry_policy = { kind = "exponential" }
exactly_once_delivery = true
[[workers]]
name = "A"
receive = { max = 1, wait = "20s" }
[[workers]]
name = "B"
start_at = "1s"
receive = { max = 1, wait = "20s" }
[handler]
duration = { kind = "sequence", values = ["15s", "1s"] }
"#;
    let rows = trace_rows(text, &[]);
    assert_rows(
        &rows,
        &[
            "0,send,1,,,",
            "0,receive,1,A,1,",
            "10,expire,1,,1,holder still processing",
            "15,effect,1,A,1,",
            "15,delete_error,1,A,1,PERMANENT_FAILURE_INVALID_ACK_ID: the ack id is not the latest or its deadline passed",
            "20,visible,1,,,",
            "20,receive,1,B,2,",
            "21,duplicate_effect,1,B,2,",
            "21,delete,1,B,2,",
        ],
    );
}

/// Deadline 10 s; A's run takes 15 s, B gets the message at 10 and works
/// 8 s. Without exactly-once delivery A's late ack at 15 is accepted (our
/// choice of the documented "may be accepted") and removes the message B is
/// processing; B's ack at 18 finds it gone. With exactly-once delivery only
/// the latest ack id (B's) acks: A's fails, B's removes the message.
#[test]
fn exactly_once_delivery_accepts_only_the_latest_ack_id() {
    let text = r#"
name = "pubsub-eod"
[producer]
arrival = { kind = "scripted", at = ["0s"] }
[queue]
kind = "pubsub"
ack_deadline = "10s"
[[workers]]
name = "A"
receive = { max = 1, wait = "20s" }
[[workers]]
name = "B"
start_at = "1s"
receive = { max = 1, wait = "20s" }
[handler]
duration = { kind = "sequence", values = ["15s", "8s"] }
"#;
    let head = ["0,send,1,,,", "0,receive,1,A,1,", "10,expire,1,,1,holder still processing", "10,receive,1,B,2,"];
    let default = trace_rows(text, &[]);
    let mut want = head.to_vec();
    want.extend([
        "15,effect,1,A,1,",
        "15,delete,1,A,1,",
        "18,duplicate_effect,1,B,2,",
        "18,delete_stale,1,B,2,already deleted",
    ]);
    assert_rows(&default, &want);
    let eod = trace_rows(text, &["queue.exactly_once_delivery=true"]);
    let mut want = head.to_vec();
    want.extend([
        "15,effect,1,A,1,",
        "15,delete_error,1,A,1,PERMANENT_FAILURE_INVALID_ACK_ID: the ack id is not the latest or its deadline passed",
        "18,duplicate_effect,1,B,2,",
        "18,delete,1,B,2,",
    ]);
    assert_rows(&eod, &want);
}

/// Ordering keys, one key: A gets messages 1 and 2 in one batch. The ack of
/// 1 takes 20 s to arrive (its request leg); 2's ack arrives at once, while
/// 1 is still outstanding. 1's deadline ends at 11 and it is delivered
/// again: Pub/Sub redelivers every later message of the key, acked ones
/// included, so 2 comes back behind 1 (`ordering replay`) and runs twice.
#[test]
fn redelivering_a_message_replays_the_acked_later_messages_of_its_key() {
    let text = r#"
name = "pubsub-replay"
[producer]
arrival = { kind = "scripted", at = ["0s", "0s"] }
[queue]
kind = "pubsub"
message_ordering = true
[[workers]]
name = "A"
concurrency = 2
start_at = "1s"
receive = { max = 10, wait = "20s" }
[handler]
duration = "1s"
[network]
delete = { latency = { kind = "sequence", values = ["20s", "0s", "0s", "0s", "0s", "0s", "0s", "0s"] } }
"#;
    let rows = trace_rows(text, &[]);
    assert_rows(
        &rows,
        &[
            "0,send,1,,,",
            "0,send,2,,,",
            "1,receive,1,A,1,",
            "1,receive,2,A,1,",
            "2,effect,1,A,1,",
            "3,effect,2,A,1,",
            "3,delete,2,A,1,",
            "11,expire,1,,1,",
            "11,receive,1,A,2,",
            "11,visible,2,,1,ordering replay",
            "12,duplicate_effect,1,A,2,",
            "12,delete,1,A,2,",
            "12,receive,2,A,2,",
            "13,duplicate_effect,2,A,2,",
            "13,delete,2,A,2,",
            "22,delete_stale,1,A,1,already deleted",
        ],
    );
    let s = run_text(text, &[]);
    assert_eq!((s.ordering_replays, s.causes.after_success, s.duplicate_effects), (Some(1), 2, 2));
    // The replayed message's old lease timer (from the delivery that was
    // acked at 3) is stale: --paranoid finds one live lease per leased
    // message and none for a visible one.
    assert_eq!(json_without_perf(&run_text_paranoid(text, &[])), json_without_perf(&s));
    // Without ordering, 2 is not replayed: only 1 runs twice.
    let s = run_text(text, &["queue.message_ordering=false"]);
    assert_eq!((s.ordering_replays, s.duplicate_effects), (None, 1));
}

/// Settings outside the documented ranges, or of another kind, are errors
/// located in the file.
#[test]
fn out_of_range_and_foreign_settings_are_errors() {
    let base = r#"
name = "pubsub-config"
[producer]
arrival = { kind = "scripted", at = ["0s"] }
[queue]
kind = "pubsub"
[[workers]]
name = "A"
heartbeat = { kind = "pubsub_lease" }
[handler]
duration = "1s"
"#;
    run_text(base, &[]);
    for (set, want) in [
        ("queue.ack_deadline=9s", "expected 10s to 10m"),
        ("queue.ack_deadline=601s", "expected 10s to 10m"),
        ("queue.max_delivery_attempts=4", "expected 5 to 100"),
        ("queue.max_delivery_attempts=101", "expected 5 to 100"),
        ("queue.visibility_timeout=30s", "use ack_deadline"),
        ("queue.max_receive_count=5", "use max_delivery_attempts"),
        ("workers.A.heartbeat.max_extension=5s", "expected 10s to 10m"),
        ("workers.A.heartbeat.max_messages=0", "expected 1 to"),
        ("workers.A.heartbeat.interval=5s", "does not apply to kind = \"pubsub_lease\""),
    ] {
        let e = try_run_text(base, &[set]).unwrap_err().to_string();
        assert!(e.contains(want), "{set}: {e}");
    }
    let sqs = base.replace("kind = \"pubsub\"", "kind = \"sqs_standard\"");
    let e = try_run_text(&sqs, &[]).unwrap_err().to_string();
    assert!(e.contains("`pubsub_lease` manages Pub/Sub ack deadlines") && e.contains("test.toml:"), "{e}");
    let e = try_run_text(
        &sqs.replace("heartbeat = { kind = \"pubsub_lease\" }\n", ""),
        &["queue.exactly_once_delivery=true"],
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("is a Pub/Sub setting"), "{e}");
    let eod_dup =
        base.replace("kind = \"pubsub\"", "kind = \"pubsub\"\nexactly_once_delivery = true\nbroker_duplicate = 0.1");
    let e = try_run_text(&eod_dup, &[]).unwrap_err().to_string();
    assert!(e.contains("never redelivers an acked message"), "{e}");
}

/// Flow control: with max_messages = 2 a worker with 5 slots holds at most
/// two messages: of five sent at once, two are received at 0, the rest as
/// acks free room.
#[test]
fn flow_control_caps_outstanding_messages() {
    let text = r#"
name = "pubsub-flow"
[producer]
arrival = { kind = "scripted", at = ["0s", "0s", "0s", "0s", "0s"] }
[queue]
kind = "pubsub"
[[workers]]
name = "A"
concurrency = 5
start_at = "1s"
receive = { max = 10, wait = "20s" }
heartbeat = { kind = "pubsub_lease", max_messages = 2 }
[handler]
duration = "2s"
"#;
    let received: Vec<String> = trace_rows(text, &[])
        .into_iter()
        .filter(|r| r.contains(",receive,"))
        .map(|r| r[..r.find(',').unwrap()].to_string())
        .collect();
    assert_eq!(received, ["1", "1", "3", "3", "5"]);
}

#[derive(Debug, Clone)]
struct Sub {
    seed: u64,
    deadline_s: u32,
    ordering: bool,
    keys: u32,
    eod: bool,
    backoff: Option<(u32, u32)>,
    attempts: Option<u32>,
    lease: Option<u32>,
    fail_p: f64,
    nack: bool,
    crash: bool,
    loss: f64,
}

fn sub() -> impl Strategy<Value = Sub> {
    (
        (0u64..(i64::MAX as u64), 10u32..40, any::<bool>(), 1u32..6, any::<bool>()),
        (prop::option::of((0u32..5, 5u32..30)), prop::option::of(5u32..8), prop::option::of(5u32..60)),
        (
            prop::sample::select(vec![0.0, 0.0, 0.2]),
            any::<bool>(),
            any::<bool>(),
            prop::sample::select(vec![0.0, 0.05]),
        ),
    )
        .prop_map(|(a, b, c)| Sub {
            seed: a.0,
            deadline_s: a.1,
            ordering: a.2,
            keys: a.3,
            eod: a.4,
            backoff: b.0,
            attempts: b.1,
            lease: b.2,
            fail_p: c.0,
            nack: c.1,
            crash: c.2,
            loss: c.3,
        })
}

fn scenario(t: &Sub) -> String {
    let mut s = format!(
        "name = \"sub\"\nseed = {}\n[run]\nmessages = 150\n[producer]\narrival = {{ kind = \"poisson\", rate = 5.0 }}\n\
         [queue]\nkind = \"pubsub\"\nack_deadline = \"{}s\"\nmessage_ordering = {}\ngroups = {}\nexactly_once_delivery = {}\n",
        t.seed, t.deadline_s, t.ordering, t.keys, t.eod
    );
    if let Some((min, max)) = t.backoff {
        s += &format!("retry_policy = {{ kind = \"exponential\", min = \"{min}s\", max = \"{max}s\" }}\n");
    }
    if let Some(m) = t.attempts {
        s += &format!("max_delivery_attempts = {m}\n");
    }
    s += "[[workers]]\nname = \"w\"\ncount = 3\nconcurrency = 3\nreceive = { max = 5, wait = \"5s\" }\n";
    if let Some(l) = t.lease {
        s += &format!("heartbeat = {{ kind = \"pubsub_lease\", max_lease_duration = \"{l}s\", max_messages = 4 }}\n");
    }
    if t.nack {
        s += "on_failure = { kind = \"release\" }\n";
    }
    if t.crash {
        s += "crash = { mtbf = \"60s\", restart_delay = \"5s\" }\n";
    }
    s += &format!(
        "[handler]\nfail_probability = {}\nduration = {{ kind = \"lognormal\", median = \"2s\", p99 = \"40s\" }}\n[network]\nloss = {}\n",
        t.fail_p, t.loss
    );
    s
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 40, ..ProptestConfig::default() })]

    /// Conservation (checked inside every run: a violation is an error),
    /// determinism, and the invariants `--paranoid` checks after every
    /// event (counts, one live lease timer per leased message and none for
    /// the others), over random subscriptions and clients.
    #[test]
    fn subscriptions_conserve_messages_and_are_deterministic(t in sub()) {
        let text = scenario(&t);
        let a = try_run_text(&text, &[]).map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
        let b = run_text_paranoid(&text, &[]);
        prop_assert_eq!(json_without_perf(&a), json_without_perf(&b));
        let f = &a.final_states;
        prop_assert_eq!(f.deleted + f.dlq + f.expired + f.lost + f.in_flight + f.visible, a.sent);
        prop_assert_eq!(a.ordering_replays.is_some(), t.ordering);
    }

    /// With ordering and no failed runs and no dead-letter topic (lost
    /// calls, crashes, expiries and replays allowed), first effects keep
    /// each key's order.
    #[test]
    fn ordering_holds_without_failures_or_dead_letters(mut t in sub()) {
        t.ordering = true;
        t.fail_p = 0.0;
        t.attempts = None;
        let s = run_text(&scenario(&t), &[]);
        prop_assert_eq!(s.order_violations, Some(0));
    }

    /// Exactly-once delivery with no lost calls and no crashes: an acked
    /// message is never delivered again, so every redelivery follows a
    /// failure, an expiry while processing, or an ordering replay.
    #[test]
    fn exactly_once_never_redelivers_after_a_successful_ack(mut t in sub()) {
        t.eod = true;
        t.loss = 0.0;
        t.crash = false;
        t.ordering = false;
        let s = run_text(&scenario(&t), &[]);
        prop_assert_eq!(s.causes.broker, 0);
        // After-success redeliveries are of runs whose ack came too late
        // (the deadline ran out first): each is also a premature expiry.
        prop_assert!(s.causes.after_success <= s.premature_expiries);
    }
}
