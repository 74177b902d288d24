//! The reports of `dupsim advise`: the text on stdout, the `--json` object,
//! and the files of `--out DIR` (written atomically with `output.rs`):
//!
//! | file | content |
//! | --- | --- |
//! | `advice.json` | the `--json` object |
//! | `advice.md` | the recommendation, runners-up, rules of thumb, chart, snippets, method |
//! | `pareto.svg/.png` | duplicate rate against retry latency p99 of every simulated setting |
//! | `set-queue-attributes.sh` | the `aws sqs set-queue-attributes` command and the heartbeat |
//! | `sqs.tf` | the Terraform `aws_sqs_queue` arguments and the heartbeat |
//! | `advised.toml` | the scenario with the recommendation applied and an `[expect]` block locking it in |
//! | `durations.csv` | the observed durations (seconds), when they came from `--durations` |

use super::budget::Constraint;
use super::search::Evaluation;
use super::Advice;
use crate::config::apply_override;
use crate::duration::format_seconds;
use crate::error::Error;
use crate::output::write_atomic;
use crate::report::chart::{advice_chart, AdviceChart, AdvicePoint, AdvicePointKind};
use serde_json::{json, Map, Value};
use std::fmt::Write as _;
use std::path::{Component, Path, PathBuf};

fn jnum(x: f64) -> Value {
    serde_json::Number::from_f64(x).map_or(Value::Null, Value::Number)
}

/// Round to 6 significant digits for reports (the JSON keeps full precision).
fn pct(x: f64) -> String {
    if x == 0.0 {
        "0%".into()
    } else if x < 1e-4 {
        format!("{:.2e}%", x * 100.0)
    } else {
        format!("{:.3}%", x * 100.0)
    }
}

/// One setting as a JSON object (the keys docs/output.md's advise section lists).
fn setting_json(a: &Advice, e: &Evaluation) -> Value {
    let mut o: Map<String, Value> =
        e.setting.json(a.scenario_mrc).into_iter().map(|(k, v)| (k.to_string(), v)).collect();
    o.insert("label".into(), json!(e.setting.label()));
    o.insert(
        "duplicate_rate".into(),
        json!({
            "mean": jnum(e.duplicate_rate.mean),
            "lower": jnum(e.duplicate_rate.lower),
            "upper": jnum(e.duplicate_rate.upper),
            "confidence": a.budgets.confidence,
            "duplicate_effects": e.duplicate_effects,
            "logical_messages": e.logical_sent,
        }),
    );
    o.insert("retry_latency_p99_s".into(), jnum(e.retry_p99_s));
    o.insert("retries".into(), json!(e.retries));
    o.insert("api_calls_per_message".into(), jnum(e.api_calls_per_message));
    o.insert("cost_per_million_usd".into(), jnum(e.cost_per_million_usd));
    o.insert("dlq_rate".into(), json!({ "mean": jnum(e.dlq_rate.mean), "upper": jnum(e.dlq_rate.upper) }));
    let m = e.measured();
    let meets: Map<String, Value> = Constraint::ALL
        .iter()
        .filter(|c| a.budgets.limit(**c).is_some())
        .map(|c| (c.key().to_string(), json!(a.budgets.meets(*c, &m))))
        .collect();
    o.insert("meets".into(), Value::Object(meets));
    o.insert("met".into(), json!(a.budgets.meets_all(&m)));
    Value::Object(o)
}

