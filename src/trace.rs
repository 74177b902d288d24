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

/// Writes trace rows; the first I/O error is kept and reported at the end.
pub struct Trace {
    out: io::BufWriter<Box<dyn Write + Send>>,
    error: Option<io::Error>,
    rows: u64,
    header_written: bool,
    queue_column: bool,
}

impl Trace {
    pub fn new(out: Box<dyn Write + Send>) -> Trace {
        let out = io::BufWriter::with_capacity(1 << 16, out);
        Trace { out, error: None, rows: 0, header_written: false, queue_column: false }
    }

    /// Add the `queue` column (before the first row).
    pub fn with_queue_column(&mut self, on: bool) {
        debug_assert!(!self.header_written, "the header is already written");
        self.queue_column = on;
    }

    fn header(&mut self) {
        if !self.header_written {
            self.header_written = true;
            let r = writeln!(self.out, "{}", if self.queue_column { HEADER_WITH_QUEUE } else { HEADER });
            self.check(r);
        }
    }

    fn check(&mut self, r: io::Result<()>) {
        if let (Err(e), None) = (r, &self.error) {
            self.error = Some(e);
        }
    }

    /// One row. `msg` and `receive` are left empty when `None`; `queue` is
    /// written only when the trace has the column.
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
        self.header();
        if self.error.is_some() {
            return;
        }
        self.rows += 1;
        let (s, frac) = (t / NS_PER_S, t % NS_PER_S);
        let r = if frac == 0 {
            write!(self.out, "{s}")
        } else {
            let mut digits = frac;
            let mut width = 9;
            while digits % 10 == 0 {
                digits /= 10;
                width -= 1;
            }
            write!(self.out, "{s}.{digits:0width$}")
        };
        self.check(r);
        let r = write!(self.out, ",{},", kind.name());
        self.check(r);
        if let Some(m) = msg {
            let r = write!(self.out, "{m}");
            self.check(r);
        }
        let r = write!(self.out, ",{worker},");
        self.check(r);
        if let Some(rc) = receive {
            let r = write!(self.out, "{rc}");
            self.check(r);
        }
        let r = if detail.contains([',', '"', '\n']) {
            write!(self.out, ",\"{}\"", detail.replace('"', "\"\""))
        } else {
            write!(self.out, ",{detail}")
        };
        self.check(r);
        let r = match (self.queue_column, queue) {
            (true, Some(q)) if q.contains([',', '"', '\n']) => writeln!(self.out, ",\"{}\"", q.replace('"', "\"\"")),
            (true, q) => writeln!(self.out, ",{}", q.unwrap_or("")),
            (false, _) => writeln!(self.out),
        };
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
}
