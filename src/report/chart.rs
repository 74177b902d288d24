//! Charts of sweep results and run timelines, drawn with plotters as SVG and PNG.
//!
//! This module turns plain data (points, grids, bars) into image files; it knows
//! nothing about the simulator. Four charts are offered:
//!
//! 1. [`tradeoff_chart`]: duplicate rate (symlog axis) versus retry latency p99 per
//!    configuration, with 95% confidence intervals and the Pareto front (labelled).
//! 2. [`heatmap_chart`]: a value (e.g. duplicate rate) over two swept parameters.
//! 3. [`timeline_chart`]: a Gantt chart of the attempts of one run.
//! 4. [`advice_chart`]: the settings `dupsim advise` simulated, with the
//!    recommendation, the rules of thumb and the budgets.
//!
//! This file holds the plain-data types, the entry points, file output and
//! the drawing helpers the charts share; each chart is drawn in its own
//! module (`chart/tradeoff.rs`, `heatmap.rs`, `timeline.rs`, `advice.rs`),
//! and `chart/axes.rs` has the symlog axis for rates.
//!
//! Text is rendered with an embedded DejaVu Sans font (registered with plotters'
//! `ab_glyph` support), so no system font library is needed. Every file is
//! written atomically (temp file in the same directory, then rename) and the
//! output is deterministic: the same input yields byte-identical SVG.

mod advice;
mod axes;
mod heatmap;
mod timeline;
mod tradeoff;

pub use advice::{advice_chart, advice_front, AdviceChart, AdvicePoint, AdvicePointKind};
use heatmap::*;
use timeline::*;
use tradeoff::*;

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

const FONT_FAMILY: &str = "sans-serif";
static FONT_BYTES: &[u8] = include_bytes!("../../assets/DejaVuSans.ttf");

const WIDTH: u32 = 1024;
const HEIGHT: u32 = 640;
/// At most this many lanes are drawn in a timeline.
const MAX_LANES: usize = 200;
/// At most this many bars are drawn in a timeline.
const MAX_BARS: usize = 20_000;
/// Number of colour steps in the heatmap's colour bar.
const LEGEND_STEPS: usize = 64;

/// One configuration in the trade-off chart.
#[derive(Clone, Debug, PartialEq)]
pub struct TradeoffPoint {
    pub label: String,
    pub retry_p99_s: f64,
    pub dup_rate_mean: f64,
    pub dup_rate_lo: f64,
    pub dup_rate_hi: f64,
}

/// A value over two swept parameters.
#[derive(Clone, Debug, PartialEq)]
pub struct Heatmap {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub x_values: Vec<String>,
    pub y_values: Vec<String>,
    /// `cells[yi][xi]`
    pub cells: Vec<Vec<Option<f64>>>,
    pub value_label: String,
}

/// How one processing attempt ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Success,
    DuplicateSuccess,
    Failure,
    Crash,
    Unfinished,
}

/// One processing attempt in a timeline.
#[derive(Clone, Debug, PartialEq)]
pub struct GanttBar {
    pub lane: String,
    pub start_s: f64,
    pub end_s: f64,
    pub outcome: Outcome,
    pub msg: u64,
    pub receive: u32,
}

/// Kind of an instantaneous event in a timeline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MarkKind {
    Expire,
    DuplicateEffect,
}

/// An instantaneous event; `lane: None` is drawn across all lanes.
#[derive(Clone, Debug, PartialEq)]
pub struct GanttMark {
    pub lane: Option<String>,
    pub t_s: f64,
    pub kind: MarkKind,
    pub msg: u64,
}

/// Error while drawing or writing a chart; the message names the file.
#[derive(Debug)]
pub struct ChartError(pub String);

impl fmt::Display for ChartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "chart error: {}", self.0)
    }
}

impl std::error::Error for ChartError {}

// ---------------------------------------------------------------------------
// Public entry points
// ---------------------------------------------------------------------------

/// Chart 1: duplicate rate (y) versus retry latency p99 in seconds (x), one
/// labelled point per configuration, vertical error bars lo..hi (95% CI over
/// replications), the Pareto front (minimise both) drawn as a step line.
/// Writes `<out_base>.svg` and `<out_base>.png`.
pub fn tradeoff_chart(points: &[TradeoffPoint], title: &str, out_base: &Path) -> Result<(), ChartError> {
    ensure_font()?;
    let size = (WIDTH, HEIGHT);
    write_svg(&with_suffix(out_base, ".svg"), size, |r| draw_tradeoff(r, points, title))?;
    write_png(&with_suffix(out_base, ".png"), size, |r| draw_tradeoff(r, points, title))
}

