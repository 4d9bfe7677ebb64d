//! The critical-difference diagram of a rank comparison (Demšar 2006, Fig. 1; the layout of
//! Orange's and autorank's diagrams): an average-rank axis from 1 to k at the top, the
//! Nemenyi CD drawn as an interval above it, each method hanging from its average rank by an
//! elbow line to its name (best half on the left, the rest on the right), and thick bars
//! joining the methods that are not significantly apart. Written as SVG and PNG with the
//! bundled font, like the other figures.

use std::path::{Path, PathBuf};

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::figures::{write_svg_png, Drawing, FigureError};
use crate::stats::{cd_groups, format_p, RankComparison, StatsError};

/// A CD diagram: method names with their average ranks (1 = best) and the critical
/// difference.
#[derive(Clone, Debug, PartialEq)]
pub struct CdDiagram {
    pub title: String,
    /// A line under the title (data sets, Friedman p-value, CD); may be empty.
    pub subtitle: String,
    pub methods: Vec<(String, f64)>,
    pub cd: f64,
}

const WIDTH_MIN: u32 = 960;
const MARGIN: i32 = 16;
/// Room between a label and the axis end.
const GAP: i32 = 28;
const AXIS_MIN: i32 = 420;
const ROW: i32 = 24;
const LANE: i32 = 9;
const NAME_FONT: f64 = 15.0;
const TICK_FONT: f64 = 13.0;

impl CdDiagram {
    /// The diagram of a rank comparison whose treatments are `names` (in the table's column
    /// order); the subtitle states the data sets, the Friedman test and the CD.
    pub fn new(title: &str, names: &[String], r: &RankComparison) -> CdDiagram {
        let friedman = match &r.friedman {
            Ok(f) => format!("Friedman {}", format_p(f.pvalue)),
            Err(StatsError::NoVariation { .. }) => {
                "no Friedman test (every data set ties all methods)".to_string()
            }
            Err(_) => "no Friedman test (it needs 3 or more methods)".to_string(),
        };
        CdDiagram {
            title: title.to_string(),
            subtitle: format!(
                "average ranks over {} data sets · {friedman} · Nemenyi CD = {:.3} at alpha = {}",
                r.blocks, r.cd, r.alpha
            ),
            methods: names
                .iter()
                .cloned()
                .zip(r.mean_ranks.iter().copied())
                .collect(),
            cd: r.cd,
        }
    }

    /// Writes `DIR/NAME.svg` and `DIR/NAME.png`.
    pub fn write(&self, dir: &Path, name: &str) -> Result<Vec<PathBuf>, FigureError> {
        let k = self.methods.len();
        let bad = |m: String| Err(FigureError::Draw(name.to_string(), m));
        if k < 2 {
            return bad(format!("a CD diagram needs at least 2 methods, got {k}"));
        }
        if let Some((m, r)) = self
            .methods
            .iter()
            .find(|(_, r)| !(r.is_finite() && *r >= 1.0 && *r <= k as f64))
        {
            return bad(format!("method {m} has average rank {r}, outside 1..={k}"));
        }
        if !(self.cd.is_finite() && self.cd > 0.0) {
            return bad(format!("critical difference {} is not positive", self.cd));
        }
        write_svg_png(self, dir, name)
    }

    /// Pixel layout, measured with the registered font.
    fn layout(&self) -> Layout {
        let k = self.methods.len();
        let mut order: Vec<usize> = (0..k).collect();
        order.sort_by(|&a, &b| self.methods[a].1.total_cmp(&self.methods[b].1));
        let n_left = k.div_ceil(2);
        let left: Vec<usize> = order[..n_left].to_vec();
        // Right side: the worst rank on the top row, so that the elbows do not cross.
        let right: Vec<usize> = order[n_left..].iter().rev().copied().collect();
        let font = ("sans-serif", NAME_FONT).into_font();
        let text_w = |i: &usize| {
            font.box_size(&self.label(*i))
                .map(|(w, _)| w as i32)
                .unwrap_or(8 * self.label(*i).len() as i32)
        };
        let left_w = left.iter().map(text_w).max().unwrap_or(0);
        let right_w = right.iter().map(text_w).max().unwrap_or(0);
        let width = (2 * MARGIN + left_w + right_w + 2 * GAP + AXIS_MIN).max(WIDTH_MIN as i32);
        let x0 = MARGIN + left_w + GAP;
        let x1 = width - MARGIN - right_w - GAP;
        // Bars: indices into `order` positions, packed into lanes (first fit, left to right).
        let groups = cd_groups(
            &self.methods.iter().map(|m| m.1).collect::<Vec<_>>(),
            self.cd,
        );
        let mut lane_end: Vec<f64> = Vec::new();
        let mut bars = Vec::new();
        for g in &groups {
            let lo = self.methods[g[0]].1;
            let hi = self.methods[g[g.len() - 1]].1;
            // A bar may share a lane with one that ends clearly before it starts.
            let lane = match lane_end.iter().position(|&e| e + 0.15 < lo) {
                Some(l) => l,
                None => {
                    lane_end.push(f64::NEG_INFINITY);
                    lane_end.len() - 1
                }
            };
            lane_end[lane] = hi;
            bars.push((lo, hi, lane));
        }
        let has_subtitle = !self.subtitle.is_empty();
        let y_axis = if has_subtitle { 118 } else { 96 };
        let y_bars = y_axis + 16;
        let y_rows = y_bars + lane_end.len() as i32 * LANE + 18;
        let rows = left.len().max(right.len()) as i32;
        let height = y_rows + (rows - 1).max(0) * ROW + 22;
        Layout {
            width: width as u32,
            height: height as u32,
            x0,
            x1,
            y_axis,
            y_bars,
            y_rows,
            left,
            right,
            bars,
        }
    }