/// The `--json` object.
pub fn json(a: &Advice) -> Value {
    let b = &a.budgets;
    let rules: Vec<Value> = a
        .rules
        .iter()
        .map(|r| {
            let mut v = setting_json(a, &r.eval);
            if let Value::Object(o) = &mut v {
                o.insert("rule".into(), json!(r.name));
                o.insert("derivation".into(), json!(r.derivation));
            }
            v
        })
        .collect();
    json!({
        "scenario": a.name,
        "scenario_file": a.scenario_file.display().to_string(),
        "broker": a.knobs.broker,
        "met": a.met(),
        "budgets": {
            "max_duplicate_rate": b.max_duplicate_rate,
            "confidence": b.confidence,
            "max_retry_p99_s": b.max_retry_p99_s,
            "max_cost_per_million_usd": b.max_cost_per_million_usd,
            "max_dlq_rate": b.max_dlq_rate,
        },
        "processing": {
            "source": a.processing_source,
            "p50_s": jnum(a.processing.p50_s),
            "p99_s": jnum(a.processing.p99_s),
            "max_s": jnum(a.processing.max_s),
        },
        "recommendation": a.recommendation.as_ref().map_or(Value::Null, |e| setting_json(a, e)),
        "runners_up": a.runners_up.iter().map(|e| setting_json(a, e)).collect::<Vec<_>>(),
        "binding": a.binding.as_ref().map_or(Value::Null, |bd| json!({
            "constraints": bd.constraints.iter().map(|c| c.key()).collect::<Vec<_>>(),
            "explanation": bd.explanation,
        })),
        "closest": a.closest.iter().map(|e| setting_json(a, e)).collect::<Vec<_>>(),
        "rules_of_thumb": rules,
        "search": {
            "replications": a.replications,
            "settings_simulated": a.evaluated.len(),
            "runs": a.runs,
            "full_grid_runs": a.full_grid_runs,
            "visibility_timeout_max_s": a.search.vt_hi_s,
            "heartbeat_intervals_s": a.search.ladder,
            "extension_multiples": super::search::EXTENSION_MULTIPLES,
            "max_receive_counts": a.search.max_receive_counts,
        },
        "warnings": a.warnings,
    })
}

fn heartbeat_text(e: &Evaluation) -> String {
    match e.setting.heartbeat {
        None => "no heartbeat".into(),
        Some(h) => format!("heartbeat every {} s extending to {} s", h.interval_s, h.extension_s),
    }
}

fn mrc_of(a: &Advice, e: &Evaluation) -> String {
    e.setting.max_receive_count.or(a.scenario_mrc).map_or("none".into(), |m| m.to_string())
}

fn table_row(a: &Advice, name: &str, e: &Evaluation) -> String {
    let ok = |c: Constraint| if a.budgets.meets(c, &e.measured()) { "" } else { " ✗" };
    format!(
        "| {name} | {} s | {} | {} | {} ({}..{}){} | {:.1} s{} | {:.2} | ${:.4}{} |",
        e.setting.vt_s,
        e.setting.heartbeat.map_or("off".into(), |h| format!("{} s / {} s", h.interval_s, h.extension_s)),
        mrc_of(a, e),
        pct(e.duplicate_rate.mean),
        pct(e.duplicate_rate.lower),
        pct(e.duplicate_rate.upper),
        ok(Constraint::DuplicateRate),
        e.retry_p99_s,
        ok(Constraint::RetryLatency),
        e.api_calls_per_message,
        e.cost_per_million_usd,
        ok(Constraint::Cost),
    )
}

fn table(a: &Advice, rows: &[(String, &Evaluation)]) -> String {
    let mut t = String::from(
        "| | VT | heartbeat (interval / extension) | maxReceiveCount | duplicate rate (interval) | retry p99 | API calls / msg | cost / million |\n|---|---|---|---|---|---|---|---|\n",
    );
    for (name, e) in rows {
        t.push_str(&table_row(a, name, e));
        t.push('\n');
    }
    t
}

fn budgets_text(a: &Advice) -> String {
    let b = &a.budgets;
    let mut s = format!(
        "duplicate rate <= {} ({:.0}% upper bound), retry latency p99 <= {:.1} s",
        pct(b.max_duplicate_rate),
        b.confidence * 100.0,
        b.max_retry_p99_s
    );
    if let Some(c) = b.max_cost_per_million_usd {
        let _ = write!(s, ", cost <= ${c} per million messages");
    }
    if let Some(d) = b.max_dlq_rate {
        let _ = write!(s, ", DLQ rate <= {}", pct(d));
    }
    s
}

fn headline(a: &Advice, e: &Evaluation) -> String {
    format!(
        "{} {} s, {}, {} {}",
        a.knobs.lease_name,
        e.setting.vt_s,
        heartbeat_text(e),
        a.knobs.max_deliveries_name,
        mrc_of(a, e)
    )
}

