//! Tests of the whole `[expect]` pipeline: parse a table, evaluate it against hand-written
//! summaries, and check the verdicts, the wording of outcomes and the spans of errors.

use super::*;
use serde_json::json;

fn summary(dup: i64, rate: f64) -> Json {
    json!({
        "scenario": "s", "seed": 1, "sim_time_s": 100.0, "events": 10, "sent": 100,
        "deliveries": 110, "redeliveries": 10,
        "causes": {"concurrent": 1, "after_failure": 2, "after_crash": 0, "after_success": 0, "broker": 0},
        "effects": 100, "duplicate_effects": dup, "duplicate_rate": rate,
        "final": {"deleted": 95, "dlq": 2, "expired": 0, "lost": 0, "in_flight": 0, "visible": 3},
        "retry_latency_s": {"count": 10, "p50": 30.0, "p90": 60.0, "p99": 120.0, "p999": 130.0, "max": 140.0},
        "e2e_latency_s": {"count": 100, "p50": 1.0, "p90": 2.0, "p99": 5.0, "p999": 6.0, "max": 7.0},
        "api_calls": {"send": 100, "receive": 120, "empty_receive": 5, "delete": 95, "change_visibility": 0},
        "cost_usd": 0.0001, "perf": {"wall_s": 0.5},
        "flag": true, "nothing": null
    })
}

fn parsed(text: &str) -> Expect {
    match parse(text) {
        Ok(Some(e)) => e,
        other => panic!("parse of {text:?} gave {other:?}"),
    }
}

fn plain(text: &str, summaries: &[Json]) -> std::result::Result<Vec<Outcome>, ExpectError> {
    let e = parsed(text);
    let point = PointResult { params: vec![], summaries: summaries.iter().collect() };
    evaluate(&e, &[point])
}

fn span_text<'t>(text: &'t str, e: &ExpectError) -> &'t str {
    let span = e.span.clone().unwrap_or_else(|| panic!("no span in {e:?}"));
    &text[span]
}

#[test]
fn operators_pass_and_fail() {
    let rows: &[(&str, Json, bool)] = &[
        ("\"< 5\"", json!(4), true),
        ("\"< 5\"", json!(5), false),
        ("\"<= 5\"", json!(5), true),
        ("\"<= 5\"", json!(5.5), false),
        ("\"> 5\"", json!(6), true),
        ("\"> 5\"", json!(5), false),
        ("\">= 5\"", json!(5.0), true),
        ("\">= 5\"", json!(4.99), false),
        ("\"== 3\"", json!(3), true),
        ("\"== 3\"", json!(4), false),
        ("\"!= 3\"", json!(4), true),
        ("\"!= 3\"", json!(3), false),
        ("\"==0.5\"", json!(0.5), true),
        ("\"!= 0.5\"", json!(0.5 + 1e-13), false),
        ("0", json!(0), true),
        ("0", json!(1), false),
        ("0", json!(0.0), true),
        ("7", json!(u64::MAX), false),
        ("0.5", json!(0.5 * (1.0 + 1e-12)), true),
        ("0.5", json!(0.5001), false),
        ("1e-3", json!(0.001), true),
        ("\"between 1 and 60\"", json!(1), true),
        ("\"between 1 and 60\"", json!(60.0), true),
        ("\"between 1 and 60\"", json!(0.5), false),
        ("\"between 1 and 60\"", json!(61), false),
        ("\"between -1.5 and 2\"", json!(-1.5), true),
        ("true", json!(true), true),
        ("true", json!(false), false),
        ("false", json!(false), true),
        ("\"< 5\"", json!(null), false),
    ];
    for (cond, measured, want) in rows {
        let text = format!("[expect]\nx = {cond}\n");
        let out = plain(&text, &[json!({ "x": measured })]).unwrap();
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].passed, *want, "{cond} on {measured}: {:?}", out[0]);
        assert_eq!(out[0].witness, (!want).then_some((0, 0)));
    }
}

#[test]
fn outcome_text() {
    let out =
        plain("[expect]\n\"retry_latency_s.p99\" = \"< 240\"\nduplicate_effects = 0\n", &[summary(3, 0.03)]).unwrap();
    assert_eq!(out[0].name, "retry_latency_s.p99 < 240");
    assert_eq!((out[0].measured.as_str(), out[0].passed), ("120", true));
    assert_eq!(out[1].name, "duplicate_effects == 0");
    assert_eq!((out[1].bound.as_str(), out[1].passed), ("== 0", false));
}

