//! Chart 3, the timeline: a Gantt chart of the attempts of one run, one lane
//! per worker slot, bars coloured by outcome, expiries and duplicate effects marked.

use super::*;

pub(super) const EXPIRE_COLOUR: RGBColor = RGBColor(20, 20, 20);
pub(super) const DUP_EFFECT_COLOUR: RGBColor = RGBColor(227, 0, 140);

pub(super) fn outcome_colour(o: Outcome) -> RGBColor {
    match o {
        Outcome::Success => RGBColor(46, 160, 67),
        Outcome::DuplicateSuccess => RGBColor(255, 140, 0),
        Outcome::Failure => RGBColor(214, 39, 40),
        Outcome::Crash => RGBColor(128, 80, 180),
        Outcome::Unfinished => RGBColor(170, 170, 170),
    }
}

pub(super) fn outcome_name(o: Outcome) -> &'static str {
    match o {
        Outcome::Success => "success",
        Outcome::DuplicateSuccess => "duplicate success",
        Outcome::Failure => "failure",
        Outcome::Crash => "crash",
        Outcome::Unfinished => "unfinished",
    }
}

pub(super) const OUTCOMES: [Outcome; 5] =
    [Outcome::Success, Outcome::DuplicateSuccess, Outcome::Failure, Outcome::Crash, Outcome::Unfinished];

/// What a timeline will draw, after capping and dropping non-finite input.
pub(super) struct GanttPlan<'a> {
    lanes: Vec<&'a str>,
    /// (lane index, start, end, bar)
    bars: Vec<(usize, f64, f64, &'a GanttBar)>,
    /// (lane index or None for all lanes, mark)
    marks: Vec<(Option<usize>, &'a GanttMark)>,
    title: String,
    x: Range<f64>,
}

impl<'a> GanttPlan<'a> {
    pub(super) fn new(bars: &'a [GanttBar], marks: &'a [GanttMark], title: &str) -> Self {
        let names = bars.iter().map(|b| b.lane.as_str()).chain(marks.iter().filter_map(|m| m.lane.as_deref()));
        let mut index: BTreeMap<&str, usize> = BTreeMap::new();
        let mut all_lanes = Vec::new();
        for name in names {
            if !index.contains_key(name) {
                index.insert(name, all_lanes.len());
                all_lanes.push(name);
            }
        }
        let lane = |name: &str| index.get(name).copied().filter(|&i| i < MAX_LANES);
        let finite_bars: Vec<_> = bars
            .iter()
            .filter(|b| b.start_s.is_finite() && b.end_s.is_finite())
            .filter_map(|b| Some((lane(&b.lane)?, b.start_s.min(b.end_s), b.start_s.max(b.end_s), b)))
            .collect();
        let kept_marks: Vec<_> = marks
            .iter()
            .filter(|m| m.t_s.is_finite())
            .filter_map(|m| match &m.lane {
                None => Some((None, m)),
                Some(l) => lane(l).map(|i| (Some(i), m)),
            })
            .collect();
        let shown: Vec<_> = finite_bars.iter().copied().take(MAX_BARS).collect();
        let title = capped_title(title, all_lanes.len(), finite_bars.len());
        let times = shown.iter().flat_map(|b| [b.1, b.2]).chain(kept_marks.iter().map(|m| m.1.t_s));
        let x = padded(finite_minmax(times), 0.02);
        all_lanes.truncate(MAX_LANES);
        GanttPlan { lanes: all_lanes, bars: shown, marks: kept_marks, title, x }
    }

    pub(super) fn height(&self) -> u32 {
        (170 + 18 * self.lanes.len() as u32).clamp(HEIGHT, 4000)
    }

    /// Bottom of lane `i`'s band; lane 0 is at the top.
    pub(super) fn lane_y(&self, i: usize) -> f64 {
        (self.lanes.len() - 1 - i) as f64
    }
}

/// The title, with a note when lanes or bars were capped.
pub(super) fn capped_title(title: &str, lanes: usize, bars_on_shown_lanes: usize) -> String {
    let mut notes = Vec::new();
    if lanes > MAX_LANES {
        notes.push(format!("first {MAX_LANES} of {lanes} lanes"));
    }
    if bars_on_shown_lanes > MAX_BARS {
        notes.push(format!("first {MAX_BARS} of {bars_on_shown_lanes} bars"));
    }
    if notes.is_empty() {
        title.to_string()
    } else {
        format!("{title} (capped: {})", notes.join(", "))
    }
}

pub(super) fn draw_gantt<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, plan: &GanttPlan) -> DrawResult {
    let area = titled_area(root, &plan.title)?;
    let (legend, body) = area.split_vertically(30);
    let mut items: Vec<(Swatch, &str)> =
        OUTCOMES.iter().map(|&o| (Swatch::Rect(outcome_colour(o)), outcome_name(o))).collect();
    items.push((Swatch::Cross(EXPIRE_COLOUR), "lease expiry"));
    items.push((Swatch::Triangle(DUP_EFFECT_COLOUR), "duplicate effect"));
    legend_row(&legend, &items)?;
    let mut chart = gantt_axes(root, &body, plan)?;
    if plan.bars.is_empty() && plan.marks.is_empty() {
        return no_data_note(root, &chart);
    }
    draw_bars(&mut chart, plan)?;
    label_bars(root, &chart, plan)?;
    draw_marks(&mut chart, plan)?;
    let lanes: Vec<(f64, &str)> = (0..plan.lanes.len()).map(|i| (plan.lane_y(i) + 0.5, plan.lanes[i])).collect();
    y_category_labels(root, &chart, &lanes)
}

