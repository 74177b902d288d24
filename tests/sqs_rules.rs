//! SQS Standard rules of docs/model.md checked on scripted timelines, row by
//! row to the nanosecond. Each test would fail under the behaviour before the
//! rule was corrected: the expected rows are worked out by hand from the
//! documented rule, and the other variant is checked too.

mod common;
use common::{assert_rows, trace_rows};

/// The example of the model: VT 30 s; A receives at 0 and works 100 s with a
/// heartbeat every 40 s extending to now + 60 s; its lease ends at 30; B
/// receives at 31 (the newest handle) and works 100 s; C is idle from 50 s.
const OLD_HANDLE_HEARTBEAT: &str = r#"
name = "old-handle-heartbeat"
[producer]
arrival = { kind = "scripted", at = ["0s"] }
[queue]
visibility_timeout = "30s"
delete_policy = "any_handle"
[[workers]]
name = "A"
receive = { max = 1, wait = "20s" }
heartbeat = { kind = "fixed", interval = "40s", extend = "60s" }
[[workers]]
name = "B"
start_at = "31s"
receive = { max = 1, wait = "20s" }
[[workers]]
name = "C"
start_at = "50s"
receive = { max = 1, wait = "20s" }
[handler]
duration = { kind = "sequence", values = ["100s", "100s", "10s"] }
"#;

/// any_handle: A's heartbeat at 40 with its old handle hides the message
/// until 100 (and at 80 until 140), so nobody receives it at 61, when B's own
/// lease would have ended. A deletes at 100 with its old handle.
#[test]
fn an_old_handles_heartbeat_extends_the_current_lease() {
    let rows = trace_rows(OLD_HANDLE_HEARTBEAT, &["queue.change_visibility_policy=any_handle"]);
    assert_rows(
        &rows,
        &[
            "0,send,1,,,",
            "0,receive,1,A,1,",
            "30,expire,1,,1,holder still processing",
            "31,receive,1,B,2,",
            "40,heartbeat,1,A,1,older handle",
            "80,heartbeat,1,A,1,older handle",
            "100,effect,1,A,1,",
            "100,delete,1,A,1,",
            "131,duplicate_effect,1,B,2,",
            "131,delete_stale,1,B,2,already deleted",
        ],
    );
}

/// latest_only (the behaviour before): A's heartbeats change nothing, B's
/// lease ends at 61 and C receives a third copy.
#[test]
fn latest_only_ignores_an_old_handles_heartbeat() {
    let rows = trace_rows(OLD_HANDLE_HEARTBEAT, &["queue.change_visibility_policy=latest_only"]);
    assert_rows(
        &rows,
        &[
            "0,send,1,,,",
            "0,receive,1,A,1,",
            "30,expire,1,,1,holder still processing",
            "31,receive,1,B,2,",
            "40,heartbeat,1,A,1,stale handle",
            "61,expire,1,,2,holder still processing",
            "61,receive,1,C,3,",
            "71,effect,1,C,3,",
            "71,delete,1,C,3,",
            "80,heartbeat,1,A,1,message gone",
            "100,duplicate_effect,1,A,1,",
            "100,delete_stale,1,A,1,already deleted",
            "131,duplicate_effect,1,B,2,",
            "131,delete_stale,1,B,2,already deleted",
        ],
    );
}

/// A fails at 45 (its dependency call falls in an outage) and releases the
/// message with visibility 0, using its old handle while B holds the newest.
/// A then polls again at once (its slot is free).
const OLD_HANDLE_RELEASE: &str = r#"
name = "old-handle-release"
[producer]
arrival = { kind = "scripted", at = ["0s"] }
[queue]
visibility_timeout = "30s"
delete_policy = "any_handle"
[[workers]]
name = "A"
receive = { max = 1, wait = "20s" }
on_failure = { kind = "release" }
[[workers]]
name = "B"
start_at = "31s"
receive = { max = 1, wait = "20s" }
on_failure = { kind = "release" }
[handler]
steps = [{ delay = { kind = "sequence", values = ["45s", "100s", "10s"] } }, { call = "db" }]
[[dependencies]]
name = "db"
latency = "0s"
outages = [{ from = "40s", to = "50s", mode = "error" }]
"#;