/// Indices of the Pareto-optimal points (no other point is <= in both
/// coordinates and < in one), sorted by x (then y, then index). Points with a
/// non-finite coordinate are ignored; identical points are all kept.
pub fn pareto_front(points: &[TradeoffPoint]) -> Vec<usize> {
    let finite = finite_points(points);
    let xy = |i: usize| (points[i].retry_p99_s, points[i].dup_rate_mean);
    let dominates = |(qx, qy): (f64, f64), (px, py): (f64, f64)| qx <= px && qy <= py && (qx < px || qy < py);
    let mut front: Vec<usize> =
        finite.iter().copied().filter(|&i| !finite.iter().any(|&j| dominates(xy(j), xy(i)))).collect();
    front.sort_by(|&a, &b| {
        let (ax, ay) = xy(a);
        let (bx, by) = xy(b);
        ax.total_cmp(&bx).then(ay.total_cmp(&by)).then(a.cmp(&b))
    });
    front
}

/// Chart 2: heatmap of a value (duplicate rate) over two swept parameters,
/// each cell annotated with its value, with a colour legend. `y_values[0]` is
/// the bottom row. Writes `<out_base>.svg` and `<out_base>.png`.
pub fn heatmap_chart(h: &Heatmap, out_base: &Path) -> Result<(), ChartError> {
    ensure_font()?;
    let size = (WIDTH, HEIGHT);
    write_svg(&with_suffix(out_base, ".svg"), size, |r| draw_heatmap(r, h))?;
    write_png(&with_suffix(out_base, ".png"), size, |r| draw_heatmap(r, h))
}

/// Chart 3: Gantt chart of one run: one horizontal lane per worker slot (lanes
/// in the order first seen), a bar per attempt coloured by outcome with a
/// legend, lease expiries and duplicate effects marked (a mark with lane None
/// is a thin vertical line across all lanes), bars labelled `m<msg>#<receive>`
/// when wide enough. Writes exactly `path`; the format follows its extension
/// (`.svg` or `.png`). At most 200 lanes and 20 000 bars are drawn; the title
/// says so when the input was capped. The image grows taller with many lanes.
pub fn timeline_chart(bars: &[GanttBar], marks: &[GanttMark], title: &str, path: &Path) -> Result<(), ChartError> {
    ensure_font()?;
    let plan = GanttPlan::new(bars, marks, title);
    let size = (WIDTH, plan.height());
    let ext = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
    match ext.as_deref() {
        Some("svg") => write_svg(path, size, |r| draw_gantt(r, &plan)),
        Some("png") => write_png(path, size, |r| draw_gantt(r, &plan)),
        _ => Err(ChartError(format!("{}: unsupported extension (use .svg or .png)", path.display()))),
    }
}

/// The text elements of an SVG, in order (for tests).
#[cfg(test)]
fn svg_texts(svg: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = svg;
    while let Some(start) = rest.find("<text") {
        let after = &rest[start..];
        let open_end = after.find('>').expect("unterminated <text");
        let close = after.find("</text>").expect("unclosed <text>");
        out.push(after[open_end + 1..close].trim().to_string());
        rest = &after[close..];
    }
    out
}

// ---------------------------------------------------------------------------
// Fonts, errors, atomic output
// ---------------------------------------------------------------------------

type DrawResult = Result<(), String>;
type XyChart<'a, DB> = ChartContext<'a, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// Converts any displayable error into a message string.
trait OrMsg<T> {
    fn msg(self) -> Result<T, String>;
}

impl<T, E: fmt::Display> OrMsg<T> for Result<T, E> {
    fn msg(self) -> Result<T, String> {
        self.map_err(|e| e.to_string())
    }
}

/// Registers the embedded font as "sans-serif" once per process.
fn ensure_font() -> Result<(), ChartError> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let ok =
        *REGISTERED.get_or_init(|| plotters::style::register_font(FONT_FAMILY, FontStyle::Normal, FONT_BYTES).is_ok());
    if ok {
        Ok(())
    } else {
        Err(ChartError("embedded font DejaVuSans.ttf is invalid".into()))
    }
}

fn file_err(path: &Path, msg: impl fmt::Display) -> ChartError {
    ChartError(format!("{}: {}", path.display(), msg))
}

