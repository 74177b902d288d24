//! Chart 1, the sweep trade-off: duplicate rate (symlog axis, zero shown)
//! against retry latency p99 per configuration, with intervals and the Pareto
//! front; only the front is labelled (the sweep's table names the rest).

use super::axes::{draw_symlog_ticks, SymLog};
use super::*;

pub(super) const POINT_COLOUR: RGBColor = RGBColor(31, 119, 180);
pub(super) const PARETO_COLOUR: RGBColor = RGBColor(214, 39, 40);
pub(super) const CI_COLOUR: RGBColor = RGBColor(110, 110, 110);
pub(super) const POINT_RADIUS: i32 = 5;

pub(super) fn finite_points(points: &[TradeoffPoint]) -> Vec<usize> {
    (0..points.len()).filter(|&i| points[i].retry_p99_s.is_finite() && points[i].dup_rate_mean.is_finite()).collect()
}

/// The confidence interval of a point, widened to contain the mean; None if
/// the bounds are not finite.
pub(super) fn ci(p: &TradeoffPoint) -> Option<(f64, f64)> {
    let (lo, hi) = (p.dup_rate_lo, p.dup_rate_hi);
    (lo.is_finite() && hi.is_finite()).then(|| (lo.min(hi).min(p.dup_rate_mean), hi.max(lo).max(p.dup_rate_mean)))
}

pub(super) fn draw_tradeoff<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    points: &[TradeoffPoint],
    title: &str,
) -> DrawResult {
    let area = titled_area(root, title)?;
    let (legend, body) = area.split_vertically(30);
    legend_row(
        &legend,
        &[
            (Swatch::Dot(POINT_COLOUR), "configuration (mean)"),
            (Swatch::ErrorBar(CI_COLOUR), "95% CI"),
            (Swatch::Dot(PARETO_COLOUR), "Pareto-optimal (labelled)"),
            (Swatch::Line(PARETO_COLOUR), "Pareto front"),
        ],
    )?;
    let finite = finite_points(points);
    let ys: Vec<f64> = finite
        .iter()
        .flat_map(|&i| {
            let p = &points[i];
            let (lo, hi) = ci(p).unwrap_or((p.dup_rate_mean, p.dup_rate_mean));
            [lo, hi]
        })
        .collect();
    let axis = SymLog::for_values(ys.iter().copied());
    let y_max = ys.iter().copied().filter(|v| v.is_finite()).fold(0.0, f64::max);
    let mut chart = tradeoff_axes(&body, points, &finite, &axis, y_max)?;
    draw_symlog_ticks(root, &mut chart, &axis, &axis.ticks(y_max))?;
    if finite.is_empty() {
        return no_data_note(root, &chart);
    }
    let front = pareto_front(points);
    draw_front_line(&mut chart, points, &front, &axis)?;
    draw_error_bars(&mut chart, points, &finite, &axis)?;
    draw_markers(&mut chart, points, &finite, &front, &axis)?;
    draw_point_labels(root, &chart, points, &finite, &front, &axis)
}

pub(super) fn tradeoff_axes<'a, DB: DrawingBackend>(
    body: &'a DrawingArea<DB, Shift>,
    points: &[TradeoffPoint],
    finite: &[usize],
    axis: &SymLog,
    y_max: f64,
) -> Result<XyChart<'a, DB>, String> {
    let xs = finite_minmax(finite.iter().map(|&i| points[i].retry_p99_s));
    let (xr, yr) = (padded(xs, 0.08), axis.range(y_max));
    let x_nonneg = xs.is_none_or(|m| m.0 >= 0.0);
    let xspan = xr.end - xr.start;
    let mut chart = ChartBuilder::on(body)
        .margin(15)
        .x_label_area_size(55)
        .y_label_area_size(85)
        .build_cartesian_2d(xr, yr)
        .msg()?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels(0)
        .x_desc("retry latency p99 (s)")
        .y_desc("duplicate rate (0, then log)")
        .x_label_formatter(&|v| fmt_tick(*v, xspan, x_nonneg))
        .label_style(font(14))
        .axis_desc_style(font(16))
        .light_line_style(TRANSPARENT)
        .bold_line_style(RGBColor(215, 215, 215))
        .draw()
        .msg()?;
    Ok(chart)
}

