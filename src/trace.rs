//! The trace CSV: one row per thing that happened to a message, with exact
//! nanosecond times. Columns: `t_s,event,msg,worker,receive,detail`, and
//! `queue` after them when the scenario declares `[[queues]]`.

use crate::duration::{Nanos, NS_PER_S};
use std::io::{self, Write};

pub const HEADER: &str = "t_s,event,msg,worker,receive,detail";

/// The header with the `queue` column (scenarios with `[[queues]]`).
pub const HEADER_WITH_QUEUE: &str = "t_s,event,msg,worker,receive,detail,queue";

/// Trace event names (the `event` column).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Send,
    Visible,
    Receive,
    Expire,
    Heartbeat,
    Effect,
    DuplicateEffect,
    Delete,
    DeleteStale,
    DeleteError,
    Fail,
    Crash,
    Restart,
    Dlq,
    Lost,
    Expired,
    /// A failed attempt's ChangeMessageVisibility that did not make the
    /// message visible at once (a backoff, or a call that changed nothing).
    ChangeVisibility,
}

impl Kind {
    /// Every event name, in the order docs/output.md lists them.
    pub const ALL: [Kind; 17] = [
        Kind::Send,
        Kind::Visible,
        Kind::Receive,
        Kind::Expire,
        Kind::Heartbeat,
        Kind::ChangeVisibility,
        Kind::Effect,
        Kind::DuplicateEffect,
        Kind::Delete,
        Kind::DeleteStale,
        Kind::DeleteError,
        Kind::Fail,
        Kind::Crash,
        Kind::Restart,
        Kind::Dlq,
        Kind::Expired,
        Kind::Lost,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Kind::Send => "send",
            Kind::Visible => "visible",
            Kind::Receive => "receive",
            Kind::Expire => "expire",
            Kind::Heartbeat => "heartbeat",
            Kind::Effect => "effect",
            Kind::DuplicateEffect => "duplicate_effect",
            Kind::Delete => "delete",
            Kind::DeleteStale => "delete_stale",
            Kind::DeleteError => "delete_error",
            Kind::Fail => "fail",
            Kind::Crash => "crash",
            Kind::Restart => "restart",
            Kind::Dlq => "dlq",
            Kind::Lost => "lost",
            Kind::Expired => "expired",
            Kind::ChangeVisibility => "change_visibility",
        }
    }
}

/// Writes trace rows with a real CSV writer (RFC 4180 quoting: a worker
/// name or detail with a comma, quote or line break is quoted); the first
/// I/O error is kept and reported at the end.
pub struct Trace {
    out: csv::Writer<Box<dyn Write + Send>>,
    error: Option<io::Error>,
    rows: u64,
    /// Reused text of the numeric fields (no allocation per row).
    scratch: String,
    header_written: bool,
    queue_column: bool,
}

impl Trace {
    pub fn new(out: Box<dyn Write + Send>) -> Trace {
        let out = csv::WriterBuilder::new()
            .has_headers(false)
            .quote_style(csv::QuoteStyle::Necessary)
            .buffer_capacity(1 << 16)
            .from_writer(out);
        Trace {
            out,
            error: None,
            rows: 0,
            scratch: String::with_capacity(64),
            header_written: false,
            queue_column: false,
        }
    }

    /// Add the `queue` column (before the first row).
    pub fn with_queue_column(&mut self, on: bool) {
        debug_assert!(!self.header_written, "the header is already written");
        self.queue_column = on;
    }

    fn header(&mut self) {
        if !self.header_written {
            self.header_written = true;
            let header = if self.queue_column { HEADER_WITH_QUEUE } else { HEADER };
            let r = self.out.write_record(header.split(',')).map_err(io::Error::from);
            self.check(r);
        }
    }

    fn check(&mut self, r: io::Result<()>) {
        if let (Err(e), None) = (r, &self.error) {
            self.error = Some(e);
        }
    }

    /// One row: every field of the `t_s,event,msg,worker,receive,detail`
    /// contract (and `queue` when the trace has that column), written by this
    /// one function. `msg` and `receive` are left empty when `None`; `t_s` is
    /// exact (up to nine decimals, no trailing zeros).
    #[allow(clippy::too_many_arguments)]
    pub fn row(
        &mut self,
        t: Nanos,
        kind: Kind,
        msg: Option<u64>,
        worker: &str,
        receive: Option<u32>,
        detail: &str,
        queue: Option<&str>,
    ) {
        use std::fmt::Write as _;
        self.header();
        if self.error.is_some() {
            return;
        }
        self.rows += 1;
        let buf = &mut self.scratch;
        buf.clear();
        let (s, frac) = (t / NS_PER_S, t % NS_PER_S);
        let _ = if frac == 0 {
            write!(buf, "{s}")
        } else {
            let mut digits = frac;
            let mut width = 9;
            while digits % 10 == 0 {
                digits /= 10;
                width -= 1;
            }
            write!(buf, "{s}.{digits:0width$}")
        };
        let t_end = buf.len();
        if let Some(m) = msg {
            let _ = write!(buf, "{m}");
        }
        let msg_end = buf.len();
        if let Some(rc) = receive {
            let _ = write!(buf, "{rc}");
        }
        let fields =
            [&buf[..t_end], kind.name(), &buf[t_end..msg_end], worker, &buf[msg_end..], detail, queue.unwrap_or("")];
        let n = if self.queue_column { 7 } else { 6 };
        let r = self.out.write_record(&fields[..n]).map_err(io::Error::from);
        self.check(r);
    }