/// `base` with `suffix` appended to its last component (keeps dots in names).
fn with_suffix(base: &Path, suffix: &str) -> PathBuf {
    let mut s = base.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// A unique temp path next to `path`: `<name>.tmp-<pid>-<n><ext>`.
fn tmp_path(path: &Path, ext: &str) -> Result<PathBuf, ChartError> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let name = path.file_name().ok_or_else(|| file_err(path, "not a file path"))?;
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let tmp = format!("{}.tmp-{}-{}{}", name.to_string_lossy(), std::process::id(), n, ext);
    Ok(path.with_file_name(tmp))
}

fn rename_into_place(tmp: &Path, path: &Path) -> Result<(), ChartError> {
    crate::output::place(tmp, path).map_err(|e| file_err(path, e))
}

/// SVG text is written by `output.rs` (atomic for a regular file, straight
/// into a FIFO, device or standard output).
fn write_svg<F>(path: &Path, size: (u32, u32), draw: F) -> Result<(), ChartError>
where
    F: FnOnce(&DrawingArea<SVGBackend<'_>, Shift>) -> DrawResult,
{
    let mut buf = String::new();
    {
        let root = SVGBackend::with_string(&mut buf, size).into_drawing_area();
        draw(&root).map_err(|e| file_err(path, e))?;
        root.present().map_err(|e| file_err(path, e))?;
    }
    crate::output::write_atomic(path, buf.as_bytes()).map_err(|e| file_err(path, e))
}

/// plotters writes a PNG to a named file: a temporary one beside the real
/// target, then put in place by `output::place`.
fn write_png<F>(path: &Path, size: (u32, u32), draw: F) -> Result<(), ChartError>
where
    F: FnOnce(&DrawingArea<BitMapBackend<'_>, Shift>) -> DrawResult,
{
    let real = crate::output::real_path(path).map_err(|e| file_err(path, e))?;
    let tmp = tmp_path(&real, ".png")?;
    let result = {
        let root = BitMapBackend::new(&tmp, size).into_drawing_area();
        draw(&root).and_then(|()| root.present().msg())
    };
    match result {
        Ok(()) => rename_into_place(&tmp, path),
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(file_err(path, e))
        }
    }
}

// ---------------------------------------------------------------------------
// Shared drawing helpers
// ---------------------------------------------------------------------------

fn font(size: u32) -> TextStyle<'static> {
    TextStyle::from((FONT_FAMILY, size).into_font())
}

/// Fills the background, draws the title and returns the area below it.
fn titled_area<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
) -> Result<DrawingArea<DB, Shift>, String> {
    root.fill(&WHITE).msg()?;
    root.titled(title, font(22)).msg()
}

/// Draws text at an absolute backend pixel position.
fn text_at<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    text: &str,
    style: &TextStyle,
    abs: (i32, i32),
) -> DrawResult {
    let (bx, by) = root.get_base_pixel();
    root.draw_text(text, style, (abs.0 - bx, abs.1 - by)).msg()
}

/// Writes a centred "no data" note over the plotting area of `chart`.
fn no_data_note<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, chart: &XyChart<DB>) -> DrawResult {
    let (xr, yr) = chart.plotting_area().get_pixel_range();
    let centre = ((xr.start + xr.end) / 2, (yr.start + yr.end) / 2);
    let style = font(24).color(&RGBColor(120, 120, 120)).pos(Pos::new(HPos::Center, VPos::Center));
    text_at(root, "no data", &style, centre)
}

/// Range of finite values, or None when there are none.
fn finite_minmax(values: impl IntoIterator<Item = f64>) -> Option<(f64, f64)> {
    values.into_iter().filter(|v| v.is_finite()).fold(None, |acc, v| match acc {
        None => Some((v, v)),
        Some((lo, hi)) => Some((lo.min(v), hi.max(v))),
    })
}

/// Pads a data range by `frac` of its span on each side; degenerate ranges
/// get a fixed pad so the axis never collapses. Non-negative data gets only a
/// small margin below zero, so points at zero stay visible without wasting
/// space on negative values.
fn padded(mm: Option<(f64, f64)>, frac: f64) -> Range<f64> {
    let Some((lo, hi)) = mm else { return 0.0..1.0 };
    let span = hi - lo;
    let pad = if span > 0.0 && span.is_finite() {
        span * frac
    } else if lo != 0.0 {
        lo.abs() * 0.1
    } else {
        0.01
    };
    let (mut a, b) = (lo - pad, hi + pad);
    if lo >= 0.0 && a < 0.0 {
        a = a.max(lo - 0.04 * (b - lo));
    }
    if a.is_finite() && b.is_finite() && a < b {
        a..b
    } else {
        0.0..1.0
    }
}

