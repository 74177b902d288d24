//! A run's timeline: trace rows to Gantt bars (one per attempt) and marks
//! (lease expiries, duplicate effects), drawn by `chart::timeline_chart`.
//! Lanes are worker slots: a worker's overlapping attempts get separate lanes.
//! A mark sits on the lane of the attempt it concerns (the holder whose lease
//! expired, the attempt that committed the duplicate).

use super::chart::{self, GanttBar, GanttMark, MarkKind, Outcome};
use crate::trace::{self, Row};
use std::collections::BTreeMap;
use std::path::Path;

/// Build bars and marks from trace rows.
pub fn bars_and_marks(rows: &[Row]) -> (Vec<GanttBar>, Vec<GanttMark>) {
    struct Open {
        worker: String,
        start_s: f64,
        msg: u64,
        receive: u32,
        outcome: Option<Outcome>,
    }
    let mut open: BTreeMap<(u64, u32), Open> = BTreeMap::new();
    let mut done: Vec<(Open, f64)> = Vec::new();
    // (mark, the attempt it concerns)
    let mut marks: Vec<(GanttMark, (u64, u32))> = Vec::new();
    let mut last_t = 0.0f64;
    for r in rows {
        last_t = last_t.max(r.t_s);
        let (Some(msg), Some(receive)) = (r.msg, r.receive) else { continue };
        let key = (msg, receive);
        match r.event.as_str() {
            "receive" => {
                open.insert(key, Open { worker: r.worker.clone(), start_s: r.t_s, msg, receive, outcome: None });
            }
            "effect" | "duplicate_effect" => {
                if r.event == "duplicate_effect" {
                    marks.push((GanttMark { lane: None, t_s: r.t_s, kind: MarkKind::DuplicateEffect, msg }, key));
                }
                if let Some(o) = open.get_mut(&key) {
                    o.outcome = Some(if r.event == "effect" { Outcome::Success } else { Outcome::DuplicateSuccess });
                }
            }
            "expire" => marks.push((GanttMark { lane: None, t_s: r.t_s, kind: MarkKind::Expire, msg }, key)),
            "delete" | "delete_stale" | "delete_error" | "fail" | "crash" => {
                if let Some(mut o) = open.remove(&key) {
                    o.outcome = Some(match r.event.as_str() {
                        "fail" => Outcome::Failure,
                        "crash" => Outcome::Crash,
                        _ => o.outcome.unwrap_or(Outcome::Success),
                    });
                    done.push((o, r.t_s));
                }
            }
            _ => {}
        }
    }
    done.extend(open.into_values().map(|o| (o, last_t)));
    done.sort_by(|a, b| a.0.start_s.total_cmp(&b.0.start_s).then(a.0.msg.cmp(&b.0.msg)));
    // Pack each worker's attempts into the first free slot lane.
    let mut lane_ends: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    let mut lane_of: BTreeMap<(u64, u32), String> = BTreeMap::new();
    let mut bars = Vec::with_capacity(done.len());
    for (o, end) in done {
        let ends = lane_ends.entry(o.worker.clone()).or_default();
        let i = ends.iter().position(|e| *e <= o.start_s).unwrap_or(ends.len());
        if i == ends.len() {
            ends.push(end);
        } else {
            ends[i] = end;
        }
        let lane = if i == 0 { o.worker.clone() } else { format!("{}/{}", o.worker, i) };
        lane_of.insert((o.msg, o.receive), lane.clone());
        bars.push(GanttBar {
            lane,
            start_s: o.start_s,
            end_s: end,
            outcome: o.outcome.unwrap_or(Outcome::Unfinished),
            msg: o.msg,
            receive: o.receive,
        });
    }
    let marks = marks.into_iter().map(|(m, key)| GanttMark { lane: lane_of.get(&key).cloned(), ..m }).collect();
    (bars, marks)
}

/// Draw the timeline of trace CSV `text` to `path` (.svg or .png).
pub fn draw(text: &str, title: &str, path: &Path) -> Result<(), String> {
    let rows = trace::parse(text)?;
    let (bars, marks) = bars_and_marks(&rows);
    chart::timeline_chart(&bars, &marks, &format!("{title}: attempts per worker slot"), path).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_timeline_rows_make_two_bars_and_two_marks() {
        let text = "t_s,event,msg,worker,receive,detail\n0,send,1,,,\n0,receive,1,A,1,\n30,expire,1,,1,\n31,receive,1,B,2,\n45,effect,1,A,1,\n45,delete,1,A,1,\n60,duplicate_effect,1,B,2,\n60,delete_stale,1,B,2,\n";
        let (bars, marks) = bars_and_marks(&trace::parse(text).unwrap());
        assert_eq!(bars.len(), 2);
        assert_eq!(
            (bars[0].lane.as_str(), bars[0].start_s, bars[0].end_s, bars[0].outcome),
            ("A", 0.0, 45.0, Outcome::Success)
        );
        assert_eq!((bars[1].lane.as_str(), bars[1].end_s, bars[1].outcome), ("B", 60.0, Outcome::DuplicateSuccess));
        assert_eq!(marks.iter().map(|m| m.kind).collect::<Vec<_>>(), vec![MarkKind::Expire, MarkKind::DuplicateEffect]);
        // A's lease expired; B committed the duplicate.
        assert_eq!(marks.iter().map(|m| m.lane.as_deref()).collect::<Vec<_>>(), vec![Some("A"), Some("B")]);
    }

    #[test]
    fn overlapping_attempts_of_one_worker_get_separate_lanes() {
        let text = "t_s,event,msg,worker,receive,detail\n0,receive,1,w,1,\n1,receive,2,w,1,\n5,delete,1,w,1,\n6,fail,2,w,1,\n7,receive,3,w,1,\n";
        let (bars, _) = bars_and_marks(&trace::parse(text).unwrap());
        let lanes: Vec<_> = bars.iter().map(|b| b.lane.as_str()).collect();
        assert_eq!(lanes, vec!["w", "w/1", "w"]);
        assert_eq!(bars[2].outcome, Outcome::Unfinished);
    }
}
