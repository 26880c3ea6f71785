//! What a scatter shows: one point per row of a report's answer — one
//! measure across, another up —, coloured by a series field when one is
//! named; each point keeps its row's group values for the tooltip. No egui,
//! no I/O.

#[derive(Debug, Clone, PartialEq)]
pub struct ScatterPoint {
    pub x: f64,
    pub y: f64,
    /// The row's group values, e.g. "DE · mobile".
    pub label: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ScatterSeries {
    pub label: String,
    pub is_other: bool,
    pub points: Vec<ScatterPoint>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ScatterChart {
    pub x_label: String,
    pub y_label: String,
    pub x_integral: bool,
    pub y_integral: bool,
    /// Largest first (by points), "other" last.
    pub series: Vec<ScatterSeries>,
    /// Rows left out because one of the two measures has no value there.
    pub left_out: usize,
}

impl ScatterChart {
    /// The point nearest `to`, distances measured in units of `scale` (a
    /// pixel's size along each axis, so near means near on screen): (series, point).
    pub fn nearest(&self, to: (f64, f64), scale: (f64, f64)) -> Option<(usize, usize)> {
        let distance = |point: &ScatterPoint| {
            let (dx, dy) = ((point.x - to.0) / scale.0, (point.y - to.1) / scale.1);
            dx * dx + dy * dy
        };
        self.series
            .iter()
            .enumerate()
            .flat_map(|(s, series)| series.points.iter().enumerate().map(move |(p, point)| (s, p, distance(point))))
            .min_by(|a, b| a.2.total_cmp(&b.2))
            .map(|(s, p, _)| (s, p))
    }

    /// The smallest and largest x and y, zero included when every value is on one side of it.
    pub fn bounds(&self) -> ((f64, f64), (f64, f64)) {
        let points = || self.series.iter().flat_map(|s| &s.points);
        let range = |values: &mut dyn Iterator<Item = f64>| {
            values.fold((0.0_f64, 0.0_f64), |(low, high), value| (low.min(value), high.max(value)))
        };
        (range(&mut points().map(|p| p.x)), range(&mut points().map(|p| p.y)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_nearest_point_is_nearest_on_screen() {
        let point = |x, y, label: &str| ScatterPoint { x, y, label: label.into() };
        let chart = ScatterChart {
            x_label: "orders".into(),
            y_label: "revenue".into(),
            x_integral: true,
            y_integral: false,
            series: vec![
                ScatterSeries { label: "EU".into(), is_other: false, points: vec![point(10.0, 1_000.0, "DE")] },
                ScatterSeries { label: "NA".into(), is_other: false, points: vec![point(12.0, 5_000.0, "US")] },
            ],
            left_out: 0,
        };
        // In data units US is farther (Δy 3000 against DE's Δx 9), but a pixel is
        // 1 order across and 1000 revenue up: on screen US is 2 px away, DE 9.
        assert_eq!(chart.nearest((1.0, 3_000.0), (1.0, 1_000.0)), Some((0, 0)));
        assert_eq!(chart.nearest((12.0, 3_000.0), (1.0, 1_000.0)), Some((1, 0)));
        assert_eq!(chart.bounds(), ((0.0, 12.0), (0.0, 5_000.0)));
    }
}