#[test]
fn every_replication_must_pass_and_witness_is_first_failure() {
    let s = [summary(0, 0.0), summary(0, 0.0), summary(2, 0.0), summary(1, 0.0)];
    let out = plain("[expect]\nduplicate_effects = \"<= 0\"\n", &s).unwrap();
    assert!(!out[0].passed);
    assert_eq!(out[0].witness, Some((0, 2)));
    assert_eq!(out[0].measured, "2 in replication 2 (2 of 4 failed)");
    let out = plain("[expect]\nduplicate_effects = \"<= 2\"\n", &s).unwrap();
    assert!(out[0].passed);
    assert_eq!(out[0].measured, "0..2 over 4 replications");
}

#[test]
fn nested_syntax_forms() {
    let text = "[expect]\nretry_latency_s.p90 = \"< 100\"\n[expect.final]\ndlq = 2\n";
    let out = plain(text, &[summary(0, 0.0)]).unwrap();
    let names: Vec<&str> = out.iter().map(|o| o.name.as_str()).collect();
    assert_eq!(names, ["retry_latency_s.p90 < 100", "final.dlq == 2"]);
    assert!(out.iter().all(|o| o.passed));
}

#[test]
fn bare_names_resolve_or_fail() {
    let out = plain("[expect]\ndlq = \">= 1\"\n", &[summary(0, 0.0)]).unwrap();
    assert_eq!(out[0].name, "final.dlq >= 1");
    assert!(out[0].passed);
    let out = plain("[expect]\nconcurrent = 2\n", &[summary(0, 0.0)]).unwrap();
    assert_eq!((out[0].name.as_str(), out[0].passed), ("causes.concurrent == 2", false));

    let text = "[expect]\np99 = \"< 1\"\n";
    let e = plain(text, &[summary(0, 0.0)]).unwrap_err();
    assert!(e.message.contains("ambiguous"), "{e}");
    assert!(e.message.contains("retry_latency_s.p99") && e.message.contains("e2e_latency_s.p99"));
    assert_eq!(span_text(text, &e), "p99");

    let text = "[expect]\n\"nope\" = 1\n";
    let e = plain(text, &[summary(0, 0.0)]).unwrap_err();
    assert!(e.message.contains("unknown summary path `nope`"), "{e}");
    assert!(e.message.contains("final.dlq") && e.message.contains("api_calls.send"));
    assert_eq!(span_text(text, &e), "\"nope\"");

    // a path starting with a top-level key is never suffix-matched, and an object is not a value
    let nested = json!({"final": {"dlq": 1}, "idempotency": {"final": {"lost": 3}}});
    let e = plain("[expect]\n\"final.lost\" = 3\n", std::slice::from_ref(&nested)).unwrap_err();
    assert!(e.message.contains("unknown summary path `final.lost`"), "{e}");
    let out = plain("[expect]\n\"lost\" = 3\n", &[nested]).unwrap();
    assert_eq!((out[0].name.as_str(), out[0].passed), ("idempotency.final.lost == 3", true));
    let text = "[expect]\nfinal = 1\n";
    let e = plain(text, &[summary(0, 0.0)]).unwrap_err();
    assert!(e.message.contains("object") && e.message.contains("final.deleted"), "{e}");
    assert_eq!(span_text(text, &e), "final");
}

#[test]
fn type_mismatch_and_missing_in_later_replication() {
    let text = "[expect]\nflag = \"< 1\"\n";
    let e = plain(text, &[summary(0, 0.0)]).unwrap_err();
    assert!(e.message.contains("boolean"), "{e}");
    assert_eq!(span_text(text, &e), "\"< 1\"");
    let text = "[expect]\nsent = true\n";
    assert!(plain(text, &[summary(0, 0.0)]).is_err());
    let e = plain(text, &[json!({"sent": true}), json!({"other": 1})]).unwrap_err();
    assert!(e.message.contains("available: other"), "{e}");
}

