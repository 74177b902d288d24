//! Chart 2, the sweep heatmap: a value over two swept parameters, each cell
//! annotated, with a colour bar.

use super::*;

pub(super) const MISSING_COLOUR: RGBColor = RGBColor(225, 225, 225);

/// Viridis colour map, sampled at nine stops and interpolated linearly.
pub(super) fn viridis(t: f64) -> RGBColor {
    const STOPS: [(u8, u8, u8); 9] = [
        (68, 1, 84),
        (71, 45, 123),
        (59, 82, 139),
        (44, 114, 142),
        (33, 145, 140),
        (40, 174, 128),
        (94, 201, 98),
        (173, 220, 48),
        (253, 231, 37),
    ];
    let t = if t.is_finite() { t.clamp(0.0, 1.0) } else { 0.0 };
    let pos = t * (STOPS.len() - 1) as f64;
    let i = (pos.floor() as usize).min(STOPS.len() - 2);
    let f = pos - i as f64;
    let mix = |a: u8, b: u8| (f64::from(a) + (f64::from(b) - f64::from(a)) * f).round() as u8;
    let (a, b) = (STOPS[i], STOPS[i + 1]);
    RGBColor(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

pub(super) fn cell(h: &Heatmap, xi: usize, yi: usize) -> Option<f64> {
    h.cells.get(yi).and_then(|row| row.get(xi)).copied().flatten().filter(|v| v.is_finite())
}

/// Colour scale range; all-equal values get a range around them (starting at
/// zero for non-negative data).
pub(super) fn value_range(h: &Heatmap) -> Range<f64> {
    let all = (0..h.y_values.len()).flat_map(|y| (0..h.x_values.len()).map(move |x| (x, y)));
    match finite_minmax(all.filter_map(|(x, y)| cell(h, x, y))) {
        None => 0.0..1.0,
        Some((lo, hi)) if hi > lo => lo..hi,
        Some((0.0, _)) => 0.0..1.0,
        Some((v, _)) => {
            let lo = v - v.abs() * 0.5;
            (if v > 0.0 { lo.max(0.0) } else { lo })..(v + v.abs() * 0.5)
        }
    }
}

pub(super) fn draw_heatmap<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, h: &Heatmap) -> DrawResult {
    let area = titled_area(root, &h.title)?;
    let (w, _) = area.dim_in_pixel();
    let (main, bar) = area.split_horizontally(w.saturating_sub(150));
    let vr = value_range(h);
    let (nx, ny) = (h.x_values.len(), h.y_values.len());
    let mut chart = ChartBuilder::on(&main)
        .margin(15)
        .x_label_area_size(60)
        .y_label_area_size(label_area_width(root, &h.y_values, 30))
        .build_cartesian_2d(0.0..nx.max(1) as f64, 0.0..ny.max(1) as f64)
        .msg()?;
    chart
        .configure_mesh()
        .disable_mesh()
        .x_labels(0)
        .y_labels(0)
        .x_desc(h.x_label.as_str())
        .y_desc(h.y_label.as_str())
        .axis_desc_style(font(16))
        .draw()
        .msg()?;
    colour_bar(root, &bar, &vr, &h.value_label)?;
    if nx == 0 || ny == 0 {
        return no_data_note(root, &chart);
    }
    draw_cells(&mut chart, h, &vr)?;
    annotate_cells(root, &chart, h, &vr)?;
    let xs: Vec<(f64, &str)> = h.x_values.iter().enumerate().map(|(i, s)| (i as f64 + 0.5, s.as_str())).collect();
    let ys: Vec<(f64, &str)> = h.y_values.iter().enumerate().map(|(i, s)| (i as f64 + 0.5, s.as_str())).collect();
    x_category_labels(root, &chart, &xs)?;
    y_category_labels(root, &chart, &ys)
}

pub(super) fn cell_colour(v: Option<f64>, vr: &Range<f64>) -> RGBColor {
    v.map_or(MISSING_COLOUR, |v| viridis((v - vr.start) / (vr.end - vr.start)))
}

pub(super) fn draw_cells<DB: DrawingBackend>(chart: &mut XyChart<DB>, h: &Heatmap, vr: &Range<f64>) -> DrawResult {
    let (nx, ny) = (h.x_values.len(), h.y_values.len());
    let rects = (0..ny).flat_map(|yi| (0..nx).map(move |xi| (xi, yi))).map(|(xi, yi)| {
        let (x, y) = (xi as f64, yi as f64);
        Rectangle::new([(x, y), (x + 1.0, y + 1.0)], cell_colour(cell(h, xi, yi), vr).filled())
    });
    chart.draw_series(rects).msg()?;
    Ok(())
}

/// Writes each cell's value in its centre, all in one font size that fits
/// every cell; dense grids where even a small font does not fit stay bare.
pub(super) fn annotate_cells<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    chart: &XyChart<DB>,
    h: &Heatmap,
    vr: &Range<f64>,
) -> DrawResult {
    let (x0, y0) = chart.backend_coord(&(0.0, 0.0));
    let (x1, y1) = chart.backend_coord(&(1.0, 1.0));
    let cells: Vec<(usize, usize, Option<f64>, String)> = (0..h.y_values.len())
        .flat_map(|yi| (0..h.x_values.len()).map(move |xi| (xi, yi)))
        .map(|(xi, yi)| {
            let v = cell(h, xi, yi);
            (xi, yi, v, v.map_or_else(|| "n/a".to_string(), fmt_sig))
        })
        .collect();
    let widest = cells.iter().max_by_key(|c| c.3.len()).map_or("", |c| c.3.as_str());
    let Some(size) = fitting_font_size(root, widest, (x1 - x0).abs() - 4, (y0 - y1).abs() - 2) else {
        return Ok(());
    };
    for (xi, yi, v, text) in &cells {
        let colour = contrast_text(cell_colour(*v, vr));
        let style = font(size).color(&colour).pos(Pos::new(HPos::Center, VPos::Center));
        let centre = chart.backend_coord(&(*xi as f64 + 0.5, *yi as f64 + 0.5));
        text_at(root, text, &style, centre)?;
    }
    Ok(())
}

