//! Properties over random topologies (proptest): several Standard and FIFO
//! queues, a topic fanning out with filters and duplicates, worker groups with
//! crashes and heartbeats. Every run checks conservation per queue (a
//! violation is an error, so the run would fail here); runs are
//! deterministic; and a FIFO queue shows no order violation when nothing
//! fails and nothing is dead-lettered.

mod common;
use common::*;
use proptest::prelude::*;

#[derive(Debug, Clone)]
struct Topo {
    seed: u64,
    fifo: [bool; 3],
    vt_s: [u32; 3],
    groups: u32,
    via_topic: bool,
    sns_dup: f64,
    crash: bool,
    heartbeat: bool,
    loss: f64,
    max_receive: Option<u32>,
    fail_p: f64,
}

fn topo() -> impl Strategy<Value = Topo> {
    (
        (0u64..(i64::MAX as u64), prop::array::uniform3(any::<bool>()), prop::array::uniform3(1u32..60), 1u32..20),
        (any::<bool>(), 0.0f64..0.1, any::<bool>(), any::<bool>()),
        (0.0f64..0.1, prop::option::of(1u32..5), prop::sample::select(vec![0.0, 0.0, 0.2])),
    )
        .prop_map(|(a, b, c)| Topo {
            seed: a.0,
            fifo: a.1,
            vt_s: a.2,
            groups: a.3,
            via_topic: b.0,
            sns_dup: b.1,
            crash: b.2,
            heartbeat: b.3,
            loss: c.0,
            max_receive: c.1,
            fail_p: c.2,
        })
}

fn scenario(t: &Topo) -> String {
    let mut s = format!(
        "name = \"topo\"\nseed = {}\n[run]\nmessages = 150\n[producer]\narrival = {{ kind = \"poisson\", rate = 5.0 }}\n",
        t.seed
    );
    // A FIFO queue needs a FIFO topic; a FIFO topic removes SNS duplicates.
    let fifo_topic = t.fifo.iter().any(|&f| f);
    s += if t.via_topic { "topic = \"t\"\n" } else { "queue = \"q0\"\n" };
    s += "[producer.attributes]\nkind = { values = { a = 0.5, b = 0.5 } }\n";
    for (i, (&fifo, vt)) in t.fifo.iter().zip(t.vt_s).enumerate() {
        s += &format!("[[queues]]\nname = \"q{i}\"\nvisibility_timeout = \"{vt}s\"\n");
        if fifo {
            s += &format!("kind = \"sqs_fifo\"\ngroups = {}\n", t.groups);
        }
        if let Some(m) = t.max_receive {
            s += &format!("max_receive_count = {m}\n");
        }
    }
    let dup = if fifo_topic { 0.0 } else { t.sns_dup };
    s += &format!(
        "[[topics]]\nname = \"t\"\nfifo = {fifo_topic}\nduplicate_probability = {dup}\nsubscriptions = [{{ queue = \"q0\" }}, {{ queue = \"q1\", filter = {{ kind = \"a\" }} }}, {{ queue = \"q2\" }}]\n"
    );
    for i in 0..3 {
        s += &format!("[[workers]]\nname = \"w{i}\"\nqueue = \"q{i}\"\ncount = 3\nconcurrency = 2\nreceive = {{ max = 10, wait = \"5s\" }}\n");
        if t.crash {
            s += "crash = { mtbf = \"60s\", restart_delay = \"5s\" }\n";
        }
        if t.heartbeat {
            s += "heartbeat = { interval = \"5s\", extend = \"20s\" }\n";
        }
    }
    s += &format!(
        "[handler]\nfail_probability = {}\nduration = {{ kind = \"lognormal\", median = \"2s\", p99 = \"40s\" }}\n[network]\nloss = {}\n",
        t.fail_p, t.loss
    );
    s
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 40, ..ProptestConfig::default() })]

    /// Conservation per queue (checked inside every run) and determinism.
    #[test]
    fn topologies_conserve_messages_per_queue_and_are_deterministic(t in topo()) {
        let text = scenario(&t);
        let a = try_run_text(&text, &[]).map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
        let b = run_text(&text, &[]);
        prop_assert_eq!(json_without_perf(&a), json_without_perf(&b));
        let queues = a.queues.as_ref().unwrap();
        let total: u64 = queues.values().map(|q| q["sent"].as_u64().unwrap()).sum();
        prop_assert_eq!(total, a.sent);
        for (name, q) in queues {
            let f = &q["final"];
            let states: u64 = ["deleted", "dlq", "expired", "lost", "in_flight", "visible"]
                .iter().map(|k| f[k].as_u64().unwrap()).sum();
            prop_assert_eq!(states, q["sent"].as_u64().unwrap(), "queue {}", name);
        }
    }

    /// Without failures or a DLQ (crashes, lost calls and expired leases
    /// allowed), a FIFO queue's effects keep group order.
    #[test]
    fn fifo_order_holds_without_failures_or_dlq(mut t in topo()) {
        t.fifo = [true, true, true];
        t.fail_p = 0.0;
        t.max_receive = None;
        let s = run_text(&scenario(&t), &[]);
        for (name, q) in s.queues.as_ref().unwrap() {
            prop_assert_eq!(q["order_violations"].as_u64(), Some(0), "queue {}", name);
        }
    }
}