#[test]
fn malformed_expectations_have_spans() {
    let cases: &[(&str, &str, &str)] = &[
        ("[expect]\nx = \"~ 5\"\n", "\"~ 5\"", "unknown operator"),
        ("[expect]\nx = \"= 5\"\n", "\"= 5\"", "unknown operator"),
        ("[expect]\nx = \"5\"\n", "\"5\"", "without quotes"),
        ("[expect]\nx = \"< abc\"\n", "\"< abc\"", "non-numeric bound"),
        ("[expect]\nx = \"< inf\"\n", "\"< inf\"", "non-numeric bound"),
        ("[expect]\nx = \"between 5 and 1\"\n", "\"between 5 and 1\"", "empty range"),
        ("[expect]\nx = \"between 5\"\n", "\"between 5\"", "between A and B"),
        ("[expect]\nx = [1, 2]\n", "[1, 2]", "expected a number"),
        ("[expect]\nx = nan\n", "nan", "expected a number"),
        ("[expect]\nx = {}\n", "{}", "empty table"),
        ("[expect]\nx = { mean = \"< 1\", confidence = 1.5 }\n", "1.5", "confidence"),
        ("[expect]\nx = { mean = \"< 1\", confidence = 0 }\n", "0", "confidence"),
        ("[expect]\nx = { mean = \"== 1\" }\n", "\"== 1\"", "supports"),
        ("[expect]\nx = { mean = 1 }\n", "1", "condition string"),
        ("[expect]\nx = { mean = \"< 1\", confdence = 0.9 }\n", "confdence", "unknown key"),
        ("[expect]\nx = { confidence = 0.9 }\n", "{ confidence = 0.9 }", "needs `mean`"),
        ("[expect]\n", "expect", "empty"),
        ("x = 1\n[expect]\n\n[other]\n", "expect", "empty"),
        ("expect = 3\n", "3", "must be a table"),
        ("[expect]\nreplications = 0\n", "0", "positive integer"),
        ("[expect]\nreplications = 2.5\n", "2.5", "positive integer"),
        ("[expect]\n\"a..b\" = 1\n", "\"a..b\"", "empty segment"),
        ("[expect.points]\nx = 1\n", "[expect.points]\nx = 1", "[[expect.points]]"),
        ("[[expect.points]]\nwhere = { a = \"1\" }\n", "[[expect.points]]\nwhere = { a = \"1\" }", "no condition"),
        ("[[expect.points]]\nreplications = 3\nx = 1\n", "replications", "not allowed"),
        ("[[expect.points]]\nwhere = 3\nx = 1\n", "3", "must be a table"),
        ("[[expect.points]]\nwhere = { a = [] }\nx = 1\n", "[]", "empty list"),
        (
            "[[expect.trends]]\nmetric = \"x\"\nalong = \"a\"\ndirection = \"sideways\"\n",
            "\"sideways\"",
            "unknown direction",
        ),
        (
            "[[expect.trends]]\nmetric = \"x\"\nalong = \"a\"\ndirection = \"increasing\"\nfoo = 1\n",
            "foo",
            "unknown key `foo`",
        ),
        (
            "[[expect.trends]]\nmetric = \"x\"\nalong = \"a\"\n",
            "[[expect.trends]]\nmetric = \"x\"\nalong = \"a\"",
            "needs `direction`",
        ),
        ("[[expect.trends]]\nmetric = 3\n", "3", "must be a string"),
        ("[expect]\nx = \n", "\n", "invalid TOML"),
    ];
    for (text, want_span, want_msg) in cases {
        let e = match parse(text) {
            Err(e) => e,
            Ok(v) => panic!("{text:?} parsed: {v:?}"),
        };
        assert!(e.message.contains(want_msg), "{text:?}: {}", e.message);
        assert_eq!(span_text(text, &e), *want_span, "{text:?}: {}", e.message);
    }
}

#[test]
fn no_expect_table_and_line_col() {
    assert_eq!(parse("name = \"x\"\n[queue]\nvt = \"30s\"\n"), Ok(None));
    let text = "name = \"x\"\n[expect]\n  y = \"<< 1\"\n";
    let e = parse(text).unwrap_err();
    assert_eq!(e.line_col(text), Some((3, 7)));
    let e = parsed("[expect]\nreplications = 20\n");
    assert_eq!(e.replications(), Some(20));
    assert!(e.is_empty());
    assert!(!parsed("[expect]\nx = 1\n").is_empty());
}

