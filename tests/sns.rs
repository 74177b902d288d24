//! SNS fan-out rules of docs/model.md ("SNS"): filter policies select the
//! queues, at-least-once copies, the delivery retry policy's timing, FIFO
//! topic deduplication, duplicates counted per consuming queue, and the
//! configuration rules.

mod common;
use common::{assert_binomial, run_text, trace_rows, try_run_text};

const FANOUT: &str = r#"
name = "fanout"
seed = 9
[run]
messages = 4000
[producer]
arrival = { kind = "constant", rate = 20.0 }
topic = "orders"
[producer.attributes]
event_type = { values = { "order.created" = 0.7, "order.updated" = 0.3 } }
amount = { uniform = [0.0, 500.0] }
[[queues]]
name = "orders"
[[queues]]
name = "inventory"
[[queues]]
name = "big"
[[topics]]
name = "orders"
subscriptions = [
    { queue = "orders" },
    { queue = "inventory", filter = { event_type = "order.created" } },
    { queue = "big", filter = { event_type = [{ prefix = "order." }], amount = [{ numeric = [">=", 400] }] } },
]
[[workers]]
name = "o"
queue = "orders"
count = 4
[[workers]]
name = "i"
queue = "inventory"
count = 4
[[workers]]
name = "b"
queue = "big"
count = 4
[handler]
duration = "10ms"
"#;

/// A policy-less subscription takes everything; "created only" takes 70%;
/// prefix AND numeric >= 400 takes 100% x 20%. Each service applies each of
/// its messages once: no duplicates although one key reaches three queues.
#[test]
fn filter_policies_select_the_queues_and_each_consumer_counts_its_own() {
    let s = run_text(FANOUT, &[]);
    let q = s.queues.as_ref().unwrap();
    let sent = |name: &str| q[name]["sent"].as_u64().unwrap();
    assert_eq!(sent("orders"), 4000);
    assert_binomial(sent("inventory"), 4000, 0.7, 4.0, "order.created");
    assert_binomial(sent("big"), 4000, 0.2, 4.0, "amount >= 400");
    let t = &s.topics.as_ref().unwrap()["orders"]["subscriptions"];
    assert_eq!(t["inventory"]["filtered"].as_u64().unwrap() + sent("inventory"), 4000);
    assert_eq!(s.duplicate_effects, 0, "one effect per consuming queue is not a duplicate");
    assert_eq!(s.sent, sent("orders") + sent("inventory") + sent("big"), "totals are sums over queues");
    assert_eq!(s.final_states.deleted, s.sent);
}

/// With a duplicate probability p per delivery, a queue receives about p x n
/// extra copies, and a consumer without idempotency applies each twice.
#[test]
fn standard_topics_deliver_at_least_once() {
    let text = FANOUT
        .replace("name = \"orders\"\nsubscriptions", "name = \"orders\"\nduplicate_probability = 0.05\nsubscriptions");
    let s = run_text(&text, &[]);
    let dups = s.topics.as_ref().unwrap()["orders"]["subscriptions"]["orders"]["duplicates"].as_u64().unwrap();
    assert_binomial(dups, 4000, 0.05, 4.0, "SNS duplicates to the orders queue");
    let q = &s.queues.as_ref().unwrap()["orders"];
    assert_eq!(q["producer_duplicates"].as_u64().unwrap(), dups);
    assert_eq!(q["duplicate_effects"].as_u64().unwrap(), dups);
}