/// The Pareto front as a staircase: right along y_i, then down to y_{i+1}.
pub(super) fn draw_front_line<DB: DrawingBackend>(
    chart: &mut XyChart<DB>,
    points: &[TradeoffPoint],
    front: &[usize],
    axis: &SymLog,
) -> DrawResult {
    let mut path = Vec::with_capacity(front.len() * 2);
    for &i in front {
        let (x, y) = (points[i].retry_p99_s, axis.fwd(points[i].dup_rate_mean));
        if let Some(&(_, prev_y)) = path.last() {
            path.push((x, prev_y));
        }
        path.push((x, y));
    }
    if path.len() < 2 {
        return Ok(());
    }
    let style = PARETO_COLOUR.mix(0.7).stroke_width(2);
    chart.draw_series(std::iter::once(PathElement::new(path, style))).msg()?;
    Ok(())
}

pub(super) fn draw_error_bars<DB: DrawingBackend>(
    chart: &mut XyChart<DB>,
    points: &[TradeoffPoint],
    finite: &[usize],
    axis: &SymLog,
) -> DrawResult {
    let cap = (chart.x_range().end - chart.x_range().start) * 0.005;
    let style = CI_COLOUR.stroke_width(1);
    let bars = finite.iter().filter_map(|&i| {
        let x = points[i].retry_p99_s;
        let (lo, hi) = ci(&points[i]).filter(|(lo, hi)| hi > lo)?;
        let (lo, hi) = (axis.fwd(lo), axis.fwd(hi));
        let path = vec![(x - cap, lo), (x + cap, lo), (x, lo), (x, hi), (x - cap, hi), (x + cap, hi)];
        Some(PathElement::new(path, style))
    });
    chart.draw_series(bars).msg()?;
    Ok(())
}

pub(super) fn draw_markers<DB: DrawingBackend>(
    chart: &mut XyChart<DB>,
    points: &[TradeoffPoint],
    finite: &[usize],
    front: &[usize],
    axis: &SymLog,
) -> DrawResult {
    let circles = finite.iter().map(|&i| {
        let colour = if front.contains(&i) { PARETO_COLOUR } else { POINT_COLOUR };
        let xy = (points[i].retry_p99_s, axis.fwd(points[i].dup_rate_mean));
        Circle::new(xy, POINT_RADIUS, colour.filled())
    });
    chart.draw_series(circles).msg()?;
    Ok(())
}

/// Labels the Pareto-optimal points (the others are named in the sweep's
/// table), each at the first position around it that stays inside the plot
/// and overlaps neither other labels nor markers.
pub(super) fn draw_point_labels<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    chart: &XyChart<DB>,
    points: &[TradeoffPoint],
    finite: &[usize],
    front: &[usize],
    axis: &SymLog,
) -> DrawResult {
    let style = font(13).color(&RGBColor(40, 40, 40));
    let (xr, yr) = chart.plotting_area().get_pixel_range();
    let centre = |i: usize| chart.backend_coord(&(points[i].retry_p99_s, axis.fwd(points[i].dup_rate_mean)));
    let r = POINT_RADIUS + 1;
    let mut taken: Vec<PxBox> = finite.iter().map(|&i| centre(i)).map(|(x, y)| (x - r, y - r, x + r, y + r)).collect();
    for &i in front {
        let (w, h) = text_size(root, &points[i].label, &style);
        let candidates = label_candidates(centre(i), (w, h));
        let inside = |b: &PxBox| b.0 >= xr.start && b.2 <= xr.end && b.1 >= yr.start && b.3 <= yr.end;
        let free = candidates.iter().find(|b| inside(b) && !taken.iter().any(|t| overlaps(*t, **b)));
        let chosen = free.or_else(|| candidates.iter().find(|b| inside(b))).unwrap_or(&candidates[0]);
        taken.push(*chosen);
        text_at(root, &points[i].label, &style, (chosen.0, chosen.1))?;
    }
    Ok(())
}