/// any_handle: the old handle's release makes the message visible at once
/// and A's next receive at 45 gets a third copy.
#[test]
fn an_old_handles_release_makes_the_message_visible_at_once() {
    let rows = trace_rows(OLD_HANDLE_RELEASE, &["queue.change_visibility_policy=any_handle"]);
    assert_rows(
        &rows,
        &[
            "0,send,1,,,",
            "0,receive,1,A,1,",
            "30,expire,1,,1,holder still processing",
            "31,receive,1,B,2,",
            "45,fail,1,A,1,dependency error",
            "45,visible,1,A,1,released by an older handle",
            "45,receive,1,A,3,",
            "55,effect,1,A,3,",
            "55,delete,1,A,3,",
            "131,duplicate_effect,1,B,2,",
            "131,delete_stale,1,B,2,already deleted",
        ],
    );
}

/// latest_only: the release changes nothing, and the row says why (before,
/// a release that changed nothing wrote no row); B's lease ends at 61 and A,
/// parked on a long poll since 45, gets the third copy.
#[test]
fn latest_only_ignores_an_old_handles_release_and_traces_it() {
    let rows = trace_rows(OLD_HANDLE_RELEASE, &["queue.change_visibility_policy=latest_only"]);
    assert_rows(
        &rows,
        &[
            "0,send,1,,,",
            "0,receive,1,A,1,",
            "30,expire,1,,1,holder still processing",
            "31,receive,1,B,2,",
            "45,fail,1,A,1,dependency error",
            "45,change_visibility,1,A,1,stale handle",
            "61,expire,1,,2,holder still processing",
            "61,receive,1,A,3,",
            "71,effect,1,A,3,",
            "71,delete,1,A,3,",
            "131,duplicate_effect,1,B,2,",
            "131,delete_stale,1,B,2,already deleted",
        ],
    );
}

/// A lone worker whose lease ends under it: its heartbeat at 40 and its
/// failed attempt's release at 50 come after the message became visible
/// again, change nothing under either policy, and say so.
#[test]
fn changes_after_the_lease_ended_are_traced_with_the_reason() {
    let text = r#"
name = "lease-ended"
[producer]
arrival = { kind = "scripted", at = ["0s"] }
[queue]
visibility_timeout = "30s"
max_receive_count = 1
[[workers]]
name = "A"
receive = { max = 1, wait = "20s" }
heartbeat = { kind = "fixed", interval = "40s", extend = "60s" }
on_failure = { kind = "release" }
[handler]
duration = "50s"
fail_probability = 1.0
"#;
    for policy in ["any_handle", "latest_only"] {
        let rows = trace_rows(text, &[&format!("queue.change_visibility_policy={policy}")]);
        // At 50 A is free and polls again: the message has had its one
        // delivery, so that receive moves it to the DLQ.
        assert_rows(
            &rows,
            &[
                "0,send,1,,,",
                "0,receive,1,A,1,",
                "30,expire,1,,1,holder still processing",
                "40,heartbeat,1,A,1,lease already ended",
                "50,fail,1,A,1,handler error",
                "50,change_visibility,1,A,1,lease already ended",
                "50,dlq,1,,1,",
            ],
        );
    }
}