/// Each failed delivery attempt is retried on the documented schedule: the
/// 2nd and 3rd attempts at once, the 4th and 5th 1 s apart. With a failure
/// probability f per attempt, a delivery is enqueued 0 s after the publish
/// with probability 1 - f^3, exactly 1 s after with f^3 (1 - f), 2 s after
/// with f^4 (1 - f).
#[test]
fn failed_deliveries_follow_the_retry_schedule() {
    let f: f64 = 0.5;
    let text = r#"
name = "retries"
seed = 4
[run]
messages = 2000
[producer]
arrival = { kind = "constant", interval = "10s" }
topic = "t"
[[queues]]
name = "q"
[[topics]]
name = "t"
delivery_failure = 0.5
subscriptions = [{ queue = "q" }]
[[workers]]
name = "w"
[handler]
duration = "1ms"
"#;
    let rows = trace_rows(text, &[]);
    let mut delays = [0u64; 4]; // 0 s, 1 s, 2 s, other
    for r in rows.iter().filter(|r| r.split(',').nth(1) == Some("send")) {
        let t: f64 = r.split(',').next().unwrap().parse().unwrap();
        let publish = (t / 10.0).floor() * 10.0; // publishes are 10 s apart
        match ((t - publish) * 1e9).round() as u64 {
            0 => delays[0] += 1,
            1_000_000_000 => delays[1] += 1,
            2_000_000_000 => delays[2] += 1,
            _ => delays[3] += 1,
        }
    }
    assert_eq!(delays.iter().sum::<u64>(), 2000, "every publish delivered once: {delays:?}");
    assert_binomial(delays[0], 2000, 1.0 - f.powi(3), 4.0, "enqueued at once");
    assert_binomial(delays[1], 2000, f.powi(3) * (1.0 - f), 4.0, "after 1 s");
    assert_binomial(delays[2], 2000, f.powi(4) * (1.0 - f), 4.0, "after 2 s");
    let s = run_text(text, &[]);
    let retries = s.topics.as_ref().unwrap()["t"]["subscriptions"]["q"]["retries"].as_u64().unwrap();
    // Failed attempts before a success: geometric with mean f / (1 - f) = 1.
    assert!((1800..2200).contains(&retries), "retries {retries}");
}

/// A FIFO topic removes a publish retried inside 5 minutes (a lost publish
/// response); a Standard topic passes it on as a second message.
#[test]
fn fifo_topics_deduplicate_publishes() {
    let text = r#"
name = "fifo-topic"
[run]
messages = 1000
[producer]
arrival = { kind = "constant", rate = 10.0 }
topic = "t"
[[queues]]
name = "q"
kind = "sqs_fifo"
groups = 10
[[topics]]
name = "t"
fifo = true
subscriptions = [{ queue = "q" }]
[[workers]]
name = "w"
count = 4
[handler]
duration = "10ms"
[network.send]
response_loss = 0.1
"#;
    let s = run_text(text, &[]);
    let t = &s.topics.as_ref().unwrap()["t"];
    assert!(t["deduplicated"].as_u64().unwrap() > 50, "{t}");
    assert_eq!((s.producer_duplicates, s.duplicate_effects), (0, 0));
    let standard = text.replace("kind = \"sqs_fifo\"\ngroups = 10\n", "").replace("fifo = true\n", "");
    let s = run_text(&standard, &[]);
    assert!(s.producer_duplicates > 50 && s.duplicate_effects == s.producer_duplicates);
}

#[test]
fn configuration_rules_are_checked_where_they_are_written() {
    let fifo_queue_on_standard_topic =
        FANOUT.replace("[[queues]]\nname = \"big\"", "[[queues]]\nname = \"big\"\nkind = \"sqs_fifo\"");
    let e = try_run_text(&fifo_queue_on_standard_topic, &[]).unwrap_err().to_string();
    assert!(e.contains("can only subscribe to a FIFO topic") && e.contains("test.toml:"), "{e}");
    let typo =
        FANOUT.replace("filter = { event_type = \"order.created\" }", "filter = { evnt_type = \"order.created\" }");
    let e = try_run_text(&typo, &[]).unwrap_err().to_string();
    assert!(e.contains("`evnt_type` is not an attribute the producer sets"), "{e}");
    let unknown_queue = FANOUT.replace("{ queue = \"orders\" },", "{ queue = \"ordres\" },");
    let e = try_run_text(&unknown_queue, &[]).unwrap_err().to_string();
    assert!(e.contains("no queue named `ordres`"), "{e}");
    let no_queue = FANOUT.replace("name = \"o\"\nqueue = \"orders\"\n", "name = \"o\"\n");
    let e = try_run_text(&no_queue, &[]).unwrap_err().to_string();
    assert!(e.contains("with several queues, a worker group must say which"), "{e}");
}

/// The trace of a topology names the queue in a last column.
#[test]
fn topology_traces_name_the_queue() {
    let rows = trace_rows(&FANOUT.replace("messages = 4000", "messages = 1"), &[]);
    assert!(rows.iter().any(|r| r.ends_with(",orders")) && rows.iter().any(|r| r.ends_with(",inventory")), "{rows:?}");
}