/// Tick label with a precision suited to the axis span. Negative ticks are
/// blank when `nonneg` (the data cannot be negative; the axis is only padded).
fn fmt_tick(v: f64, span: f64, nonneg: bool) -> String {
    let tiny = span.abs() * 1e-9;
    if nonneg && v < -tiny {
        return String::new();
    }
    if v.abs() <= tiny {
        return "0".into();
    }
    let decimals = (-(span / 10.0).log10()).ceil().clamp(0.0, 9.0) as usize;
    format!("{v:.decimals$}")
}

/// Value with three significant digits, for annotations.
fn fmt_sig(v: f64) -> String {
    let a = v.abs();
    if a == 0.0 {
        "0".into()
    } else if !(1e-3..1e5).contains(&a) {
        format!("{v:.2e}")
    } else {
        let decimals = (2 - a.log10().floor() as i32).clamp(0, 6) as usize;
        format!("{v:.decimals$}")
    }
}

fn text_size<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, text: &str, style: &TextStyle) -> (i32, i32) {
    root.estimate_text_size(text, style).map(|(w, h)| (w as i32, h as i32)).unwrap_or((text.len() as i32 * 8, 14))
}

/// Black or white, whichever reads better on `bg`.
fn contrast_text(bg: RGBColor) -> RGBColor {
    let RGBColor(r, g, b) = bg;
    let luma = 0.299 * f64::from(r) + 0.587 * f64::from(g) + 0.114 * f64::from(b);
    if luma > 140.0 {
        BLACK
    } else {
        WHITE
    }
}

/// The swatch drawn in front of a legend entry.
#[derive(Clone, Copy)]
enum Swatch {
    Rect(RGBColor),
    Dot(RGBColor),
    Line(RGBColor),
    ErrorBar(RGBColor),
    Cross(RGBColor),
    Triangle(RGBColor),
}

/// Draws legend entries side by side, centred in `area`.
fn legend_row<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, items: &[(Swatch, &str)]) -> DrawResult {
    let style = font(14).pos(Pos::new(HPos::Left, VPos::Center));
    let widths: Vec<i32> = items.iter().map(|(_, label)| 26 + text_size(area, label, &style).0 + 18).collect();
    let (w, h) = area.dim_in_pixel();
    let mut x = (w as i32 - widths.iter().sum::<i32>()).max(0) / 2;
    let y = h as i32 / 2;
    for ((swatch, label), width) in items.iter().zip(widths) {
        draw_swatch(area, *swatch, (x + 10, y))?;
        area.draw_text(label, &style, (x + 26, y)).msg()?;
        x += width;
    }
    Ok(())
}

fn draw_swatch<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, swatch: Swatch, (x, y): (i32, i32)) -> DrawResult {
    match swatch {
        Swatch::Rect(c) => area.draw(&Rectangle::new([(x - 8, y - 6), (x + 8, y + 6)], c.filled())),
        Swatch::Dot(c) => area.draw(&Circle::new((x, y), 4, c.filled())),
        Swatch::Line(c) => area.draw(&PathElement::new(vec![(x - 10, y), (x + 10, y)], c.stroke_width(2))),
        Swatch::ErrorBar(c) => area.draw(&PathElement::new(
            vec![(x - 4, y - 7), (x + 4, y - 7), (x, y - 7), (x, y + 7), (x - 4, y + 7), (x + 4, y + 7)],
            c.stroke_width(1),
        )),
        Swatch::Cross(c) => area.draw(&Cross::new((x, y), 5, c.stroke_width(2))),
        Swatch::Triangle(c) => area.draw(&TriangleMarker::new((x, y), 6, c.filled())),
    }
    .msg()
}

/// Category labels along the x axis, centred under `centres`; thinned so they
/// do not overlap.
fn x_category_labels<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    chart: &XyChart<DB>,
    labels: &[(f64, &str)],
) -> DrawResult {
    let style = font(14).pos(Pos::new(HPos::Center, VPos::Top));
    let y0 = chart.y_range().start;
    let widest = labels.iter().map(|(_, l)| text_size(root, l, &style).0).max().unwrap_or(0);
    let step_px = pixel_step(chart, labels, |c, v| c.backend_coord(&(v, y0)).0);
    let every = thinning(widest + 10, step_px);
    for (_, (x, label)) in labels.iter().enumerate().filter(|(i, _)| i % every == 0) {
        let (px, py) = chart.backend_coord(&(*x, y0));
        text_at(root, label, &style, (px, py + 8))?;
    }
    Ok(())
}

