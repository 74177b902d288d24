//! The chart of `dupsim advise`: duplicate rate (symlog axis, zero shown)
//! against retry latency p99 for every simulated setting. Only the Pareto
//! front and the recommendation carry labels; the rules of thumb have their
//! own markers, named in the legend; the budgets are dashed lines.

use super::axes::{draw_symlog_ticks, SymLog};
use super::{
    ensure_font, finite_minmax, font, label_candidates, legend_row, no_data_note, overlaps, padded, text_at, text_size,
    titled_area, with_suffix, write_png, write_svg, ChartError, DrawResult, OrMsg, PxBox, Swatch, XyChart, HEIGHT,
    WIDTH,
};
use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::Path;

/// What a point of the advice chart is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AdvicePointKind {
    Searched,
    Recommended,
    RuleOfThumb,
}

/// One simulated setting.
#[derive(Clone, Debug, PartialEq)]
pub struct AdvicePoint {
    pub label: String,
    pub retry_p99_s: f64,
    pub dup_rate_mean: f64,
    pub dup_rate_lo: f64,
    pub dup_rate_hi: f64,
    pub kind: AdvicePointKind,
}

/// The chart's data.
#[derive(Clone, Debug, PartialEq)]
pub struct AdviceChart {
    pub title: String,
    pub points: Vec<AdvicePoint>,
    pub max_duplicate_rate: Option<f64>,
    pub max_retry_p99_s: Option<f64>,
}

const SEARCHED: RGBColor = RGBColor(120, 150, 190);
const FRONT: RGBColor = RGBColor(214, 39, 40);
const RECOMMENDED: RGBColor = RGBColor(255, 191, 0);
const BUDGET: RGBColor = RGBColor(90, 90, 90);
const CI: RGBColor = RGBColor(175, 175, 175);
const RULE_COLOURS: [RGBColor; 4] =
    [RGBColor(44, 160, 44), RGBColor(148, 103, 189), RGBColor(23, 190, 207), RGBColor(140, 86, 75)];

/// Writes `<out_base>.svg` and `<out_base>.png`.
pub fn advice_chart(c: &AdviceChart, out_base: &Path) -> Result<(), ChartError> {
    ensure_font()?;
    let size = (WIDTH, HEIGHT);
    write_svg(&with_suffix(out_base, ".svg"), size, |r| draw(r, c))?;
    write_png(&with_suffix(out_base, ".png"), size, |r| draw(r, c))
}

fn finite(p: &AdvicePoint) -> bool {
    p.retry_p99_s.is_finite() && p.dup_rate_mean.is_finite()
}

/// Indices of the Pareto-optimal searched or recommended points (minimise
/// both retry p99 and mean duplicate rate), by retry p99.
pub fn advice_front(points: &[AdvicePoint]) -> Vec<usize> {
    let pool: Vec<usize> =
        (0..points.len()).filter(|&i| finite(&points[i]) && points[i].kind != AdvicePointKind::RuleOfThumb).collect();
    let xy = |i: usize| (points[i].retry_p99_s, points[i].dup_rate_mean);
    let dominated = |i: usize| {
        pool.iter().any(|&j| {
            let ((qx, qy), (px, py)) = (xy(j), xy(i));
            qx <= px && qy <= py && (qx < px || qy < py)
        })
    };
    let mut front: Vec<usize> = pool.iter().copied().filter(|&i| !dominated(i)).collect();
    front.sort_by(|&a, &b| xy(a).0.total_cmp(&xy(b).0).then(xy(a).1.total_cmp(&xy(b).1)).then(a.cmp(&b)));
    // One label per place: identical points keep the first.
    front.dedup_by(|a, b| xy(*a) == xy(*b));
    front
}

fn rule_swatch(k: usize) -> Swatch {
    let c = RULE_COLOURS[k % RULE_COLOURS.len()];
    match k % 3 {
        0 => Swatch::Cross(c),
        1 => Swatch::Triangle(c),
        _ => Swatch::Rect(c),
    }
}