pub(super) fn fitting_font_size<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    text: &str,
    w: i32,
    h: i32,
) -> Option<u32> {
    (10..=15u32).rev().find(|&s| {
        let (tw, th) = text_size(root, text, &font(s));
        tw <= w && th <= h
    })
}

/// A vertical colour bar with the value scale on its right and the value
/// label above it.
pub(super) fn colour_bar<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    area: &DrawingArea<DB, Shift>,
    vr: &Range<f64>,
    label: &str,
) -> DrawResult {
    let (w, _) = area.dim_in_pixel();
    let style = font(14).pos(Pos::new(HPos::Center, VPos::Top));
    let (bx, by) = area.get_base_pixel();
    text_at(root, label, &style, (bx + w as i32 / 2, by + 12))?;
    let span = vr.end - vr.start;
    let mut chart = ChartBuilder::on(area)
        .margin_top(40)
        .margin_bottom(90)
        .margin_left(10)
        .margin_right(10)
        .right_y_label_area_size(75)
        .build_cartesian_2d(0.0..1.0, vr.clone())
        .msg()?;
    chart
        .configure_mesh()
        .disable_mesh()
        .x_labels(0)
        .y_labels(6)
        .y_label_formatter(&|v| fmt_tick(*v, span, false))
        .label_style(font(13))
        .draw()
        .msg()?;
    let step = span / LEGEND_STEPS as f64;
    let rects = (0..LEGEND_STEPS).map(|i| {
        let lo = vr.start + step * i as f64;
        let colour = viridis((i as f64 + 0.5) / LEGEND_STEPS as f64);
        Rectangle::new([(0.0, lo), (1.0, lo + step)], colour.filled())
    });
    chart.draw_series(rects).msg()?;
    Ok(())
}