/// The text printed on stdout.
pub fn text(a: &Advice) -> String {
    let mut t = String::new();
    let _ = writeln!(t, "dupsim advise: {} ({}), {} replications per setting", a.name, a.knobs.broker, a.replications);
    let _ = writeln!(
        t,
        "processing: {}: p50 {:.2} s, p99 {:.2} s, max {:.2} s",
        a.processing_source, a.processing.p50_s, a.processing.p99_s, a.processing.max_s
    );
    let _ = writeln!(t, "budgets: {}\n", budgets_text(a));
    match &a.recommendation {
        Some(e) => {
            let _ = writeln!(t, "RECOMMENDED: {}", headline(a, e));
            let _ = writeln!(
                t,
                "  duplicate rate {} (interval {} .. {}), retry p99 {:.1} s, {:.2} API calls per message, ${:.4} per million\n",
                pct(e.duplicate_rate.mean),
                pct(e.duplicate_rate.lower),
                pct(e.duplicate_rate.upper),
                e.retry_p99_s,
                e.api_calls_per_message,
                e.cost_per_million_usd
            );
            let mut rows = vec![("recommended".to_string(), e.as_ref())];
            rows.extend(a.runners_up.iter().enumerate().map(|(i, e)| (format!("runner-up {}", i + 1), e.as_ref())));
            t.push_str(&table(a, &rows));
        }
        None => {
            let _ = writeln!(t, "NO SETTING MEETS THE BUDGETS");
            if let Some(b) = &a.binding {
                let _ = writeln!(t, "  binding: {}\n", b.explanation);
            }
            let rows: Vec<(String, &Evaluation)> =
                a.closest.iter().enumerate().map(|(i, e)| (format!("closest {}", i + 1), e.as_ref())).collect();
            t.push_str(&table(a, &rows));
        }
    }
    let _ = writeln!(t, "\nrules of thumb on the same load (✗ = over budget):");
    let rows: Vec<(String, &Evaluation)> = a.rules.iter().map(|r| (r.name.to_string(), r.eval.as_ref())).collect();
    t.push_str(&table(a, &rows));
    let _ = writeln!(
        t,
        "\nsearch: {} settings x {} replications = {} runs (the full grid: {} runs)",
        a.evaluated.len(),
        a.replications,
        a.runs,
        a.full_grid_runs
    );
    t
}

/// `aws sqs set-queue-attributes` and the heartbeat, as a shell snippet.
fn cli_snippet(a: &Advice, e: &Evaluation) -> String {
    let mut t = format!("#!/bin/sh\n# dupsim advise: {} -> {}\n", a.name, headline(a, e));
    t.push_str("QUEUE_URL=\"https://sqs.REGION.amazonaws.com/ACCOUNT/QUEUE\"   # your queue\n");
    let mut attrs = format!("\"VisibilityTimeout\":\"{}\"", e.setting.vt_s);
    if let Some(m) = e.setting.max_receive_count.or(a.scenario_mrc) {
        t.push_str("DLQ_ARN=\"arn:aws:sqs:REGION:ACCOUNT:QUEUE-dlq\"             # its dead-letter queue\n");
        let _ = write!(
            attrs,
            ",\"RedrivePolicy\":\"{{\\\"deadLetterTargetArn\\\":\\\"'\"$DLQ_ARN\"'\\\",\\\"maxReceiveCount\\\":\\\"{m}\\\"}}\""
        );
    }
    let _ =
        writeln!(t, "aws sqs set-queue-attributes \\\n  --queue-url \"$QUEUE_URL\" \\\n  --attributes '{{{attrs}}}'");
    t.push_str(&heartbeat_comment(e, "#"));
    t
}

fn heartbeat_comment(e: &Evaluation, c: &str) -> String {
    match e.setting.heartbeat {
        None => format!("{c} No heartbeat: the visibility timeout covers the processing times simulated.\n"),
        Some(h) => format!(
            "{c} Worker heartbeat: while a message is being processed, every {i} s call\n\
             {c}   ChangeMessageVisibility(ReceiptHandle = <the message's handle>, VisibilityTimeout = {x})\n\
             {c} (CLI: aws sqs change-message-visibility --queue-url \"$QUEUE_URL\" --receipt-handle \"$HANDLE\" --visibility-timeout {x})\n\
             {c} and stop it before DeleteMessage.\n",
            i = h.interval_s,
            x = h.extension_s
        ),
    }
}

