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