/// Category labels left of the y axis at `centres`; thinned so they do not
/// overlap.
fn y_category_labels<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    chart: &XyChart<DB>,
    labels: &[(f64, &str)],
) -> DrawResult {
    let style = font(14).pos(Pos::new(HPos::Right, VPos::Center));
    let x0 = chart.x_range().start;
    let step_px = pixel_step(chart, labels, |c, v| c.backend_coord(&(x0, v)).1);
    let every = thinning(18, step_px);
    for (_, (y, label)) in labels.iter().enumerate().filter(|(i, _)| i % every == 0) {
        let (px, py) = chart.backend_coord(&(x0, *y));
        text_at(root, label, &style, (px - 8, py))?;
    }
    Ok(())
}

/// Pixel distance between the first two label positions (large if < 2).
fn pixel_step<DB: DrawingBackend>(
    chart: &XyChart<DB>,
    labels: &[(f64, &str)],
    to_px: impl Fn(&XyChart<DB>, f64) -> i32,
) -> i32 {
    match labels {
        [a, b, ..] => (to_px(chart, b.0) - to_px(chart, a.0)).abs(),
        _ => i32::MAX,
    }
}

/// Draw every n-th label so that labels of size `need` fit into `step` pixels.
fn thinning(need: i32, step: i32) -> usize {
    if step >= need {
        1
    } else if step <= 0 {
        usize::MAX
    } else {
        ((need + step - 1) / step) as usize
    }
}

/// Widest label in pixels plus a margin (and `extra` room for an axis
/// description), bounded, for a y label area.
fn label_area_width<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, labels: &[String], extra: i32) -> u32 {
    let style = font(14);
    let widest = labels.iter().map(|l| text_size(root, l, &style).0).max().unwrap_or(0);
    (widest + 20 + extra).clamp(50, 290) as u32
}

/// Pixel box (x0, y0, x1, y1).
pub(super) type PxBox = (i32, i32, i32, i32);

pub(super) fn overlaps(a: PxBox, b: PxBox) -> bool {
    a.0 < b.2 && b.0 < a.2 && a.1 < b.3 && b.1 < a.3
}

/// Candidate label boxes around a point: right, upper right, lower right,
/// left, upper left, lower left, above, below.
fn label_candidates((px, py): (i32, i32), (w, h): (i32, i32)) -> [PxBox; 8] {
    let at = |x: i32, y: i32| (x, y, x + w, y + h);
    [
        at(px + 9, py - h / 2),
        at(px + 6, py - h - 6),
        at(px + 6, py + 6),
        at(px - 9 - w, py - h / 2),
        at(px - 6 - w, py - h - 6),
        at(px - 6 - w, py + 6),
        at(px - w / 2, py - h - 9),
        at(px - w / 2, py + 9),
    ]
}

// ---------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------

#[cfg(test)]
mod tests {
    use super::*;

    fn pt(label: &str, x: f64, y: f64) -> TradeoffPoint {
        TradeoffPoint {
            label: label.into(),
            retry_p99_s: x,
            dup_rate_mean: y,
            dup_rate_lo: y * 0.8,
            dup_rate_hi: y * 1.2 + 0.001,
        }
    }

    fn count(haystack: &str, needle: &str) -> usize {
        haystack.matches(needle).count()
    }

    /// Number of `<rect` elements whose fill is `colour`.
    fn rects_with_fill(svg: &str, colour: RGBColor) -> usize {
        let fill = format!("fill=\"#{:02X}{:02X}{:02X}\"", colour.0, colour.1, colour.2);
        svg.lines().filter(|l| l.trim_start().starts_with("<rect") && l.contains(&fill)).count()
    }

    /// Text content of all `<text>` elements.
    fn texts(svg: &str) -> Vec<String> {
        svg_texts(svg)
    }

    fn assert_png(path: &Path) {
        let bytes = std::fs::read(path).expect("png written");
        assert!(bytes.len() > 1000, "png too small: {}", bytes.len());
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
    }