#[test]
fn mean_ci_of_known_sample() {
    let (mean, lo, hi) = mean_ci(&[1.0, 2.0, 3.0, 4.0, 5.0], 0.95);
    // se = sqrt(2.5 / 5), t(0.95, 4) = 2.131847
    let half = 2.131_847 * 0.5f64.sqrt();
    assert!((mean - 3.0).abs() < 1e-12);
    assert!((hi - (3.0 + half)).abs() < 1e-5 && (lo - (3.0 - half)).abs() < 1e-5);
    let (m, lo, hi) = mean_ci(&[2.0], 0.95);
    assert_eq!((m, lo, hi), (2.0, f64::NEG_INFINITY, f64::INFINITY));
    assert!(mean_ci(&[], 0.95).0.is_nan());
    assert_eq!(mean_ci(&[1.0, 3.0], 1.0).2, f64::INFINITY);

    let sample: Vec<Json> = (1..=5).map(|i| json!({ "x": i })).collect();
    let run = |cond: &str| plain(&format!("[expect]\nx = {cond}\n"), &sample).unwrap()[0].clone();
    assert!(run("{ mean = \"< 4.6\" }").passed); // upper bound 4.5075
    assert!(!run("{ mean = \"< 4.4\" }").passed); // mean 3 is below, the bound is not
    assert!(run("{ mean = \"> 1.4\" }").passed); // lower bound 1.4925
    assert!(!run("{ mean = \"> 1.6\" }").passed);
    assert!(!run("{ mean = \">= 1.5\" }").passed);
    assert!(run("{ mean = \">= 1.5\", confidence = 0.9 }").passed); // t(0.9,4)=1.5332 -> 1.916
    assert!(run("{ mean = \"between 1.4 and 4.6\" }").passed);
    assert!(!run("{ mean = \"between 1.6 and 4.6\" }").passed);
    let o = run("{ mean = \"< 4.6\", confidence = 0.95 }");
    assert_eq!(o.name, "mean(x) < 4.6 (95% confidence)");
    assert_eq!(o.measured, "mean 3 (95% upper bound 4.50744, n=5)");
}

#[test]
fn mean_needs_two_replications() {
    let text = "[expect]\nduplicate_rate = { mean = \"< 0.1\" }\n";
    let e = plain(text, &[summary(0, 0.0)]).unwrap_err();
    assert!(e.message.contains("at least 2 replications"), "{e}");
    assert_eq!(span_text(text, &e), "duplicate_rate");
}

struct SplitMix(u64);
impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// 30 replications, each a duplicate rate over 1000 messages with per-message probability p.
fn rates(seed: u64, p: f64) -> Vec<Json> {
    let mut rng = SplitMix(seed);
    (0..30)
        .map(|_| {
            let dups = (0..1000).filter(|_| rng.unit() < p).count();
            json!({ "duplicate_rate": dups as f64 / 1000.0 })
        })
        .collect()
}

#[test]
fn statistical_conditions_do_not_flake() {
    let text = "[expect]\nduplicate_rate = { mean = \"< 0.01\", confidence = 0.95 }\n";
    let e = parsed(text);
    let run = |s: &[Json]| {
        let point = PointResult { params: vec![], summaries: s.iter().collect() };
        evaluate(&e, &[point]).unwrap()[0].passed
    };
    for seed in 0..100 {
        assert!(run(&rates(seed, 0.0002)), "seed {seed}: low rate failed");
        assert!(!run(&rates(seed + 1000, 0.05)), "seed {seed}: high rate passed");
    }
}

fn grid(summaries: &[Json]) -> Vec<PointResult<'_>> {
    // vt varies fastest; hb in {off, 30s}; each point has two replications
    let mut out = Vec::new();
    for (i, hb) in ["off", "30s"].iter().enumerate() {
        for (j, vt) in ["30s", "60s", "180s"].iter().enumerate() {
            let k = 2 * (3 * i + j);
            out.push(PointResult {
                params: vec![
                    ("queue.visibility_timeout".into(), vt.to_string()),
                    ("workers.heartbeat.interval".into(), hb.to_string()),
                ],
                summaries: vec![&summaries[k], &summaries[k + 1]],
            });
        }
    }
    out
}

/// Per point (vt, hb): duplicate_effects and duplicate_rate, twice.
fn grid_summaries(rates: [f64; 6]) -> Vec<Json> {
    rates.iter().flat_map(|&r| [summary((r * 100.0) as i64, r), summary(0, r)]).collect()
}

#[test]
fn points_where_matching() {
    let s = grid_summaries([0.3, 0.2, 0.1, 0.0, 0.0, 0.0]);
    let points = grid(&s);
    let text = r#"
[expect]
"final.dlq" = 2
[[expect.points]]
where = { "queue.visibility_timeout" = "180s", "workers.heartbeat.interval" = "30s" }
duplicate_effects = 0
[[expect.points]]
where = { "queue.visibility_timeout" = ["30s", "60s"] }
duplicate_effects = 0
[[expect.points]]
where.workers.heartbeat.interval = "off"
duplicate_rate = { mean = "> 0.01" }
"#;
    let out = evaluate(&parsed(text), &points).unwrap();
    assert_eq!(out.len(), 6 + 1 + 4 + 3);
    assert!(out[..6].iter().all(|o| o.passed));
    assert_eq!(out[6].name, "[queue.visibility_timeout=180s, workers.heartbeat.interval=30s] duplicate_effects == 0");
    assert!(out[6].passed);
    let failed: Vec<_> = out[7..11].iter().map(|o| (o.passed, o.witness)).collect();
    assert_eq!(failed, [(false, Some((0, 0))), (false, Some((1, 0))), (true, None), (true, None)]);
    let means: Vec<bool> = out[11..].iter().map(|o| o.passed).collect();
    assert_eq!(means, [true, true, true]);
}