pub(super) fn gantt_axes<'a, DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    body: &'a DrawingArea<DB, Shift>,
    plan: &GanttPlan,
) -> Result<XyChart<'a, DB>, String> {
    let names: Vec<String> = plan.lanes.iter().map(|s| s.to_string()).collect();
    let span = plan.x.end - plan.x.start;
    let nonneg = plan.x.start >= -span * 0.05;
    let mut chart = ChartBuilder::on(body)
        .margin(15)
        .x_label_area_size(55)
        .y_label_area_size(label_area_width(root, &names, 0))
        .build_cartesian_2d(plan.x.clone(), 0.0..plan.lanes.len().max(1) as f64)
        .msg()?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels(0)
        .x_desc("time (s)")
        .x_label_formatter(&|v| fmt_tick(*v, span, nonneg))
        .label_style(font(14))
        .axis_desc_style(font(16))
        .light_line_style(TRANSPARENT)
        .bold_line_style(RGBColor(220, 220, 220))
        .draw()
        .msg()?;
    Ok(chart)
}

pub(super) fn draw_bars<DB: DrawingBackend>(chart: &mut XyChart<DB>, plan: &GanttPlan) -> DrawResult {
    let rects = plan.bars.iter().map(|&(lane, s, e, b)| {
        let y = plan.lane_y(lane);
        Rectangle::new([(s, y + 0.15), (e, y + 0.85)], outcome_colour(b.outcome).filled())
    });
    chart.draw_series(rects).msg()?;
    Ok(())
}

/// Writes "m<msg>#<receive>" inside each bar that is wide and tall enough.
pub(super) fn label_bars<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    chart: &XyChart<DB>,
    plan: &GanttPlan,
) -> DrawResult {
    let lane_px = (chart.backend_coord(&(0.0, 0.0)).1 - chart.backend_coord(&(0.0, 1.0)).1).abs();
    if lane_px < 14 {
        return Ok(());
    }
    for &(lane, s, e, b) in &plan.bars {
        let text = format!("m{}#{}", b.msg, b.receive);
        let colour = contrast_text(outcome_colour(b.outcome));
        let style = font(12).color(&colour).pos(Pos::new(HPos::Center, VPos::Center));
        let y = plan.lane_y(lane) + 0.5;
        let (x0, py) = chart.backend_coord(&(s, y));
        let (x1, _) = chart.backend_coord(&(e, y));
        if x1 - x0 >= text_size(root, &text, &style).0 + 6 {
            text_at(root, &text, &style, ((x0 + x1) / 2, py))?;
        }
    }
    Ok(())
}

pub(super) fn draw_marks<DB: DrawingBackend>(chart: &mut XyChart<DB>, plan: &GanttPlan) -> DrawResult {
    let top = plan.lanes.len().max(1) as f64;
    let colour = |k: MarkKind| match k {
        MarkKind::Expire => EXPIRE_COLOUR,
        MarkKind::DuplicateEffect => DUP_EFFECT_COLOUR,
    };
    let lines = plan
        .marks
        .iter()
        .filter(|(l, _)| l.is_none())
        .map(|(_, m)| PathElement::new(vec![(m.t_s, 0.0), (m.t_s, top)], colour(m.kind).mix(0.6).stroke_width(1)));
    chart.draw_series(lines).msg()?;
    let on_lane = |kind: MarkKind| {
        plan.marks
            .iter()
            .filter(move |(l, m)| l.is_some() && m.kind == kind)
            .filter_map(|(l, m)| Some((m.t_s, plan.lane_y((*l)?) + 0.5)))
    };
    let crosses = on_lane(MarkKind::Expire).map(|p| Cross::new(p, 5, EXPIRE_COLOUR.stroke_width(2)));
    chart.draw_series(crosses).msg()?;
    let triangles = on_lane(MarkKind::DuplicateEffect).map(|p| TriangleMarker::new(p, 6, DUP_EFFECT_COLOUR.filled()));
    chart.draw_series(triangles).msg()?;
    Ok(())
}