    fn read(path: &Path) -> String {
        std::fs::read_to_string(path).expect("svg written")
    }

    fn no_temp_files_left(dir: &Path) {
        for e in std::fs::read_dir(dir).expect("read dir") {
            let name = e.expect("entry").file_name().to_string_lossy().to_string();
            assert!(!name.contains(".tmp-"), "temp file left behind: {name}");
        }
    }

    #[test]
    fn pareto_excludes_dominated_points() {
        let pts = vec![
            pt("a", 1.0, 0.5),
            pt("b", 2.0, 0.2),
            pt("c", 3.0, 0.3), // dominated by b
            pt("d", 0.5, 0.9),
            pt("e", 4.0, 0.0),
            pt("f", 5.0, 0.0), // dominated by e (equal y, larger x)
        ];
        assert_eq!(pareto_front(&pts), vec![3, 0, 1, 4]);
    }

    #[test]
    fn pareto_ties_and_non_finite() {
        let pts = vec![
            pt("a", 1.0, 0.1),
            pt("b", 1.0, 0.1), // identical: neither dominates
            pt("c", 1.0, 0.2), // same x, larger y: dominated
            pt("nan", f64::NAN, 0.0),
            pt("inf", 0.0, f64::INFINITY),
        ];
        assert_eq!(pareto_front(&pts), vec![0, 1]);
        assert!(pareto_front(&[]).is_empty());
        assert_eq!(pareto_front(&[pt("only", 3.0, 0.0)]), vec![0]);
    }

    #[test]
    fn tradeoff_writes_svg_and_png_with_points_and_labels() {
        let dir = tempfile::tempdir().expect("tempdir");
        let base = dir.path().join("tradeoff.v1");
        let pts = vec![
            pt("vt=30s", 1.0, 0.05),
            pt("vt=60s", 2.0, 0.02),
            pt("vt=120s", 4.0, 0.0),
            pt("bad", f64::NAN, 0.1),
            pt("dominated", 5.0, 0.3),
        ];
        tradeoff_chart(&pts, "Duplicates vs latency", &base).expect("chart");
        let svg = read(&dir.path().join("tradeoff.v1.svg"));
        assert_png(&dir.path().join("tradeoff.v1.png"));
        let marker = format!("r=\"{POINT_RADIUS}\"");
        let circles = svg.lines().filter(|l| l.contains("<circle") && l.contains(&marker)).count();
        assert_eq!(circles, 4, "one marker per finite point");
        let t = texts(&svg);
        for label in ["vt=30s", "vt=60s", "vt=120s", "Duplicates vs latency"] {
            assert!(t.iter().any(|x| x == label), "missing label {label}");
        }
        assert!(!t.iter().any(|x| x == "dominated"), "only the Pareto front is labelled");
        assert!(!t.iter().any(|x| x == "bad"), "non-finite point must be skipped");
        assert!(t.iter().any(|x| x == "retry latency p99 (s)"));
        assert!(t.iter().any(|x| x == "duplicate rate (0, then log)"));
        for tick in ["0", "1%", "10%"] {
            assert!(t.iter().any(|x| x == tick), "symlog tick {tick}: {t:?}");
        }
        let front_lines = svg.lines().filter(|l| l.contains("<polyline") && l.contains("opacity=\"0.7\"")).count();
        assert_eq!(front_lines, 1, "one Pareto step line");
        no_temp_files_left(dir.path());
    }

    #[test]
    fn tradeoff_is_deterministic() {
        let dir = tempfile::tempdir().expect("tempdir");
        let pts: Vec<_> = (0..12).map(|i| pt(&format!("c{i}"), 1.0 + i as f64, 0.1 / (1.0 + i as f64))).collect();
        tradeoff_chart(&pts, "t", &dir.path().join("a")).expect("a");
        tradeoff_chart(&pts, "t", &dir.path().join("b")).expect("b");
        assert_eq!(read(&dir.path().join("a.svg")), read(&dir.path().join("b.svg")));
        let (a, b) = (dir.path().join("a.png"), dir.path().join("b.png"));
        assert_eq!(std::fs::read(a).expect("a"), std::fs::read(b).expect("b"));
    }

