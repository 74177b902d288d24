//! The knobs `dupsim advise` searches, per broker kind: a small table of
//! dotted scenario paths (the same paths as `--set` and `[sweep]`), and a
//! [`Setting`] (one value per knob) turned into overrides of those paths.
//!
//! SQS Standard is the only broker modelled today: its lease is the queue's
//! VisibilityTimeout (whole seconds, 0..=43200), its heartbeat is a worker
//! calling ChangeMessageVisibility every `interval` to extend the lease to
//! now + `extend`, and its delivery cap is the redrive policy's
//! maxReceiveCount (1..=1000). A broker added later (JetStream AckWait with
//! `+WPI` progress acks, Pub/Sub ack deadlines with modifyAckDeadline) adds a
//! row to [`KNOBS`] with its own paths and limits; the search does not change.

use crate::config::Override;
use serde_json::{json, Value};

/// The searched knobs of one broker kind.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Knobs {
    /// `queue.kind` in scenario files.
    pub broker: &'static str,
    /// The lease a delivery holds (visibility timeout, ack wait, ack deadline).
    pub lease: &'static str,
    /// The longest lease the broker accepts, in seconds.
    pub lease_max_s: u32,
    /// The worker heartbeat (a `{ kind, interval, extend }` table).
    pub heartbeat_kind: &'static str,
    pub heartbeat_interval: &'static str,
    pub heartbeat_extend: &'static str,
    /// The delivery cap before the dead-letter queue.
    pub max_deliveries: &'static str,
    pub max_deliveries_range: (u32, u32),
    /// What the broker's documentation calls these (for reports).
    pub lease_name: &'static str,
    pub max_deliveries_name: &'static str,
}

/// One row per broker kind the simulator models.
pub const KNOBS: &[Knobs] = &[Knobs {
    broker: "sqs_standard",
    lease: "queue.visibility_timeout",
    lease_max_s: 43_200,
    heartbeat_kind: "workers.heartbeat.kind",
    heartbeat_interval: "workers.heartbeat.interval",
    heartbeat_extend: "workers.heartbeat.extend",
    max_deliveries: "queue.max_receive_count",
    max_deliveries_range: (1, 1000),
    lease_name: "VisibilityTimeout",
    max_deliveries_name: "maxReceiveCount",
}];

/// The knobs of `broker` (a `queue.kind` value), if advise knows it.
pub fn for_broker(broker: &str) -> Option<&'static Knobs> {
    KNOBS.iter().find(|k| k.broker == broker)
}

/// A heartbeat: every `interval_s`, extend the lease to now + `extension_s`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Heartbeat {
    pub interval_s: u32,
    pub extension_s: u32,
}

/// One point of the search space. Whole seconds, as the SQS API takes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Setting {
    pub vt_s: u32,
    pub heartbeat: Option<Heartbeat>,
    /// None: the scenario's own (used only by the rules of thumb).
    pub max_receive_count: Option<u32>,
}

impl Setting {
    /// The `--set` overrides that apply this setting to a scenario.
    pub fn overrides(&self, k: &Knobs) -> Vec<Override> {
        let o = |path: &str, value: String| Override { path: path.into(), value };
        let mut out = vec![o(k.lease, format!("\"{}s\"", self.vt_s))];
        match self.heartbeat {
            None => out.push(o(k.heartbeat_interval, "\"off\"".into())),
            Some(h) => {
                out.push(o(k.heartbeat_kind, "\"fixed\"".into()));
                out.push(o(k.heartbeat_interval, format!("\"{}s\"", h.interval_s)));
                out.push(o(k.heartbeat_extend, format!("\"{}s\"", h.extension_s)));
            }
        }
        if let Some(m) = self.max_receive_count {
            out.push(o(k.max_deliveries, m.to_string()));
        }
        out
    }

    /// "VT 46s", "VT 11s, hb 10s/20s, mrc 5".
    pub fn label(&self) -> String {
        let mut s = format!("VT {}s", self.vt_s);
        if let Some(h) = self.heartbeat {
            s.push_str(&format!(", hb {}s/{}s", h.interval_s, h.extension_s));
        }
        if let Some(m) = self.max_receive_count {
            s.push_str(&format!(", mrc {m}"));
        }
        s
    }

    /// The setting's keys of the `--json` object.
    pub fn json(&self, scenario_mrc: Option<u32>) -> Vec<(&'static str, Value)> {
        vec![
            ("visibility_timeout_s", json!(self.vt_s)),
            (
                "heartbeat",
                self.heartbeat
                    .map_or(Value::Null, |h| json!({ "interval_s": h.interval_s, "extension_s": h.extension_s })),
            ),
            ("max_receive_count", self.max_receive_count.or(scenario_mrc).map_or(Value::Null, |m| json!(m))),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_become_overrides_of_the_table_paths() {
        let k = for_broker("sqs_standard").unwrap();
        let s = Setting {
            vt_s: 46,
            heartbeat: Some(Heartbeat { interval_s: 30, extension_s: 60 }),
            max_receive_count: Some(5),
        };
        let flags: Vec<String> = s.overrides(k).iter().map(|o| format!("{}={}", o.path, o.value)).collect();
        assert_eq!(
            flags,
            [
                "queue.visibility_timeout=\"46s\"",
                "workers.heartbeat.kind=\"fixed\"",
                "workers.heartbeat.interval=\"30s\"",
                "workers.heartbeat.extend=\"60s\"",
                "queue.max_receive_count=5"
            ]
        );
        let off = Setting { vt_s: 46, heartbeat: None, max_receive_count: None };
        assert_eq!(off.overrides(k).len(), 2);
        assert!(for_broker("kafka").is_none());
    }
}