/// Terraform `aws_sqs_queue` arguments.
fn terraform_snippet(a: &Advice, e: &Evaluation) -> String {
    let mut t = format!(
        "# dupsim advise: {} -> {}\nresource \"aws_sqs_queue\" \"queue\" {{\n  # ... your other arguments ...\n",
        a.name,
        headline(a, e)
    );
    let _ = writeln!(t, "  visibility_timeout_seconds = {}", e.setting.vt_s);
    if let Some(m) = e.setting.max_receive_count.or(a.scenario_mrc) {
        let _ = writeln!(
            t,
            "  redrive_policy = jsonencode({{\n    deadLetterTargetArn = aws_sqs_queue.queue_dlq.arn\n    maxReceiveCount     = {m}\n  }})"
        );
    }
    t.push_str("}\n");
    t.push_str(&heartbeat_comment(e, "#"));
    t
}

/// `target` relative to the directory `from` (both made absolute), or
/// absolute when they share no root.
fn relative_to(target: &Path, from: &Path) -> PathBuf {
    let abs =
        |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| std::env::current_dir().unwrap_or_default().join(p));
    let (t, f) = (abs(target), abs(from));
    let (tc, fc): (Vec<Component>, Vec<Component>) = (t.components().collect(), f.components().collect());
    let common = tc.iter().zip(&fc).take_while(|(a, b)| a == b).count();
    if common == 0 {
        return t;
    }
    let mut out = PathBuf::new();
    for _ in common..fc.len() {
        out.push("..");
    }
    for c in &tc[common..] {
        out.push(c.as_os_str());
    }
    out
}

/// Point relative `empirical` files of a scenario table at the same files
/// from `out` (the scenario is written elsewhere than it was read).
fn rebase_files(v: &mut toml::Value, scenario_dir: &Path, out: &Path) {
    match v {
        toml::Value::Table(t) => {
            let empirical = t.get("kind").and_then(|k| k.as_str()) == Some("empirical");
            if let (true, Some(toml::Value::String(f))) = (empirical, t.get_mut("file")) {
                if Path::new(f.as_str()).is_relative() {
                    *f = relative_to(&scenario_dir.join(&*f), out).to_string_lossy().into_owned();
                }
            }
            for (_, child) in t.iter_mut() {
                rebase_files(child, scenario_dir, out);
            }
        }
        toml::Value::Array(items) => items.iter_mut().for_each(|i| rebase_files(i, scenario_dir, out)),
        _ => {}
    }
}

/// The scenario with the recommendation (or the closest setting) applied,
/// the user's processing times as its handler, and an `[expect]` block that
/// checks the budgets with the same replications and seeds.
fn advised_scenario(a: &Advice, e: &Evaluation, out: &Path) -> Result<String, Error> {
    let source = crate::config::Source::load(&a.scenario_file)?;
    let mut table = source.table.clone();
    table.remove("sweep");
    table.remove("expect");
    for o in a.overrides.iter().chain(&e.setting.overrides(a.knobs)) {
        apply_override(&mut table, o)?;
    }
    let mut root = toml::Value::Table(table);
    let dir = a.scenario_file.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    rebase_files(&mut root, dir, out);
    let toml::Value::Table(mut table) = root else { return Err(Error::Bug("scenario is not a table".into())) };
    let duration = match (&a.observed, &a.processing_text) {
        (Some(_), _) => {
            let mut t = toml::Table::new();
            t.insert("kind".into(), toml::Value::String("empirical".into()));
            t.insert("file".into(), toml::Value::String("durations.csv".into()));
            Some(toml::Value::Table(t))
        }
        (None, Some(text)) => {
            let t: toml::Table = toml::from_str(&format!("v = {text}")).map_err(|e| Error::Bug(e.to_string()))?;
            t.get("v").cloned()
        }
        _ => None,
    };
    if let Some(d) = duration {
        let handler = table.entry("handler").or_insert_with(|| toml::Value::Table(toml::Table::new()));
        if let toml::Value::Table(h) = handler {
            h.remove("steps");
            h.remove("effect_step");
            h.insert("duration".into(), d);
        }
    }
    let body = toml::to_string(&table).map_err(|e| Error::Bug(format!("cannot write the scenario: {e}")))?;
    let b = &a.budgets;
    let mut t = format!(
        "# Written by `dupsim advise` from {}: {}.\n# `dupsim check` on this file fails if a change to the model or to this\n# scenario breaks the budgets the setting was chosen for.\n",
        a.scenario_file.display(),
        e.setting.label()
    );
    t.push_str(&body);
    let _ = write!(
        t,
        "\n[expect]\nreplications = {}\nduplicate_rate = {{ mean = \"<= {}\", confidence = {} }}\n\"retry_latency_s.p99\" = \"<= {}\"\n",
        a.replications, b.max_duplicate_rate, b.confidence, b.max_retry_p99_s
    );
    Ok(t)
}