    #[test]
    fn tradeoff_odd_input_does_not_panic() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cases: Vec<Vec<TradeoffPoint>> = vec![
            vec![],
            vec![pt("one", 2.0, 0.0)],
            vec![pt("x", 1.0, 0.0), pt("y", 1.0, 0.0)],
            vec![pt("nan", f64::NAN, f64::NAN), pt("inf", f64::INFINITY, 0.1)],
            vec![TradeoffPoint { dup_rate_lo: f64::NAN, dup_rate_hi: f64::INFINITY, ..pt("ci", 0.0, 0.0) }],
        ];
        for (i, pts) in cases.iter().enumerate() {
            let base = dir.path().join(format!("odd{i}"));
            tradeoff_chart(pts, "odd", &base).expect("odd input");
            let svg = read(&with_suffix(&base, ".svg"));
            let finite = finite_points(pts).len();
            assert_eq!(texts(&svg).iter().any(|t| t == "no data"), finite == 0, "case {i}");
        }
    }

    fn heatmap(nx: usize, ny: usize) -> Heatmap {
        Heatmap {
            title: "Duplicate rate".into(),
            x_label: "visibility timeout (s)".into(),
            y_label: "consumers".into(),
            x_values: (0..nx).map(|i| format!("{}", 10 * (i + 1))).collect(),
            y_values: (0..ny).map(|i| format!("{}", i + 1)).collect(),
            cells: (0..ny)
                .map(|y| (0..nx).map(|x| (x + y != 1).then_some((x * ny + y) as f64 / 100.0)).collect())
                .collect(),
            value_label: "duplicate rate".into(),
        }
    }

    fn heatmap_svg(h: &Heatmap, dir: &Path, name: &str) -> String {
        let base = dir.join(name);
        heatmap_chart(h, &base).expect("heatmap");
        assert_png(&with_suffix(&base, ".png"));
        read(&with_suffix(&base, ".svg"))
    }

    #[test]
    fn heatmap_has_one_rect_per_cell_and_annotations() {
        let dir = tempfile::tempdir().expect("tempdir");
        let small = heatmap_svg(&heatmap(3, 2), dir.path(), "small");
        let big = heatmap_svg(&heatmap(5, 4), dir.path(), "big");
        assert_eq!(count(&big, "<rect") - count(&small, "<rect"), 20 - 6);
        assert_eq!(rects_with_fill(&big, MISSING_COLOUR), 2, "two missing cells");
        let t = texts(&big);
        assert_eq!(t.iter().filter(|x| *x == "n/a").count(), 2);
        for v in ["0", "0.0200", "0.190"] {
            assert!(t.iter().any(|x| x == v), "missing annotation {v}: {t:?}");
        }
        for label in ["visibility timeout (s)", "consumers", "duplicate rate", "50", "4"] {
            assert!(t.iter().any(|x| x == label), "missing text {label}");
        }
        no_temp_files_left(dir.path());
    }

    #[test]
    fn heatmap_deterministic_and_odd_input() {
        let dir = tempfile::tempdir().expect("tempdir");
        let h = heatmap(4, 3);
        assert_eq!(heatmap_svg(&h, dir.path(), "a"), heatmap_svg(&h, dir.path(), "b"));
        let empty = heatmap(0, 0);
        assert!(texts(&heatmap_svg(&empty, dir.path(), "e")).iter().any(|t| t == "no data"));
        let ragged = Heatmap { cells: vec![vec![Some(f64::NAN)], vec![]], ..heatmap(3, 3) };
        heatmap_svg(&ragged, dir.path(), "r");
        let flat = Heatmap { cells: vec![vec![Some(0.0); 3]; 3], ..heatmap(3, 3) };
        heatmap_svg(&flat, dir.path(), "f");
        let single = heatmap(1, 1);
        assert!(texts(&heatmap_svg(&single, dir.path(), "s")).iter().any(|t| t == "0"));
    }

    fn bar(lane: &str, start: f64, end: f64, outcome: Outcome, msg: u64) -> GanttBar {
        GanttBar { lane: lane.into(), start_s: start, end_s: end, outcome, msg, receive: 1 }
    }

    fn sample_run() -> (Vec<GanttBar>, Vec<GanttMark>) {
        let bars = vec![
            bar("w0", 0.0, 4.0, Outcome::Success, 1),
            bar("w1", 0.5, 30.0, Outcome::Crash, 2),
            bar("w0", 5.0, 9.0, Outcome::DuplicateSuccess, 2),
            bar("w2", 1.0, 1.2, Outcome::Failure, 3),
            bar("w2", 2.0, 25.0, Outcome::Unfinished, 4),
            bar("w1", f64::NAN, 3.0, Outcome::Success, 5),
        ];
        let marks = vec![
            GanttMark { lane: Some("w1".into()), t_s: 20.0, kind: MarkKind::Expire, msg: 2 },
            GanttMark { lane: None, t_s: 9.0, kind: MarkKind::DuplicateEffect, msg: 2 },
            GanttMark { lane: Some("w3".into()), t_s: 12.0, kind: MarkKind::DuplicateEffect, msg: 9 },
        ];
        (bars, marks)
    }

    #[test]
    fn timeline_has_one_rect_per_bar() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (bars, marks) = sample_run();
        let svg_path = dir.path().join("run.svg");
        timeline_chart(&bars, &marks, "run 7", &svg_path).expect("svg");
        timeline_chart(&bars, &marks, "run 7", &dir.path().join("run.PNG")).expect("png");
        assert_png(&dir.path().join("run.PNG"));
        let svg = read(&svg_path);
        let legend = OUTCOMES.len();
        let per_outcome = |o| rects_with_fill(&svg, outcome_colour(o)) - 1;
        assert_eq!(per_outcome(Outcome::Success), 1, "NaN bar skipped");
        assert_eq!(per_outcome(Outcome::Crash), 1);
        let bar_rects: usize = OUTCOMES.iter().map(|&o| rects_with_fill(&svg, outcome_colour(o))).sum();
        assert_eq!(bar_rects, 5 + legend);
        let t = texts(&svg);
        for s in ["w0", "w1", "w2", "w3", "time (s)", "run 7", "m2#1", "lease expiry"] {
            assert!(t.iter().any(|x| x == s), "missing text {s}");
        }
        assert!(!t.iter().any(|x| x == "m3#1"), "narrow bar must not be labelled");
        let order: Vec<_> = ["w0", "w1", "w2"].iter().map(|l| svg.find(&format!(">\n{l}\n<")).expect("lane")).collect();
        assert!(order.windows(2).all(|w| w[0] < w[1]), "lanes drawn in first-seen order");
        no_temp_files_left(dir.path());
    }

    #[test]
    fn timeline_deterministic_empty_and_errors() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (bars, marks) = sample_run();
        let (a, b) = (dir.path().join("a.svg"), dir.path().join("b.svg"));
        timeline_chart(&bars, &marks, "t", &a).expect("a");
        timeline_chart(&bars, &marks, "t", &b).expect("b");
        assert_eq!(read(&a), read(&b));
        let e = dir.path().join("e.svg");
        timeline_chart(&[], &[], "empty", &e).expect("empty");
        assert!(texts(&read(&e)).iter().any(|t| t == "no data"));
        timeline_chart(&[], &[], "empty", &dir.path().join("e.png")).expect("empty png");
        let one = [bar("only", 3.0, 3.0, Outcome::Failure, 1)];
        let global = [GanttMark { lane: None, t_s: 2.0, kind: MarkKind::Expire, msg: 1 }];
        timeline_chart(&one, &[], "one", &dir.path().join("one.svg")).expect("single bar");
        timeline_chart(&[], &global, "marks only", &dir.path().join("m.png")).expect("marks only");
        assert!(timeline_chart(&bars, &marks, "t", &dir.path().join("x.pdf")).is_err());
        // Like every output (output.rs), a missing directory is created.
        let missing_dir = dir.path().join("nope").join("x.svg");
        timeline_chart(&bars, &marks, "t", &missing_dir).expect("parent created");
        let is_dir = dir.path().join("d.svg");
        std::fs::create_dir(&is_dir).unwrap();
        let err = timeline_chart(&bars, &marks, "t", &is_dir).expect_err("a directory");
        assert!(err.to_string().contains("d.svg"), "error names the file: {err}");
    }

    #[test]
    fn timeline_caps_lanes_and_bars() {
        let dir = tempfile::tempdir().expect("tempdir");
        let bars: Vec<_> = (0..25_000u64)
            .map(|i| bar(&format!("w{}", i % 250), i as f64, i as f64 + 0.5, Outcome::Success, i))
            .collect();
        let path = dir.path().join("big.svg");
        timeline_chart(&bars, &[], "big", &path).expect("big");
        let svg = read(&path);
        let t = texts(&svg);
        assert!(t.iter().any(|x| x.starts_with("big (capped: first 200 of 250 lanes")), "{:?}", &t[..3]);
        assert_eq!(rects_with_fill(&svg, outcome_colour(Outcome::Success)), MAX_BARS + 1);
    }
}
