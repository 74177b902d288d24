//! A symmetric-log ("symlog") axis for rates that span orders of magnitude
//! and include zero: y' = log10(1 + y / c), linear near zero (below the
//! threshold c), logarithmic above it. c is the decade at or below the
//! smallest positive value shown, so 0, c, 10c, 100c ... are evenly spaced
//! ticks and zero stays on the axis. Rates are never negative here.

use super::{font, text_at, DrawResult, OrMsg, XyChart};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// The transform of a symlog axis.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SymLog {
    /// The linear threshold: the first tick above zero.
    pub c: f64,
}

impl SymLog {
    /// The axis for these values (non-finite and negative values ignored).
    pub fn for_values(values: impl IntoIterator<Item = f64>) -> SymLog {
        let min_pos = values.into_iter().filter(|v| v.is_finite() && *v > 0.0).fold(f64::INFINITY, f64::min);
        let c = if min_pos.is_finite() { 10f64.powf(min_pos.log10().floor()) } else { 1e-4 };
        SymLog { c }
    }

    pub fn fwd(&self, y: f64) -> f64 {
        (1.0 + y.max(0.0) / self.c).log10()
    }

    /// The axis range in transformed units for values up to `max`.
    pub fn range(&self, max: f64) -> std::ops::Range<f64> {
        let top = self.fwd(max.max(self.c)).max(self.fwd(self.c));
        (-0.03 * top)..(top * 1.08)
    }

    /// Ticks 0, c, 10c, ... up to the first at or above `max`.
    pub fn ticks(&self, max: f64) -> Vec<f64> {
        let mut t = vec![0.0, self.c];
        while t.last().is_some_and(|v| *v < max) && t.len() < 40 {
            let next = t[t.len() - 1] * 10.0;
            t.push(next);
        }
        t
    }
}

/// A rate as a percentage with as few digits as it needs ("0", "0.01%", "5%").
pub fn pct_label(v: f64) -> String {
    if v == 0.0 {
        return "0".into();
    }
    let p = v * 100.0;
    let decimals = (-p.log10().floor()).clamp(0.0, 12.0) as usize;
    format!("{p:.decimals$}%")
}

/// Horizontal grid lines and labels at the ticks of a symlog y axis.
pub fn draw_symlog_ticks<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    chart: &mut XyChart<DB>,
    axis: &SymLog,
    ticks: &[f64],
) -> DrawResult {
    let (x0, x1) = (chart.x_range().start, chart.x_range().end);
    let top = chart.y_range().end;
    let style = font(14).pos(Pos::new(HPos::Right, VPos::Center));
    for &t in ticks {
        let y = axis.fwd(t);
        if y > top {
            continue;
        }
        let grid = RGBColor(215, 215, 215).stroke_width(1);
        chart.draw_series(std::iter::once(PathElement::new(vec![(x0, y), (x1, y)], grid))).msg()?;
        let (px, py) = chart.backend_coord(&(x0, y));
        text_at(root, &pct_label(t), &style, (px - 6, py))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn threshold_is_the_decade_of_the_smallest_positive_value() {
        let a = SymLog::for_values([0.0, 0.0032, 0.05, f64::NAN]);
        assert!((a.c - 0.001).abs() < 1e-15);
        assert_eq!(a.fwd(0.0), 0.0);
        assert!((a.fwd(0.001) - 2f64.log10()).abs() < 1e-12);
        assert!(a.fwd(0.01) < a.fwd(0.1));
        assert_eq!(a.ticks(0.05).len(), 4); // 0, 0.001, 0.01, 0.1
        assert_eq!(SymLog::for_values([0.0]).c, 1e-4);
    }

    #[test]
    fn percent_labels() {
        assert_eq!(pct_label(0.0), "0");
        assert_eq!(pct_label(0.0001), "0.01%");
        assert_eq!(pct_label(0.05), "5%");
        assert_eq!(pct_label(1.0), "100%");
    }
}