/// The 12 h cap counts from the latest receive: A's heartbeat at 11h30 would
/// pass 12 h after its own receive and is rejected; the lease ends at 12h and
/// the idle w-1 receives; A's old-handle heartbeats at 12h and 12h30 extend
/// w-1's lease (1 h after w-1's receive is well within 12 h).
#[test]
fn the_twelve_hour_cap_counts_from_the_latest_receive() {
    let text = r#"
name = "cap"
[producer]
arrival = { kind = "scripted", at = ["0s"] }
[queue]
visibility_timeout = "1h"
delete_policy = "any_handle"
[[workers]]
name = "w"
count = 2
heartbeat = { kind = "fixed", interval = "30m", extend = "1h" }
[handler]
duration = "13h"
"#;
    let late_a = |policy: &str| -> Vec<String> {
        trace_rows(text, &[&format!("queue.change_visibility_policy={policy}")])
            .into_iter()
            .filter(|r| {
                r.contains(",heartbeat,1,w-0,") && r.split(',').next().unwrap().parse::<u64>().unwrap() >= 39_600
            })
            .collect()
    };
    assert_rows(
        &late_a("any_handle"),
        &[
            "39600,heartbeat,1,w-0,1,",
            "41400,heartbeat,1,w-0,1,over 12h",
            "43200,heartbeat,1,w-0,1,older handle",
            "45000,heartbeat,1,w-0,1,older handle",
        ],
    );
    assert_rows(
        &late_a("latest_only"),
        &[
            "39600,heartbeat,1,w-0,1,",
            "41400,heartbeat,1,w-0,1,over 12h",
            "43200,heartbeat,1,w-0,1,stale handle",
            "45000,heartbeat,1,w-0,1,stale handle",
        ],
    );
}

/// A backlog: message 1's lease ends at 10 under A (who works 15 s);
/// messages 2 and 3 have been visible since 5 and 6. B starts at 12.
/// oldest_sent gives B message 1 (a concurrent duplicate); became_visible
/// gives B message 2, then 3, and A deletes message 1 at 15 before B gets to it.
#[test]
fn visible_order_decides_who_gets_a_returning_message() {
    let text = r#"
name = "order"
[producer]
arrival = { kind = "scripted", at = ["0s", "5s", "6s"] }
[queue]
visibility_timeout = "10s"
[[workers]]
name = "A"
receive = { max = 1, wait = "20s" }
[[workers]]
name = "B"
start_at = "12s"
receive = { max = 1, wait = "20s" }
[handler]
duration = { kind = "sequence", values = ["15s", "2s", "2s", "2s"] }
"#;
    let oldest = trace_rows(text, &["queue.visible_order=oldest_sent"]);
    assert_rows(
        &oldest,
        &[
            "0,send,1,,,",
            "0,receive,1,A,1,",
            "5,send,2,,,",
            "6,send,3,,,",
            "10,expire,1,,1,holder still processing",
            "12,receive,1,B,2,",
            "14,effect,1,B,2,",
            "14,delete,1,B,2,",
            "14,receive,2,B,1,",
            "15,duplicate_effect,1,A,1,",
            "15,delete_stale,1,A,1,already deleted",
            "15,receive,3,A,1,",
            "16,effect,2,B,1,",
            "16,delete,2,B,1,",
            "17,effect,3,A,1,",
            "17,delete,3,A,1,",
        ],
    );
    let became = trace_rows(text, &["queue.visible_order=became_visible"]);
    assert_rows(
        &became,
        &[
            "0,send,1,,,",
            "0,receive,1,A,1,",
            "5,send,2,,,",
            "6,send,3,,,",
            "10,expire,1,,1,holder still processing",
            "12,receive,2,B,1,",
            "14,effect,2,B,1,",
            "14,delete,2,B,1,",
            "14,receive,3,B,1,",
            "15,effect,1,A,1,",
            "15,delete,1,A,1,",
            "16,effect,3,B,1,",
            "16,delete,3,B,1,",
        ],
    );
}