#[test]
fn where_errors_carry_spans() {
    let s = grid_summaries([0.0; 6]);
    let points = grid(&s);
    let cases = [
        ("[[expect.points]]\nwhere = { \"nope\" = \"1\" }\nx = 1\n", "\"nope\"", "not a swept parameter"),
        (
            "[[expect.points]]\nwhere = { \"queue.visibility_timeout\" = \"3m\" }\nduplicate_effects = 0\n",
            "\"3m\"",
            "30s, 60s, 180s",
        ),
        (
            "[[expect.trends]]\nmetric = \"duplicate_rate\"\nalong = \"queue.vt\"\ndirection = \"increasing\"\n",
            "\"queue.vt\"",
            "not a swept parameter",
        ),
        (
            "[[expect.trends]]\nmetric = \"p99\"\nalong = \"queue.visibility_timeout\"\ndirection = \"increasing\"\n",
            "\"p99\"",
            "ambiguous",
        ),
    ];
    for (text, want_span, want_msg) in cases {
        let e = evaluate(&parsed(text), &points).unwrap_err();
        assert!(e.message.contains(want_msg), "{text}: {e}");
        assert_eq!(span_text(text, &e), want_span, "{text}");
    }
    let text = "[[expect.points]]\nwhere = { \"a\" = \"1\" }\nx = 1\n";
    let e = plain(text, &[summary(0, 0.0)]).unwrap_err();
    assert!(e.message.contains("not a sweep"), "{e}");
}

fn trend(direction: &str, points: &[PointResult]) -> Vec<(String, bool)> {
    let text = format!(
        "[[expect.trends]]\nmetric = \"duplicate_rate\"\nalong = \"queue.visibility_timeout\"\ndirection = \"{direction}\"\n"
    );
    let out = evaluate(&parsed(&text), points).unwrap();
    out.into_iter().map(|o| (o.measured, o.passed)).collect()
}

#[test]
fn trends_per_direction_and_group() {
    // group hb=off strictly decreasing; group hb=30s constant
    let s = grid_summaries([0.3, 0.2, 0.1, 0.0, 0.0, 0.0]);
    let points = grid(&s);
    let off = "30s: 0.3, 60s: 0.2, 180s: 0.1".to_string();
    let on = "30s: 0, 60s: 0, 180s: 0".to_string();
    assert_eq!(trend("decreasing", &points), [(off.clone(), true), (on.clone(), false)]);
    assert_eq!(trend("non_increasing", &points), [(off.clone(), true), (on.clone(), true)]);
    assert_eq!(trend("increasing", &points), [(off.clone(), false), (on.clone(), false)]);
    assert_eq!(trend("non-decreasing", &points), [(off.clone(), false), (on.clone(), true)]);

    // points listed with the other parameter varying fastest: groups are still found and
    // each is ordered along the grid order of `along`
    let s = grid_summaries([0.1, 0.2, 0.3, 0.3, 0.2, 0.1]);
    let mut by_hb: Vec<Option<PointResult>> = grid(&s).into_iter().map(Some).collect();
    let points: Vec<PointResult> = [0, 3, 1, 4, 2, 5].iter().filter_map(|&i| by_hb[i].take()).collect();
    let text = "[[expect.trends]]\nmetric = \"duplicate_rate\"\nalong = \"queue.visibility_timeout\"\ndirection = \"increasing\"\n";
    let out = evaluate(&parsed(text), &points).unwrap();
    assert_eq!(
        out[0].name,
        "[workers.heartbeat.interval=off] duplicate_rate increasing along queue.visibility_timeout"
    );
    assert_eq!(out[0].measured, "30s: 0.1, 60s: 0.2, 180s: 0.3");
    assert_eq!(out[1].measured, "30s: 0.3, 60s: 0.2, 180s: 0.1");
    assert!(out[0].passed && !out[1].passed);
    let restricted = format!("{text}where = {{ \"workers.heartbeat.interval\" = \"off\" }}\n");
    let out = evaluate(&parsed(&restricted), &grid(&s)).unwrap();
    assert_eq!(out.len(), 1);
    assert!(out[0].passed);
}