fn draw<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, c: &AdviceChart) -> DrawResult {
    let area = titled_area(root, &c.title)?;
    let (legend, body) = area.split_vertically(56);
    let (row1, row2) = legend.split_vertically(28);
    legend_row(
        &row1,
        &[
            (Swatch::Dot(SEARCHED), "setting tried"),
            (Swatch::ErrorBar(CI), "duplicate-rate interval"),
            (Swatch::Line(FRONT), "Pareto front (labelled)"),
            (Swatch::Dot(RECOMMENDED), "recommended"),
            (Swatch::Line(BUDGET), "budget"),
        ],
    )?;
    let rules: Vec<&AdvicePoint> = c.points.iter().filter(|p| p.kind == AdvicePointKind::RuleOfThumb).collect();
    let rule_items: Vec<(Swatch, String)> =
        rules.iter().enumerate().map(|(k, p)| (rule_swatch(k), format!("rule: {}", p.label))).collect();
    let refs: Vec<(Swatch, &str)> = rule_items.iter().map(|(s, l)| (*s, l.as_str())).collect();
    legend_row(&row2, &refs)?;

    let shown: Vec<usize> = (0..c.points.len()).filter(|&i| finite(&c.points[i])).collect();
    let ys =
        shown.iter().flat_map(|&i| [c.points[i].dup_rate_mean, c.points[i].dup_rate_hi]).chain(c.max_duplicate_rate);
    let axis = SymLog::for_values(ys.clone());
    let y_max = ys.filter(|v| v.is_finite()).fold(0.0, f64::max);
    let xs = finite_minmax(shown.iter().map(|&i| c.points[i].retry_p99_s).chain(c.max_retry_p99_s));
    let xr = padded(xs.map(|(lo, hi)| (lo.min(0.0), hi)), 0.06);
    let xspan = xr.end - xr.start;
    let mut chart = ChartBuilder::on(&body)
        .margin(15)
        .x_label_area_size(55)
        .y_label_area_size(90)
        .build_cartesian_2d(xr, axis.range(y_max))
        .msg()?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels(0)
        .x_desc("retry latency p99 (s)")
        .y_desc("duplicate rate (0, then log)")
        .x_label_formatter(&|v| super::fmt_tick(*v, xspan, true))
        .label_style(font(14))
        .axis_desc_style(font(16))
        .light_line_style(TRANSPARENT)
        .bold_line_style(RGBColor(215, 215, 215))
        .draw()
        .msg()?;
    draw_symlog_ticks(root, &mut chart, &axis, &axis.ticks(y_max))?;
    if shown.is_empty() {
        return no_data_note(root, &chart);
    }
    draw_budgets(&mut chart, c, &axis)?;
    let front = advice_front(&c.points);
    draw_front(&mut chart, c, &axis, &front)?;
    draw_points(&mut chart, c, &axis, &shown, &front)?;
    label_points(root, &chart, c, &axis, &shown, &front)
}

fn draw_budgets<DB: DrawingBackend>(chart: &mut XyChart<DB>, c: &AdviceChart, axis: &SymLog) -> DrawResult {
    let (x, y) = (chart.x_range(), chart.y_range());
    let style = BUDGET.stroke_width(2);
    if let Some(d) = c.max_duplicate_rate {
        let v = axis.fwd(d);
        chart.draw_series(DashedLineSeries::new(vec![(x.start, v), (x.end, v)], 8, 6, style)).msg()?;
    }
    if let Some(r) = c.max_retry_p99_s.filter(|r| *r <= x.end) {
        chart.draw_series(DashedLineSeries::new(vec![(r, y.start), (r, y.end)], 8, 6, style)).msg()?;
    }
    Ok(())
}

fn draw_front<DB: DrawingBackend>(
    chart: &mut XyChart<DB>,
    c: &AdviceChart,
    axis: &SymLog,
    front: &[usize],
) -> DrawResult {
    let mut path: Vec<(f64, f64)> = Vec::new();
    for &i in front {
        let (x, y) = (c.points[i].retry_p99_s, axis.fwd(c.points[i].dup_rate_mean));
        if let Some(&(_, py)) = path.last() {
            path.push((x, py));
        }
        path.push((x, y));
    }
    if path.len() >= 2 {
        chart.draw_series(std::iter::once(PathElement::new(path, FRONT.mix(0.7).stroke_width(2)))).msg()?;
    }
    Ok(())
}

fn draw_points<DB: DrawingBackend>(
    chart: &mut XyChart<DB>,
    c: &AdviceChart,
    axis: &SymLog,
    shown: &[usize],
    front: &[usize],
) -> DrawResult {
    let cap = (chart.x_range().end - chart.x_range().start) * 0.004;
    let bars = shown.iter().filter_map(|&i| {
        let p = &c.points[i];
        let (lo, hi) = (axis.fwd(p.dup_rate_lo), axis.fwd(p.dup_rate_hi));
        (lo.is_finite() && hi.is_finite() && hi > lo).then(|| {
            let x = p.retry_p99_s;
            PathElement::new(
                vec![(x - cap, lo), (x + cap, lo), (x, lo), (x, hi), (x - cap, hi), (x + cap, hi)],
                CI.stroke_width(1),
            )
        })
    });
    chart.draw_series(bars).msg()?;
    let xy = |p: &AdvicePoint| (p.retry_p99_s, axis.fwd(p.dup_rate_mean));
    let searched = shown.iter().filter(|&&i| c.points[i].kind == AdvicePointKind::Searched).map(|&i| {
        let colour = if front.contains(&i) { FRONT } else { SEARCHED };
        Circle::new(xy(&c.points[i]), 4, colour.filled())
    });
    chart.draw_series(searched).msg()?;
    let mut k = 0;
    for &i in shown {
        let p = &c.points[i];
        match p.kind {
            AdvicePointKind::RuleOfThumb => {
                let colour = RULE_COLOURS[k % RULE_COLOURS.len()];
                let at = xy(p);
                match rule_swatch(k) {
                    Swatch::Cross(_) => {
                        chart.draw_series(std::iter::once(Cross::new(at, 7, colour.stroke_width(3)))).msg()?
                    }
                    Swatch::Triangle(_) => {
                        chart.draw_series(std::iter::once(TriangleMarker::new(at, 8, colour.filled()))).msg()?
                    }
                    _ => chart
                        .draw_series(std::iter::once(
                            EmptyElement::at(at) + Rectangle::new([(-6, -6), (6, 6)], colour.filled()),
                        ))
                        .msg()?,
                };
                k += 1;
            }
            AdvicePointKind::Recommended => {
                let at = xy(p);
                chart
                    .draw_series(std::iter::once(
                        EmptyElement::at(at)
                            + Circle::new((0, 0), 9, RECOMMENDED.filled())
                            + Circle::new((0, 0), 9, BLACK.stroke_width(2)),
                    ))
                    .msg()?;
            }
            AdvicePointKind::Searched => {}
        }
    }
    Ok(())
}