fn chart(a: &Advice, out: &Path) -> Result<(), Error> {
    let rec = a.recommendation.as_ref().map(|e| e.setting);
    let rule_settings: Vec<_> = a.rules.iter().map(|r| r.eval.setting).collect();
    let mut points: Vec<AdvicePoint> = a
        .evaluated
        .iter()
        .filter(|e| {
            Some(e.setting) != rec && !rule_settings.contains(&e.setting) && e.setting.vt_s < a.knobs.lease_max_s
        })
        .map(|e| point(e, e.setting.label(), AdvicePointKind::Searched))
        .collect();
    points.extend(a.rules.iter().map(|r| point(&r.eval, r.name.to_string(), AdvicePointKind::RuleOfThumb)));
    if let Some(e) = &a.recommendation {
        points.push(point(e, format!("recommended: {}", e.setting.label()), AdvicePointKind::Recommended));
    }
    let c = AdviceChart {
        title: format!("{}: duplicate rate vs retry latency p99 ({} settings)", a.name, a.evaluated.len()),
        points,
        max_duplicate_rate: Some(a.budgets.max_duplicate_rate),
        max_retry_p99_s: Some(a.budgets.max_retry_p99_s),
    };
    advice_chart(&c, &out.join("pareto")).map_err(|e| Error::Io(e.to_string()))
}

fn point(e: &Evaluation, label: String, kind: AdvicePointKind) -> AdvicePoint {
    AdvicePoint {
        label,
        retry_p99_s: e.retry_p99_s,
        dup_rate_mean: e.duplicate_rate.mean,
        dup_rate_lo: e.duplicate_rate.lower,
        dup_rate_hi: e.duplicate_rate.upper,
        kind,
    }
}

