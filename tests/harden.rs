//! Issue 15 (hardening): one test per class of defect found by attacking the
//! command line with hostile inputs. Each test fails on the code before the
//! fix of its class.

use std::path::Path;
use std::process::{Command, Output};

fn dupsim_in(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dupsim")).current_dir(dir).args(args).output().expect("binary runs")
}

fn dupsim(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dupsim")).args(args).output().expect("binary runs")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

const GOOD: &str = r#"name = "t"
[run]
messages = 20
[producer]
arrival = { kind = "poisson", rate = 1.0 }
[queue]
visibility_timeout = "30s"
[[workers]]
name = "w"
[handler]
duration = "1s"
"#;

// ------------------------------------------------------------ 5. trace CSV

#[test]
fn worker_names_with_commas_quotes_and_non_ascii_keep_the_trace_columns() {
    let dir = tempfile::tempdir().unwrap();
    let name = r#"w, "east" Zürich"#;
    let text = GOOD.replace("name = \"w\"", &format!("name = '{name}'\ncount = 2"));
    let path = write(dir.path(), "s.toml", &text);
    let trace = dir.path().join("t.csv");
    let svg = dir.path().join("t.svg");
    let o = dupsim(&["run", &path, "--trace", trace.to_str().unwrap(), "--timeline", svg.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let csv = std::fs::read_to_string(&trace).unwrap();
    let mut reader = csv::ReaderBuilder::new().from_reader(csv.as_bytes());
    let mut receives = 0;
    for r in reader.records() {
        let r = r.unwrap();
        assert_eq!(r.len(), 6, "{r:?}");
        if &r[1] == "receive" {
            receives += 1;
            assert!(r[3] == format!("{name}-0") || r[3] == format!("{name}-1"), "{r:?}");
        }
    }
    assert!(receives >= 20, "{receives} receives");
    assert!(std::fs::metadata(&svg).unwrap().len() > 0);
}

// ------------------------------------------------------------ 1. outputs

/// The trace of GOOD as a regular file, for comparison.
fn trace_file_text(dir: &Path, scenario: &str) -> String {
    let p = dir.join("regular.csv");
    let o = dupsim(&["run", scenario, "--trace", p.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    std::fs::read_to_string(p).unwrap()
}

#[test]
fn trace_to_stdout_dash_puts_the_summary_on_stderr() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "s.toml", GOOD);
    let expected = trace_file_text(dir.path(), &path);
    let o = dupsim(&["run", &path, "--trace", "-"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(stdout(&o), expected);
    assert!(stderr(&o).contains("duplicate"), "summary on stderr: {}", stderr(&o));
    assert!(!dir.path().join("-").exists());
    // A timeline of a trace on stdout reads the copy kept in memory.
    let svg = dir.path().join("t.svg");
    let o = dupsim(&["run", &path, "--trace", "-", "--timeline", svg.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(stdout(&o), expected);
    assert!(std::fs::read_to_string(&svg).unwrap().contains("<svg"));
}

#[cfg(unix)]
#[test]
fn trace_to_a_fifo_is_written_into_it_and_the_fifo_stays() {
    use std::os::unix::fs::FileTypeExt;
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "s.toml", GOOD);
    let expected = trace_file_text(dir.path(), &path);
    let fifo = dir.path().join("trace.fifo");
    let made = Command::new("mkfifo").arg(&fifo).status().expect("mkfifo runs");
    assert!(made.success());
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || std::fs::read_to_string(fifo).unwrap())
    };
    let o = dupsim(&["run", &path, "--trace", fifo.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(reader.join().unwrap(), expected);
    assert!(std::fs::symlink_metadata(&fifo).unwrap().file_type().is_fifo(), "the FIFO was replaced");
}

#[cfg(unix)]
#[test]
fn outputs_follow_symlinks_and_leave_devices_alone() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "s.toml", GOOD);
    let real = dir.path().join("real.csv");
    std::fs::write(&real, "old").unwrap();
    let link = dir.path().join("link.csv");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    let o = dupsim(&["run", &path, "--trace", link.to_str().unwrap(), "--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink(), "the link was replaced");
    assert!(std::fs::read_to_string(&real).unwrap().starts_with("t_s,event"));
    let o = dupsim(&["run", &path, "--trace", "/dev/null"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(!std::fs::metadata("/dev/null").unwrap().is_file());
}

// ------------------------------------------------------------ 2. memory

#[test]
fn a_one_nanosecond_long_poll_keeps_memory_bounded() {
    // One worker holds the only message for 5 ms; the other polls with a
    // 1 ns wait, 5 million empty polls. Each used to leave a parked-poll
    // entry behind (8 bytes each, 40 MB here; 4 GiB and an abort at scale).
    let dir = tempfile::tempdir().unwrap();
    let text = GOOD
        .replace("messages = 20", "messages = 1\nmax_memory = \"24MiB\"")
        .replace("name = \"w\"", "name = \"w\"\ncount = 2\nreceive = { wait = \"1ns\" }")
        .replace("duration = \"1s\"", "duration = \"5ms\"");
    let path = write(dir.path(), "s.toml", &text);
    let o = dupsim(&["run", &path, "--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["final"]["deleted"], 1, "{v}");
}

#[test]
fn a_huge_adaptive_multiple_saturates_at_the_12h_limit() {
    // Two messages, one worker: the first attempt takes 5 s (the observed
    // p99), the second asks for 1e300 x 5 s. The extension saturates at
    // 12 h, so the broker rejects it (SQS: no more than 12 h after the
    // receive), and the message is redelivered when its 30 s VT runs out:
    // it was never extended past the cap (before: an overflow of
    // `now + extension`, a panic in debug builds).
    let text = GOOD
        .replace("messages = 20", "messages = 2")
        .replace("arrival = { kind = \"poisson\", rate = 1.0 }", "arrival = { kind = \"scripted\", at = [\"0s\", \"0s\"] }")
        .replace(
            "name = \"w\"",
            "name = \"w\"\nheartbeat = { kind = \"adaptive\", interval = \"10s\", multiple = 1e300, min_extend = \"1s\" }",
        )
        .replace(
            "duration = \"1s\"",
            "steps = [{ delay = { kind = \"sequence\", values = [\"5s\", \"40s\", \"1s\"] } }]",
        );
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "s.toml", &text);
    let trace = dir.path().join("t.csv");
    let o = dupsim(&["run", &path, "--trace", trace.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let csv = std::fs::read_to_string(&trace).unwrap();
    // Message 2 is received at 5 s; its heartbeat at 15 s is rejected.
    assert!(csv.contains("\n15,heartbeat,2,w,1,over 12h\n"), "{csv}");
    // Its lease (5 s + 30 s) expires at 35 s, while the attempt still runs.
    assert!(csv.contains("\n35,expire,2,"), "{csv}");
}

#[test]
fn worker_slots_are_bounded_as_a_product() {
    let dir = tempfile::tempdir().unwrap();
    let text = GOOD.replace("name = \"w\"", "name = \"w\"\ncount = 100000\nconcurrency = 65535");
    let path = write(dir.path(), "s.toml", &text);
    for cmd in ["validate", "run"] {
        let o = dupsim(&[cmd, &path]);
        assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
        assert!(stderr(&o).contains(&format!("{path}:11:")), "{}", stderr(&o));
        assert!(stderr(&o).contains("at most 10000000"), "{}", stderr(&o));
    }
}

#[cfg(unix)]
#[test]
fn an_empirical_csv_is_read_up_to_a_bound() {
    let dir = tempfile::tempdir().unwrap();
    let text = GOOD.replace("duration = \"1s\"", "duration = { kind = \"empirical\", file = \"/dev/zero\" }");
    let path = write(dir.path(), "s.toml", &text);
    let o = dupsim(&["validate", &path]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("larger than 64MiB"), "{}", stderr(&o));
}

#[test]
fn a_growing_queue_stops_at_the_memory_limit_with_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let text = GOOD
        .replace("messages = 20", "messages = 100000000\nmax_live_messages = 1000000000\nmax_memory = \"16MiB\"")
        .replace("rate = 1.0", "rate = 1000000.0");
    let path = write(dir.path(), "s.toml", &text);
    let o = dupsim(&["run", &path]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("run.max_memory = 16MiB exceeded"), "{}", stderr(&o));
    let text = GOOD.replace("messages = 20", "messages = 20\nmax_memory = \"1MiB\"");
    let o = dupsim(&["validate", &write(dir.path(), "s.toml", &text)]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("at least 16MiB"), "{}", stderr(&o));
}

// ------------------------------------------------------------ 7. long runs

#[test]
fn a_wall_clock_limit_stops_an_event_storm_with_exit_2() {
    // A 1 ns idle backoff with short polls: billions of empty receives, no
    // output for minutes before. --max-wall stops it, and so does the key.
    let dir = tempfile::tempdir().unwrap();
    let text = GOOD
        .replace("messages = 20", "messages = 20\nmax_events = 100000000000")
        .replace("name = \"w\"", "name = \"w\"\nreceive = { wait = \"0s\", idle_backoff = \"1ns\" }")
        .replace("rate = 1.0", "rate = 0.001");
    let path = write(dir.path(), "s.toml", &text);
    let o = dupsim(&["run", &path, "--max-wall", "300ms"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("run.max_wall_time = 0.3s of wall-clock time reached"), "{}", stderr(&o));
    let keyed = write(
        dir.path(),
        "k.toml",
        &text.replace("[queue]", "[queue]\n").replace("[run]", "[run]\nmax_wall_time = \"300ms\""),
    );
    let o = dupsim(&["run", &keyed]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("max_wall_time"), "{}", stderr(&o));
    let o = dupsim(&["run", &path, "--max-wall", "soon"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--max-wall soon"), "{}", stderr(&o));
}

// ------------------------------------------------------------ 4. paths from names

const SWEEP: &str = r#"name = "NAME"
[run]
messages = 5
[producer]
arrival = { kind = "poisson", rate = 1.0 }
[[workers]]
name = "w"
[handler]
duration = "1s"
[sweep]
"queue.visibility_timeout" = ["30s", "60s"]
"#;

#[test]
fn a_sweep_with_a_hostile_name_stays_under_reports() {
    for (name, dir) in [("../../escape", "escape"), ("/tmp/dupsim-abs", "tmp-dupsim-abs"), ("..", "scenario")] {
        let cwd = tempfile::tempdir().unwrap();
        let work = cwd.path().join("a/b");
        std::fs::create_dir_all(&work).unwrap();
        let path = write(&work, "s.toml", &SWEEP.replace("NAME", name));
        let o = dupsim_in(&work, &["sweep", &path, "--threads", "1"]);
        assert_eq!(o.status.code(), Some(0), "{name}: {}", stderr(&o));
        assert!(work.join("reports").join(dir).join("results.csv").is_file(), "{name}: {}", stderr(&o));
        let top: Vec<_> = std::fs::read_dir(&work).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(top.len(), 2, "{name}: only s.toml and reports/ in {top:?}");
        assert!(!cwd.path().join("escape").exists() && !cwd.path().join("a/escape").exists());
        assert!(!Path::new("/tmp/dupsim-abs").exists());
    }
}

#[test]
fn a_sweep_does_not_overwrite_a_report_of_other_inputs_without_force() {
    let cwd = tempfile::tempdir().unwrap();
    let work = cwd.path();
    let path = write(work, "s.toml", &SWEEP.replace("NAME", "s"));
    let sweep = |extra: &[&str]| {
        let mut args = vec!["sweep", path.as_str(), "--threads", "1"];
        args.extend_from_slice(extra);
        dupsim_in(work, &args)
    };
    assert_eq!(sweep(&[]).status.code(), Some(0));
    let report = std::fs::read_to_string(work.join("reports/s/results.csv")).unwrap();
    // The "quick look" of docs/sweeps.md: other overrides, same directory.
    let o = sweep(&["--set", "run.messages=2"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("holds a sweep report of other inputs"), "{}", stderr(&o));
    assert!(stderr(&o).contains("--force"), "{}", stderr(&o));
    assert_eq!(std::fs::read_to_string(work.join("reports/s/results.csv")).unwrap(), report);
    // Another scenario file with the same name.
    let other = write(work, "other.toml", &SWEEP.replace("NAME", "s").replace("\"60s\"", "\"90s\""));
    let o = dupsim_in(work, &["sweep", &other, "--threads", "1"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    // A directory that is not a sweep report.
    std::fs::create_dir_all(work.join("mine")).unwrap();
    std::fs::write(work.join("mine/notes.txt"), "keep").unwrap();
    let o = sweep(&["--out", "mine"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    // Asked for: replaced.
    assert_eq!(sweep(&["--set", "run.messages=2", "--force"]).status.code(), Some(0));
    assert_ne!(std::fs::read_to_string(work.join("reports/s/results.csv")).unwrap(), report);
    // The same file edited regenerates its own report.
    std::fs::write(&path, SWEEP.replace("NAME", "s").replace("messages = 5", "messages = 6")).unwrap();
    assert_eq!(sweep(&["--set", "run.messages=2"]).status.code(), Some(0));
}

// ------------------------------------------------------------ 8. messages

#[test]
fn errors_speak_the_scenarios_words_not_rusts() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        GOOD.replace("messages = 20", "messages = -1"),
        GOOD.replace("messages = 20", "messages = 1.5"),
        GOOD.replace("messages = 20", "messages = \"many\""),
        GOOD.replace("name = \"w\"", "name = \"w\"\non_failure = \"release\""),
        GOOD.replace("[run]\nmessages = 20", "run = 5"),
        GOOD.replace("name = \"w\"", "name = \"w\"\ncrash = { mtbf = \"0.5s\" }"),
        GOOD.replace("name = \"w\"", "name = \"w\"\nconcurrency = 99999999999"),
        GOOD.replace("[queue]", "[queue]\nmax_receive_count = 100000000000"),
        GOOD.replace("name = \"w\"", "name = \"w\"\nreceive = 3"),
        GOOD.replace("[queue]", "[queue]\ninflight_limit = 0"),
        GOOD.replace("name = \"w\"", "name = \"w\"\nheartbeat = { interval = \"1s\", extend = 5 }"),
    ];
    for text in cases {
        let path = write(dir.path(), "s.toml", &text);
        let o = dupsim(&["validate", &path]);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{err}");
        assert!(err.contains(&format!("{path}:")), "{err}");
        for rust in ["u64", "u32", "usize", "f64", "Raw", "struct", "internally tagged", "18446744073"] {
            assert!(!err.contains(rust), "`{rust}` in: {err}");
        }
    }
}

#[test]
fn typos_suggest_the_nearest_key_or_value() {
    let dir = tempfile::tempdir().unwrap();
    for (text, hint) in [
        (GOOD.replace("visibility_timeout", "visiblity_timeout"), "did you mean `visibility_timeout`?"),
        (GOOD.replace("[[workers]]", "[[worker]]"), "did you mean `workers`?"),
        (GOOD.replace("poisson", "poison"), "did you mean `poisson`?"),
        (GOOD.replace("rate = 1.0", "rat = 1.0"), "did you mean `rate`?"),
    ] {
        let path = write(dir.path(), "s.toml", &text);
        let o = dupsim(&["validate", &path]);
        assert_eq!(o.status.code(), Some(2));
        assert!(stderr(&o).contains(hint), "{hint}: {}", stderr(&o));
    }
    let path = write(dir.path(), "s.toml", GOOD);
    let o = dupsim(&["run", &path, "--set", "queue.visiblity_timeout=2s"]);
    assert!(
        stderr(&o).contains(
            "--set queue.visiblity_timeout=2s: unknown field `visiblity_timeout` (did you mean `visibility_timeout`?)"
        ),
        "{}",
        stderr(&o)
    );
}

#[test]
fn a_bad_set_value_blames_the_flag_not_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "s.toml", GOOD);
    for set in ["network.loss=2", "network.send.loss=2", "network.request_loss=-1", "queue.visibility_timeout=13h"] {
        let o = dupsim(&["run", &path, "--set", set]);
        assert_eq!(o.status.code(), Some(2), "{set}");
        assert!(stderr(&o).starts_with(&format!("error: --set {set}: ")), "{set}: {}", stderr(&o));
    }
}

#[test]
fn set_on_a_swept_parameter_or_on_sweep_is_an_error_not_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "s.toml", &SWEEP.replace("NAME", "s"));
    let out = dir.path().join("out");
    for (set, needle) in [
        ("queue.visibility_timeout=45s", "is swept"),
        ("sweep.replications=3", "cannot change the [sweep] table"),
        ("sweep.\"queue.visibility_timeout\"=[\"1s\"]", "cannot change the [sweep] table"),
    ] {
        let o = dupsim(&["sweep", &path, "--set", set, "--out", out.to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(2), "{set}: {}", stderr(&o));
        assert!(stderr(&o).contains(needle), "{set}: {}", stderr(&o));
        assert!(stderr(&o).contains(&format!("--set {set}")), "{set}: {}", stderr(&o));
    }
    let o = dupsim(&["sweep", &path, "--set", "run.messages=3", "--out", out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
}

// ------------------------------------------------------------ 6. validate = check's input errors

#[test]
fn validate_rejects_expectations_that_check_would_reject_after_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let sweep = SWEEP.replace("NAME", "s");
    for (text, needle) in [
        (format!("{GOOD}[expect]\nduplicate_effectz = 0\n"), "unknown summary path `duplicate_effectz`"),
        (format!("{GOOD}[expect]\nstop_reason = \"< 3\"\n"), "is a string in the summary"),
        (format!("{GOOD}[expect]\n\"final.deleted\" = true\n"), "needs a boolean"),
        (format!("{GOOD}[expect]\nfinal = 3\n"), "is an object"),
        (format!("{GOOD}[expect]\nduplicate_rate = {{ mean = \"< 0.1\" }}\n"), "needs at least 2 replications"),
        (
            format!("{GOOD}[[expect.points]]\nwhere = {{ \"queue.visibility_timeout\" = \"30s\" }}\nduplicate_effects = 0\n"),
            "not a swept parameter",
        ),
        (
            format!("{sweep}[[expect.points]]\nwhere = {{ \"queue.visibility_timeout\" = \"45s\" }}\nduplicate_effects = 0\n"),
            "is not a value of `queue.visibility_timeout`",
        ),
        (
            format!("{sweep}[[expect.trends]]\nmetric = \"duplicate_rate\"\nalong = \"queue.retention\"\ndirection = \"non_increasing\"\n"),
            "`queue.retention` is not a swept parameter",
        ),
        (
            format!("{sweep}[expect]\nduplicate_rate = {{ mean = \"< 0.1\" }}\n"),
            "needs at least 2 replications",
        ),
    ] {
        let path = write(dir.path(), "s.toml", &text);
        let o = dupsim(&["validate", &path]);
        assert_eq!(o.status.code(), Some(2), "{needle}: {}", stderr(&o));
        assert!(stderr(&o).contains(needle), "{needle}: {}", stderr(&o));
        assert!(stderr(&o).contains(&format!("{path}:")), "{}", stderr(&o));
    }
    // A correct block still validates, and the same mean with replications.
    let ok = format!("{GOOD}[expect]\nreplications = 2\nduplicate_rate = {{ mean = \"< 0.1\" }}\ndlq = 0\n");
    let o = dupsim(&["validate", &write(dir.path(), "s.toml", &ok)]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
}

#[test]
fn check_with_no_expectations_is_an_error_not_a_pass() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "s.toml", GOOD);
    let o = dupsim(&["check", &path]);
    assert_eq!(o.status.code(), Some(2), "{}", stdout(&o));
    assert!(stderr(&o).contains("no [expect] table"), "{}", stderr(&o));
    let o = dupsim(&["check", dir.path().to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", stdout(&o));
    assert!(stderr(&o).contains("nothing was checked"), "{}", stderr(&o));
    assert!(!stdout(&o).contains("0 passed"), "{}", stdout(&o));
}

#[test]
fn a_nan_sweep_bound_is_rejected_by_validate() {
    let dir = tempfile::tempdir().unwrap();
    let text = SWEEP.replace("NAME", "s").replace(
        "\"queue.visibility_timeout\" = [\"30s\", \"60s\"]",
        "\"queue.short_poll_miss\" = { from = nan, to = 0.5, step = 0.1 }",
    );
    let path = write(dir.path(), "s.toml", &text);
    for cmd in ["validate", "sweep"] {
        let o = dupsim_in(dir.path(), &[cmd, &path]);
        assert_eq!(o.status.code(), Some(2), "{cmd}: {}", stderr(&o));
        assert!(stderr(&o).contains("finite"), "{}", stderr(&o));
        assert!(!stderr(&o).contains("panicked"), "{}", stderr(&o));
    }
}