/// Labels for the front and the recommendation, placed where they overlap
/// neither markers nor each other when possible.
fn label_points<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    chart: &XyChart<DB>,
    c: &AdviceChart,
    axis: &SymLog,
    shown: &[usize],
    front: &[usize],
) -> DrawResult {
    let (xr, yr) = chart.plotting_area().get_pixel_range();
    let centre = |i: usize| chart.backend_coord(&(c.points[i].retry_p99_s, axis.fwd(c.points[i].dup_rate_mean)));
    let mut taken: Vec<PxBox> = shown.iter().map(|&i| centre(i)).map(|(x, y)| (x - 5, y - 5, x + 5, y + 5)).collect();
    let rec = shown.iter().copied().filter(|&i| c.points[i].kind == AdvicePointKind::Recommended);
    let labelled: Vec<usize> =
        rec.chain(front.iter().copied().filter(|&i| c.points[i].kind == AdvicePointKind::Searched)).collect();
    for i in labelled {
        let bold = c.points[i].kind == AdvicePointKind::Recommended;
        let style = font(if bold { 15 } else { 13 }).color(&RGBColor(40, 40, 40));
        let (w, h) = text_size(root, &c.points[i].label, &style);
        let candidates = label_candidates(centre(i), (w, h));
        let inside = |b: &PxBox| b.0 >= xr.start && b.2 <= xr.end && b.1 >= yr.start && b.3 <= yr.end;
        let Some(chosen) = candidates.iter().find(|b| inside(b) && !taken.iter().any(|t| overlaps(*t, **b))) else {
            continue; // no free place: the table names it
        };
        taken.push(*chosen);
        text_at(root, &c.points[i].label, &style, (chosen.0, chosen.1))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(label: &str, x: f64, y: f64, kind: AdvicePointKind) -> AdvicePoint {
        AdvicePoint { label: label.into(), retry_p99_s: x, dup_rate_mean: y, dup_rate_lo: y, dup_rate_hi: y, kind }
    }

    #[test]
    fn front_ignores_rules_and_dominated_points() {
        use AdvicePointKind::*;
        let pts = vec![
            p("a", 10.0, 0.01, Searched),
            p("b", 20.0, 0.0, Searched),
            p("c", 30.0, 0.0, Searched),   // dominated by b
            p("r", 1.0, 0.0, RuleOfThumb), // would dominate all, but is not a search point
            p("d", 5.0, 0.02, Recommended),
        ];
        assert_eq!(advice_front(&pts), vec![4, 0, 1]);
    }

    #[test]
    fn chart_labels_only_the_front_and_the_recommendation() {
        use AdvicePointKind::*;
        let dir = tempfile::tempdir().unwrap();
        let mut pts: Vec<AdvicePoint> =
            (1..=12).map(|i| p(&format!("pt{i}"), 10.0 * i as f64, 0.5 / i as f64, Searched)).collect();
        pts.push(p("pt-dominated", 200.0, 0.9, Searched));
        pts.push(p("pt-zero", 150.0, 0.0, Searched));
        pts.push(p("2x p99", 90.0, 0.001, RuleOfThumb));
        pts.push(p("recommended: X", 40.0, 0.0001, Recommended));
        let c = AdviceChart {
            title: "t".into(),
            points: pts,
            max_duplicate_rate: Some(0.01),
            max_retry_p99_s: Some(100.0),
        };
        advice_chart(&c, &dir.path().join("pareto")).unwrap();
        let svg = std::fs::read_to_string(dir.path().join("pareto.svg")).unwrap();
        let texts = super::super::svg_texts(&svg);
        let has = |t: &str| texts.iter().any(|x| x == t);
        assert!(has("recommended: X"));
        assert!(has("rule: 2x p99"));
        assert!(!has("pt-dominated"), "a dominated point is not labelled");
        assert!(!has("pt12") && has("pt1"), "only the front is labelled: {texts:?}");
        for tick in ["0", "0.01%", "0.1%", "1%", "10%", "100%"] {
            assert!(has(tick), "tick {tick} on the symlog axis: {texts:?}");
        }
        assert!(dir.path().join("pareto.png").exists());
    }
}