fn markdown(a: &Advice, snippet_sh: &str, snippet_tf: &str) -> String {
    let mut t = format!("# dupsim advise: {}\n\n", a.name);
    let _ = writeln!(t, "- Scenario: `{}` (broker `{}`)", a.scenario_file.display(), a.knobs.broker);
    let _ = writeln!(
        t,
        "- Processing times: {}; p50 {:.2} s, p99 {:.2} s, max {:.2} s",
        a.processing_source, a.processing.p50_s, a.processing.p99_s, a.processing.max_s
    );
    let _ = writeln!(t, "- Budgets: {}", budgets_text(a));
    let _ = writeln!(
        t,
        "- {} replications per setting, the same seeds at every setting (common random numbers)\n",
        a.replications
    );
    match &a.recommendation {
        Some(e) => {
            let _ = writeln!(t, "## Recommendation\n\n**{}**\n", headline(a, e));
            let mut rows = vec![("**recommended**".to_string(), e.as_ref())];
            rows.extend(a.runners_up.iter().enumerate().map(|(i, e)| (format!("runner-up {}", i + 1), e.as_ref())));
            t.push_str(&table(a, &rows));
        }
        None => {
            let _ = writeln!(t, "## No setting meets the budgets\n");
            if let Some(b) = &a.binding {
                let _ = writeln!(t, "{}\n\nThe closest settings:\n", b.explanation);
            }
            let rows: Vec<(String, &Evaluation)> =
                a.closest.iter().enumerate().map(|(i, e)| (format!("closest {}", i + 1), e.as_ref())).collect();
            t.push_str(&table(a, &rows));
        }
    }
    t.push_str("\nDuplicate rate: mean over replications, with the one-sided bounds at the confidence level (the upper bound is what the budget is checked against). Retry p99: the largest over replications. ✗: over budget.\n\n");
    t.push_str("## Rules of thumb on the same load\n\n");
    t.push_str(&table(a, &a.rules.iter().map(|r| (r.name.to_string(), r.eval.as_ref())).collect::<Vec<_>>()));
    t.push('\n');
    for r in &a.rules {
        let _ = writeln!(t, "- {}: {}", r.name, r.derivation);
    }
    t.push_str("\n## Chart\n\n![duplicate rate against retry latency p99](pareto.svg)\n\nEvery simulated setting; the Pareto front (no other setting has both fewer duplicates and a shorter retry wait) is labelled, the recommendation is the gold circle, each rule of thumb has its own marker (named in the legend), and the dashed lines are the budgets. The duplicate-rate axis is symlog: zero, then decades.\n\n");
    if a.recommendation.is_some() || !a.closest.is_empty() {
        let _ = writeln!(t, "## Snippets\n\n```sh\n{}```\n\n```hcl\n{}```\n", snippet_sh, snippet_tf);
        t.push_str(
            "`advised.toml` is the scenario with this setting; `dupsim check advised.toml` keeps it honest in CI.\n\n",
        );
    }
    let _ = writeln!(
        t,
        "## Search\n\n{} settings x {} replications = {} runs; the full grid the search covers (every whole second of VT up to {} s without a heartbeat, up to interval + 1 s with each of {} heartbeats, at maxReceiveCount {:?}) is {} runs. See docs/advise.md for the method.",
        a.evaluated.len(),
        a.replications,
        a.runs,
        a.search.vt_hi_s,
        a.search.ladder.len() * super::search::EXTENSION_MULTIPLES.len(),
        a.search.max_receive_counts,
        a.full_grid_runs
    );
    for w in &a.warnings {
        let _ = writeln!(t, "\nWarning: {w}");
    }
    t
}

fn write(out: &Path, name: &str, text: &str) -> Result<(), Error> {
    let path = out.join(name);
    write_atomic(&path, text.as_bytes()).map_err(|e| Error::Io(format!("{}: cannot write: {e}", path.display())))
}

/// Write every file into `out`; the names written.
pub fn write_all(a: &Advice, out: &Path) -> Result<Vec<String>, Error> {
    std::fs::create_dir_all(out).map_err(|e| Error::Io(format!("{}: cannot create: {e}", out.display())))?;
    let mut written = Vec::new();
    let mut put = |name: &str, text: &str| -> Result<(), Error> {
        write(out, name, text)?;
        written.push(name.to_string());
        Ok(())
    };
    put("advice.json", &(serde_json::to_string_pretty(&json(a)).unwrap_or_default() + "\n"))?;
    let chosen = a.recommendation.as_ref().or(a.closest.first());
    let (sh, tf) = chosen.map_or((String::new(), String::new()), |e| (cli_snippet(a, e), terraform_snippet(a, e)));
    if let Some(e) = chosen {
        put("set-queue-attributes.sh", &sh)?;
        put("sqs.tf", &tf)?;
        if let Some(o) = &a.observed {
            let mut csv = String::from("duration_s\n");
            for v in &o.sorted {
                csv.push_str(&format_seconds(*v));
                csv.push('\n');
            }
            put("durations.csv", &csv)?;
        }
        if a.recommendation.is_some() {
            put("advised.toml", &advised_scenario(a, e, out)?)?;
        }
    }
    put("advice.md", &markdown(a, &sh, &tf))?;
    chart(a, out)?;
    written.extend(["pareto.svg".to_string(), "pareto.png".to_string()]);
    Ok(written)
}