    /// Flush and report the first error, if any.
    pub fn finish(mut self) -> io::Result<u64> {
        self.header();
        let r = self.out.flush();
        self.check(r);
        match self.error {
            Some(e) => Err(e),
            None => Ok(self.rows),
        }
    }
}

/// An in-memory trace destination (for timelines and failure explanations).
#[derive(Default, Clone)]
pub struct MemoryBuffer(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl MemoryBuffer {
    pub fn text(&self) -> String {
        self.0.lock().map(|b| String::from_utf8_lossy(&b).into_owned()).unwrap_or_default()
    }
}

impl Write for MemoryBuffer {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        self.0.lock().map_err(|_| io::Error::other("trace buffer poisoned"))?.extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A parsed trace row (for timelines and tests).
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub t_s: f64,
    pub event: String,
    pub msg: Option<u64>,
    pub worker: String,
    pub receive: Option<u32>,
    pub detail: String,
    /// Empty when the trace has no `queue` column.
    pub queue: String,
}

/// Parse trace CSV text.
pub fn parse(text: &str) -> Result<Vec<Row>, String> {
    let mut reader = csv::ReaderBuilder::new().has_headers(true).from_reader(text.as_bytes());
    let mut rows = Vec::new();
    for record in reader.records() {
        let r = record.map_err(|e| e.to_string())?;
        let field = |i: usize| r.get(i).unwrap_or("").to_string();
        rows.push(Row {
            t_s: field(0).parse().map_err(|_| format!("bad time `{}`", field(0)))?,
            event: field(1),
            msg: field(2).parse().ok(),
            worker: field(3),
            receive: field(4).parse().ok(),
            detail: field(5),
            queue: field(6),
        });
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_lists_every_kind_once() {
        for k in Kind::ALL {
            // Exhaustive: a new variant does not compile here until it is listed in ALL.
            match k {
                Kind::Send
                | Kind::Visible
                | Kind::Receive
                | Kind::Expire
                | Kind::Heartbeat
                | Kind::ChangeVisibility
                | Kind::Effect
                | Kind::DuplicateEffect
                | Kind::Delete
                | Kind::DeleteStale
                | Kind::DeleteError
                | Kind::Fail
                | Kind::Crash
                | Kind::Restart
                | Kind::Dlq
                | Kind::Expired
                | Kind::Lost => {}
            }
        }
        let mut names: Vec<&str> = Kind::ALL.iter().map(|k| k.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Kind::ALL.len());
    }

    #[test]
    fn rows_have_exact_times_and_quoted_details() {
        let buf = MemoryBuffer::default();
        let mut t = Trace::new(Box::new(buf.clone()));
        t.row(30 * NS_PER_S, Kind::Expire, Some(1), "", Some(1), "", None);
        t.row(31 * NS_PER_S + 500_000_000, Kind::Receive, Some(1), "B", Some(2), "a,b", None);
        t.row(1, Kind::Crash, None, "A", None, "", None);
        assert_eq!(t.finish().unwrap(), 3);
        let text = buf.text();
        assert_eq!(text, format!("{HEADER}\n30,expire,1,,1,\n31.5,receive,1,B,2,\"a,b\"\n0.000000001,crash,,A,,\n"));
        let rows = parse(&text).unwrap();
        assert_eq!(rows[1].detail, "a,b");
        assert_eq!(rows[2].msg, None);
    }

    #[test]
    fn the_queue_column_is_appended_when_asked() {
        let buf = MemoryBuffer::default();
        let mut t = Trace::new(Box::new(buf.clone()));
        t.with_queue_column(true);
        t.row(0, Kind::Send, Some(1), "", None, "", Some("orders"));
        t.row(1, Kind::Crash, None, "A", None, "", None);
        t.finish().unwrap();
        let text = buf.text();
        assert_eq!(text, format!("{HEADER_WITH_QUEUE}\n0,send,1,,,,orders\n0.000000001,crash,,A,,,\n"));
        assert_eq!(parse(&text).unwrap()[0].queue, "orders");
    }

    #[test]
    fn worker_names_and_details_with_commas_quotes_and_non_ascii_round_trip() {
        // Issue 15: worker names were written unquoted, so a comma in a
        // name shifted every later column.
        let names = ["a,b", "say \"hi\"", "Zürich-東京", "line\nbreak", " spaced ", ""];
        let buf = MemoryBuffer::default();
        let mut t = Trace::new(Box::new(buf.clone()));
        for (i, n) in names.iter().enumerate() {
            t.row(i as u64 * NS_PER_S, Kind::Receive, Some(i as u64), n, Some(1), n, None);
        }
        t.finish().unwrap();
        let text = buf.text();
        assert!(text.starts_with(&format!("{HEADER}\n0,receive,0,\"a,b\",1,\"a,b\"\n")), "{text}");
        assert!(text.contains("\n1,receive,1,\"say \"\"hi\"\"\",1,\"say \"\"hi\"\"\"\n"), "{text}");
        assert!(text.contains("\n2,receive,2,Zürich-東京,1,Zürich-東京\n"), "{text}");
        let rows = parse(&text).unwrap();
        assert_eq!(rows.len(), names.len());
        for (r, n) in rows.iter().zip(names) {
            assert_eq!((r.worker.as_str(), r.detail.as_str(), r.receive), (n, n, Some(1)));
        }
    }
}
