//! Preparing points for plots: min/max decimation per pixel column, so a
//! series of any length draws as at most ~2 points per horizontal pixel while
//! keeping every spike visible.

/// Reduces `points` (sorted by x) to the first, min, max and last point of
/// each of `columns` equal-width x ranges. Short series come back unchanged.
pub fn decimate_min_max(points: &[[f64; 2]], columns: usize) -> Vec<[f64; 2]> {
    let columns = columns.max(1);
    if points.len() <= columns * 2 {
        return points.to_vec();
    }
    let (first_x, last_x) = (points[0][0], points[points.len() - 1][0]);
    let width = (last_x - first_x).max(f64::EPSILON) / columns as f64;
    let mut out = Vec::with_capacity(columns * 4);
    let mut start = 0;
    while start < points.len() {
        let column = ((points[start][0] - first_x) / width).floor();
        let column_end = first_x + (column + 1.0) * width;
        let mut end = start;
        let (mut low, mut high) = (start, start);
        while end < points.len() && (points[end][0] < column_end || end == start) {
            if points[end][1] < points[low][1] {
                low = end;
            }
            if points[end][1] > points[high][1] {
                high = end;
            }
            end += 1;
        }
        let mut picks = [start, low, high, end - 1];
        picks.sort_unstable();
        let mut previous = usize::MAX;
        for pick in picks {
            if pick != previous {
                out.push(points[pick]);
                previous = pick;
            }
        }
        start = end;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_short_series() {
        let points = vec![[0.0, 1.0], [1.0, 2.0]];
        assert_eq!(decimate_min_max(&points, 10), points);
    }

    #[test]
    fn a_million_points_become_a_few_per_column_and_keep_the_spike() {
        let mut points: Vec<[f64; 2]> = (0..1_000_000).map(|i| [f64::from(i), f64::from(i % 7)]).collect();
        points[654_321][1] = 1_000.0;
        let out = decimate_min_max(&points, 800);
        assert!(out.len() <= 800 * 4, "{}", out.len());
        assert!(out.iter().any(|p| p[1] > 999.0), "the spike survives");
        assert!(out.windows(2).all(|w| w[0][0] <= w[1][0]), "still sorted");
        assert_eq!(out.first(), points.first());
        assert_eq!(out.last(), points.last());
    }
}
