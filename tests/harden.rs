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