/// The seed timeline with no delete_policy in the file: by default A's
/// delete at 45 with its older handle removes the message, and B's at 60
/// finds it gone. Under latest_only A's delete is the stale one.
#[test]
fn by_default_an_older_handle_deletes_the_message() {
    let text = std::fs::read_to_string("scenarios/seed-timeline.toml")
        .unwrap()
        .replace("delete_policy = \"any_handle\"\n", "");
    assert!(!text.contains("delete_policy"));
    let head = [
        "0,send,1,,,",
        "0,receive,1,A,1,",
        "30,expire,1,,1,holder still processing",
        "31,receive,1,B,2,",
        "45,effect,1,A,1,",
    ];
    let default = trace_rows(&text, &[]);
    let want: Vec<&str> = head
        .iter()
        .copied()
        .chain(["45,delete,1,A,1,", "60,duplicate_effect,1,B,2,", "60,delete_stale,1,B,2,already deleted"])
        .collect();
    assert_rows(&default, &want);
    let latest = trace_rows(&text, &["queue.delete_policy=latest_only"]);
    let want: Vec<&str> = head
        .iter()
        .copied()
        .chain(["45,delete_stale,1,A,1,stale handle; message stays", "60,duplicate_effect,1,B,2,", "60,delete,1,B,2,"])
        .collect();
    assert_rows(&latest, &want);
}

/// The incident's handler at 90% load on 40 workers: a backlog forms. A
/// message whose lease ran out goes back to the front under `oldest_sent` and
/// is received at once, while its first holder still works; under
/// `became_visible` it waits behind the backlog, and its first holder often
/// deletes it first. Same premature expiries (they depend only on processing
/// times), clearly fewer duplicates. Without a backlog (a parked long poll
/// for every message) the order cannot matter: identical summaries.
#[test]
fn became_visible_gives_fewer_duplicates_only_under_a_backlog() {
    let text = r#"
name = "backlog"
seed = 11
[run]
messages = 20000
[producer]
arrival = { kind = "poisson", rate = 2.55 }
[queue]
visibility_timeout = "30s"
[[workers]]
name = "w"
count = 40
receive = { max = 1, wait = "20s" }
[handler]
duration = { kind = "lognormal", median = "12s", p99 = "45s" }
"#;
    let oldest = common::run_text(text, &["queue.visible_order=oldest_sent"]);
    let became = common::run_text(text, &["queue.visible_order=became_visible"]);
    assert!(oldest.e2e_latency_s.p50 > 13.0, "no backlog formed: {}", oldest.to_text());
    let (a, b) = (oldest.duplicate_effects as f64, became.duplicate_effects as f64);
    // Premature expiries are two samples of the same binomial.
    let sd_expiry = ((oldest.premature_expiries + became.premature_expiries) as f64).sqrt();
    assert!((oldest.premature_expiries as f64 - became.premature_expiries as f64).abs() < 4.0 * sd_expiry);
    assert!(a - b > 3.0 * (a + b).sqrt(), "oldest_sent {a} vs became_visible {b} duplicates");

    let idle = text.replace("rate = 2.55", "rate = 0.5").replace("count = 40", "count = 200");
    let oldest = common::run_text(&idle, &["queue.visible_order=oldest_sent"]);
    let became = common::run_text(&idle, &["queue.visible_order=became_visible"]);
    assert!(oldest.duplicate_effects > 0);
    assert_eq!(common::json_without_perf(&oldest), common::json_without_perf(&became));
}

/// A failed attempt's backoff is a ChangeMessageVisibility too, and is
/// traced: base 5 s doubles per receive (5 s, then 10 s); the message comes
/// back when the backoff ends, and after two deliveries goes to the DLQ.
#[test]
fn a_backoff_is_traced_and_doubles_per_receive() {
    let text = r#"
name = "backoff"
[producer]
arrival = { kind = "scripted", at = ["0s"] }
[queue]
visibility_timeout = "30s"
max_receive_count = 2
[[workers]]
name = "A"
receive = { max = 1, wait = "20s" }
on_failure = { kind = "backoff", base = "5s", max = "1m" }
[handler]
duration = "10s"
fail_probability = 1.0
"#;
    assert_rows(
        &trace_rows(text, &[]),
        &[
            "0,send,1,,,",
            "0,receive,1,A,1,",
            "10,fail,1,A,1,handler error",
            "10,change_visibility,1,A,1,backoff",
            "15,expire,1,,1,",
            "15,receive,1,A,2,",
            "25,fail,1,A,2,handler error",
            "25,change_visibility,1,A,2,backoff",
            "35,expire,1,,2,",
            "35,dlq,1,,2,",
        ],
    );
}