    fn label(&self, i: usize) -> String {
        let (name, rank) = &self.methods[i];
        format!("{name} ({rank:.2})")
    }
}

/// Where everything goes, in pixels.
struct Layout {
    width: u32,
    height: u32,
    /// The axis from rank 1 (x0) to rank k (x1).
    x0: i32,
    x1: i32,
    y_axis: i32,
    y_bars: i32,
    y_rows: i32,
    /// Method indices labelled on the left (top row first) and on the right.
    left: Vec<usize>,
    right: Vec<usize>,
    /// (lowest rank, highest rank, lane) of each group bar.
    bars: Vec<(f64, f64, usize)>,
}

impl Drawing for CdDiagram {
    fn size(&self) -> (u32, u32) {
        let l = self.layout();
        (l.width, l.height)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        let err = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
        let l = self.layout();
        let k = self.methods.len() as f64;
        let x = |rank: f64| l.x0 + ((rank - 1.0) / (k - 1.0) * (l.x1 - l.x0) as f64).round() as i32;
        let text = |size: f64, h: HPos, v: VPos| {
            ("sans-serif", size)
                .into_font()
                .color(&BLACK)
                .pos(Pos::new(h, v))
        };
        let line = |pts: Vec<(i32, i32)>, w: u32| PathElement::new(pts, BLACK.stroke_width(w));
        root.fill(&WHITE).map_err(err)?;
        let mid = l.width as i32 / 2;
        root.draw(&Text::new(
            self.title.clone(),
            (mid, 12),
            text(19.0, HPos::Center, VPos::Top),
        ))
        .map_err(err)?;
        if !self.subtitle.is_empty() {
            root.draw(&Text::new(
                self.subtitle.clone(),
                (mid, 38),
                ("sans-serif", 13.0)
                    .into_font()
                    .color(&RGBColor(90, 90, 90))
                    .pos(Pos::new(HPos::Center, VPos::Top)),
            ))
            .map_err(err)?;
        }
        // The CD interval, from rank 1, above the axis.
        let y_cd = l.y_axis - 42;
        let (c0, c1) = (x(1.0), x(1.0 + self.cd.min(k - 1.0)));
        root.draw(&line(vec![(c0, y_cd), (c1, y_cd)], 2))
            .map_err(err)?;
        for c in [c0, c1] {
            root.draw(&line(vec![(c, y_cd - 5), (c, y_cd + 5)], 2))
                .map_err(err)?;
        }
        root.draw(&Text::new(
            format!("critical difference {:.2}", self.cd),
            ((c0 + c1) / 2, y_cd - 8),
            text(TICK_FONT, HPos::Center, VPos::Bottom),
        ))
        .map_err(err)?;
        // The rank axis: ticks at every integer (labelled) and half rank.
        root.draw(&line(vec![(l.x0, l.y_axis), (l.x1, l.y_axis)], 2))
            .map_err(err)?;
        let steps = 2 * (self.methods.len() - 1);
        for s in 0..=steps {
            let r = 1.0 + s as f64 / 2.0;
            let xi = x(r);
            let long = s % 2 == 0;
            let up = if long { 9 } else { 5 };
            root.draw(&line(vec![(xi, l.y_axis - up), (xi, l.y_axis)], 1))
                .map_err(err)?;
            if long {
                root.draw(&Text::new(
                    format!("{}", 1 + s / 2),
                    (xi, l.y_axis - 12),
                    text(TICK_FONT, HPos::Center, VPos::Bottom),
                ))
                .map_err(err)?;
            }
        }
        // Each method: down from its rank to its row, then out to its name.
        let grey = RGBColor(70, 70, 70);
        for (side, idx) in [(HPos::Right, &l.left), (HPos::Left, &l.right)] {
            for (row, &i) in idx.iter().enumerate() {
                let y = l.y_rows + row as i32 * ROW;
                let xr = x(self.methods[i].1);
                let x_end = match side {
                    HPos::Right => l.x0 - GAP / 2,
                    _ => l.x1 + GAP / 2,
                };
                root.draw(&PathElement::new(
                    vec![(xr, l.y_axis), (xr, y), (x_end, y)],
                    grey.stroke_width(1),
                ))
                .map_err(err)?;
                let tx = match side {
                    HPos::Right => x_end - 6,
                    _ => x_end + 6,
                };
                root.draw(&Text::new(
                    self.label(i),
                    (tx, y),
                    text(NAME_FONT, side, VPos::Center),
                ))
                .map_err(err)?;
            }
        }
        // Groups not significantly apart: thick bars just below the axis.
        for &(lo, hi, lane) in &l.bars {
            let y = l.y_bars + lane as i32 * LANE;
            root.draw(&line(vec![(x(lo) - 6, y), (x(hi) + 6, y)], 4))
                .map_err(err)?;
        }
        root.present().map_err(err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::{rank_comparison, Order};

    fn diagram(k: usize, n: usize) -> CdDiagram {
        // Method j scores j/k plus a deterministic per-file wobble, so ranks interleave.
        let table: Vec<Vec<f64>> = (0..n)
            .map(|i| {
                (0..k)
                    .map(|j| j as f64 / k as f64 + 0.6 * (((i * 31 + j * 17) % 13) as f64 / 13.0))
                    .collect()
            })
            .collect();
        let r = rank_comparison(&table, Order::HigherIsBetter, 0.05).unwrap();
        let names: Vec<String> = (0..k)
            .map(|j| match j % 4 {
                0 => format!("deepsad{j}"),
                1 => format!("deepsad{j}+AnoOnly"),
                2 => format!("xgbod{j}"),
                _ => format!("feawad{j}+AnoOnly"),
            })
            .collect();
        CdDiagram::new("Critical difference diagram: AUCROC", &names, &r)
    }

    #[test]
    fn writes_deterministic_files() {
        let dir = tempfile::tempdir().unwrap();
        for k in [2, 3, 7, 12] {
            let d = diagram(k, 20);
            let a = d.write(dir.path(), &format!("cd{k}_a")).unwrap();
            let b = d.write(dir.path(), &format!("cd{k}_b")).unwrap();
            assert_eq!(a.len(), 2);
            for (x, y) in a.iter().zip(&b) {
                let (bx, by) = (std::fs::read(x).unwrap(), std::fs::read(y).unwrap());
                assert!(bx.len() > 1000, "{}", x.display());
                assert_eq!(bx, by, "{} and {} differ", x.display(), y.display());
            }
            let png = std::fs::read(&a[1]).unwrap();
            assert_eq!(&png[1..4], b"PNG");
            let svg = std::fs::read_to_string(&a[0]).unwrap();
            for (name, _) in &d.methods {
                assert!(svg.contains(name.as_str()), "k {k}: {name} not drawn");
            }
            assert!(svg.contains("critical difference "));
        }
    }

    #[test]
    fn bad_input_is_an_error_not_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let mut d = diagram(4, 10);
        d.methods[2].1 = f64::NAN;
        let e = d.write(dir.path(), "bad").unwrap_err().to_string();
        assert!(e.contains("average rank NaN"), "{e}");
        d.methods.truncate(1);
        assert!(d.write(dir.path(), "bad").is_err());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn rows_never_overlap_and_bars_share_lanes_only_when_apart() {
        for k in 3..=12 {
            let d = diagram(k, 20);
            crate::figures::register_font();
            let l = d.layout();
            assert_eq!(l.left.len() + l.right.len(), k);
            assert!(l.x1 - l.x0 >= AXIS_MIN);
            let mut by_lane: std::collections::BTreeMap<usize, Vec<(f64, f64)>> =
                Default::default();
            for &(lo, hi, lane) in &l.bars {
                by_lane.entry(lane).or_default().push((lo, hi));
            }
            for bars in by_lane.values() {
                for w in bars.windows(2) {
                    assert!(w[0].1 < w[1].0, "k {k}: bars {w:?} overlap in one lane");
                }
            }
        }
    }
}
