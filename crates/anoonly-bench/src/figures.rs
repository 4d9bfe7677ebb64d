//! Figures as SVG and PNG, drawn with plotters on its SVG backend and rendered to PNG from
//! that SVG by resvg, both with a bundled font (assets/fonts), so a headless machine without
//! system fonts renders them, and the PNG shows exactly the SVG's text (plotters' own bitmap
//! backend ignores each glyph's left bearing: "AU CROC", "0·001"):
//! the AUCPR box plot per method with and without AnoOnly (paper Fig. 4), AUCROC against
//! gamma_la (Fig. 5), clean against label-noise bars (Fig. 8), and the ablation sweeps.
//! Both files are rendered in memory and written atomically.

use std::path::{Path, PathBuf};
use std::sync::Once;

use plotters::coord::Shift;
use plotters::prelude::*;

use anoonly::output::write_atomic;

static FONT: &[u8] = include_bytes!("../assets/fonts/DejaVuSans-subset.ttf");
static REGISTER: Once = Once::new();

pub(crate) fn register_font() {
    REGISTER.call_once(|| {
        // The bytes are our own bundled file: a failure here is a build defect, and drawing
        // then reports "font unavailable" as an error rather than panicking.
        let _ = plotters::style::register_font("sans-serif", FontStyle::Normal, FONT);
    });
}

/// A series colour by index (colour-blind-safe Okabe–Ito palette).
fn colour(i: usize) -> RGBColor {
    const P: [RGBColor; 8] = [
        RGBColor(0, 114, 178),
        RGBColor(230, 159, 0),
        RGBColor(0, 158, 115),
        RGBColor(204, 121, 167),
        RGBColor(86, 180, 233),
        RGBColor(213, 94, 0),
        RGBColor(120, 120, 120),
        RGBColor(240, 228, 66),
    ];
    P[i % P.len()]
}

/// Five-number summary for a box.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BoxStats {
    pub min: f64,
    pub q1: f64,
    pub median: f64,
    pub q3: f64,
    pub max: f64,
}

impl BoxStats {
    /// Quartiles by linear interpolation (numpy's default), over finite values.
    pub fn of(values: &[f64]) -> Option<BoxStats> {
        let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
        if v.is_empty() {
            return None;
        }
        v.sort_by(f64::total_cmp);
        let q = |p: f64| {
            let pos = p * (v.len() - 1) as f64;
            let lo = pos.floor() as usize;
            let hi = pos.ceil() as usize;
            v[lo] + (v[hi] - v[lo]) * (pos - lo as f64)
        };
        Some(BoxStats {
            min: v[0],
            q1: q(0.25),
            median: q(0.5),
            q3: q(0.75),
            max: v[v.len() - 1],
        })
    }
}

/// A named series of (mean, sd) points, one per category (`None`: no value).
pub type Series = (String, Vec<Option<(f64, f64)>>);

/// What a figure shows: categories on the x axis, values in % on the y axis.
#[derive(Clone, Debug)]
pub enum Chart {
    /// Per category, one box per series (e.g. methods x {base, AnoOnly}).
    Boxes {
        categories: Vec<String>,
        series: Vec<(String, Vec<Option<BoxStats>>)>,
    },
    /// Per category, one bar per series with an sd whisker.
    Bars {
        categories: Vec<String>,
        series: Vec<Series>,
    },
    /// One line per series over ordered categories (sweeps), with sd whiskers.
    Lines {
        categories: Vec<String>,
        series: Vec<Series>,
    },
}

/// A titled chart.
#[derive(Clone, Debug)]
pub struct Figure {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub chart: Chart,
}

impl Figure {
    fn categories(&self) -> &[String] {
        match &self.chart {
            Chart::Boxes { categories, .. }
            | Chart::Bars { categories, .. }
            | Chart::Lines { categories, .. } => categories,
        }
    }

    /// The y range: the values' span with a margin, clamped to [0, 100].
    fn y_range(&self) -> (f64, f64) {
        let mut lo = f64::INFINITY;
        let mut hi = f64::NEG_INFINITY;
        let mut see = |a: f64, b: f64| {
            lo = lo.min(a);
            hi = hi.max(b);
        };
        match &self.chart {
            Chart::Boxes { series, .. } => series
                .iter()
                .flat_map(|(_, v)| v.iter().flatten())
                .for_each(|b| see(b.min, b.max)),
            Chart::Bars { series, .. } => series
                .iter()
                .flat_map(|(_, v)| v.iter().flatten())
                .for_each(|&(m, sd)| see(0.0, m + sd)),
            Chart::Lines { series, .. } => series
                .iter()
                .flat_map(|(_, v)| v.iter().flatten())
                .for_each(|&(m, sd)| see(m - sd, m + sd)),
        }
        if !lo.is_finite() {
            return (0.0, 100.0);
        }
        let pad = ((hi - lo) * 0.08).max(1.0);
        ((lo - pad).max(0.0), (hi + pad).min(100.0))
    }
}

impl Drawing for Figure {
    fn size(&self) -> (u32, u32) {
        (960, 540)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        let err = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
        root.fill(&WHITE).map_err(err)?;
        // The legend gets its own column on the right, so it never covers data.
        let (w, _) = root.dim_in_pixel();
        let (plot, side) = root.split_horizontally(w.saturating_sub(LEGEND_WIDTH));
        let mut entries: Vec<(String, RGBColor, LegendKind)> = Vec::new();
        let n = self.categories().len().max(1);
        let (y0, y1) = self.y_range();
        let cats = self.categories().to_vec();
        let mut chart = ChartBuilder::on(&plot)
            .caption(&self.title, ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(56)
            .y_label_area_size(56)
            .build_cartesian_2d(-0.5f64..(n as f64 - 0.5), y0..y1)
            .map_err(err)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .max_light_lines(1)
            .x_labels(n * 2 + 1)
            .x_label_formatter(&|x: &f64| {
                let i = x.round();
                if (x - i).abs() < 1e-6 && i >= 0.0 && (i as usize) < cats.len() {
                    cats[i as usize].clone()
                } else {
                    String::new()
                }
            })
            .x_desc(&self.x_label)
            .y_desc(&self.y_label)
            .label_style(("sans-serif", 14))
            .axis_desc_style(("sans-serif", 15))
            .draw()
            .map_err(err)?;
        match &self.chart {
            Chart::Boxes { series, .. } => {
                let k = series.len().max(1) as f64;
                let w = 0.8 / k;
                for (si, (name, boxes)) in series.iter().enumerate() {
                    let c = colour(si);
                    for (ci, b) in boxes.iter().enumerate() {
                        let Some(b) = b else { continue };
                        let x0 = ci as f64 - 0.4 + si as f64 * w + 0.1 * w;
                        let x1 = x0 + 0.8 * w;
                        let xm = (x0 + x1) / 2.0;
                        let stroke = c.stroke_width(2);
                        chart
                            .draw_series([
                                Rectangle::new([(x0, b.q1), (x1, b.q3)], c.mix(0.35).filled()),
                                Rectangle::new([(x0, b.q1), (x1, b.q3)], stroke),
                            ])
                            .map_err(err)?;
                        chart
                            .draw_series([
                                PathElement::new(
                                    vec![(x0, b.median), (x1, b.median)],
                                    c.stroke_width(3),
                                ),
                                PathElement::new(vec![(xm, b.q3), (xm, b.max)], stroke),
                                PathElement::new(vec![(xm, b.q1), (xm, b.min)], stroke),
                                PathElement::new(
                                    vec![(x0 + 0.2 * w, b.max), (x1 - 0.2 * w, b.max)],
                                    stroke,
                                ),
                                PathElement::new(
                                    vec![(x0 + 0.2 * w, b.min), (x1 - 0.2 * w, b.min)],
                                    stroke,
                                ),
                            ])
                            .map_err(err)?;
                    }
                    entries.push((name.clone(), c, LegendKind::Filled));
                }
            }
            Chart::Bars { series, .. } => {
                let k = series.len().max(1) as f64;
                let w = 0.8 / k;
                for (si, (name, bars)) in series.iter().enumerate() {
                    let c = colour(si);
                    for (ci, v) in bars.iter().enumerate() {
                        let Some((m, sd)) = *v else { continue };
                        let x0 = ci as f64 - 0.4 + si as f64 * w + 0.05 * w;
                        let x1 = x0 + 0.9 * w;
                        let xm = (x0 + x1) / 2.0;
                        chart
                            .draw_series([Rectangle::new([(x0, y0), (x1, m)], c.filled())])
                            .map_err(err)?;
                        if sd > 0.0 {
                            chart
                                .draw_series([PathElement::new(
                                    vec![(xm, m - sd), (xm, m + sd)],
                                    BLACK.stroke_width(1),
                                )])
                                .map_err(err)?;
                        }
                    }
                    entries.push((name.clone(), c, LegendKind::Filled));
                }
            }
            Chart::Lines { series, .. } => {
                for (si, (name, pts)) in series.iter().enumerate() {
                    let c = colour(si);
                    let xy: Vec<(f64, f64)> = pts
                        .iter()
                        .enumerate()
                        .filter_map(|(i, v)| v.map(|(m, _)| (i as f64, m)))
                        .collect();
                    chart
                        .draw_series(LineSeries::new(xy.clone(), c.stroke_width(2)))
                        .map_err(err)?;
                    chart
                        .draw_series(xy.iter().map(|&p| Circle::new(p, 4, c.filled())))
                        .map_err(err)?;
                    chart
                        .draw_series(pts.iter().enumerate().filter_map(|(i, v)| {
                            v.filter(|(_, sd)| *sd > 0.0).map(|(m, sd)| {
                                PathElement::new(
                                    vec![(i as f64, m - sd), (i as f64, m + sd)],
                                    c.stroke_width(1),
                                )
                            })
                        }))
                        .map_err(err)?;
                    entries.push((name.clone(), c, LegendKind::Line));
                }
            }
        }
        for (i, (name, c, kind)) in entries.iter().enumerate() {
            let y = 60 + 26 * i as i32;
            match kind {
                LegendKind::Filled => side
                    .draw(&Rectangle::new([(6, y - 7), (24, y + 7)], c.filled()))
                    .map_err(err)?,
                LegendKind::Line => side
                    .draw(&PathElement::new(vec![(6, y), (24, y)], c.stroke_width(3)))
                    .map_err(err)?,
            }
            side.draw(&Text::new(
                name.clone(),
                (30, y - 7),
                ("sans-serif", 14).into_font().color(&BLACK),
            ))
            .map_err(err)?;
        }
        root.present().map_err(err)
    }
}

impl Figure {
    /// Writes `DIR/NAME.svg` and `DIR/NAME.png` (each atomically).
    pub fn write(&self, dir: &Path, name: &str) -> Result<Vec<PathBuf>, FigureError> {
        write_svg_png(self, dir, name)
    }
}

/// A picture drawn on a plotters backend (the SVG one; the PNG is rendered from the SVG).
pub(crate) trait Drawing {
    /// Size in pixels; called after the bundled font is registered, so it may measure text.
    fn size(&self) -> (u32, u32);
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String>;
}

/// The font database of PNG rendering: the bundled font alone, standing for `sans-serif`
/// (the family plotters writes), so that rendering never depends on the machine's fonts.
fn font_options() -> &'static resvg::usvg::Options<'static> {
    static OPTIONS: std::sync::OnceLock<resvg::usvg::Options<'static>> = std::sync::OnceLock::new();
    OPTIONS.get_or_init(|| {
        let mut opt = resvg::usvg::Options::default();
        let db = opt.fontdb_mut();
        db.load_font_data(FONT.to_vec());
        let family = db
            .faces()
            .next()
            .and_then(|f| f.families.first().map(|(n, _)| n.clone()))
            .unwrap_or_else(|| "DejaVu Sans".to_string());
        db.set_sans_serif_family(family.clone());
        opt.font_family = family;
        opt
    })
}

/// Renders an SVG document to PNG bytes at its own size, on white.
fn render_png(svg: &str) -> Result<Vec<u8>, String> {
    use resvg::tiny_skia::{Pixmap, Transform};
    let tree = resvg::usvg::Tree::from_str(svg, font_options()).map_err(|e| e.to_string())?;
    let size = tree.size().to_int_size();
    let mut pixmap = Pixmap::new(size.width(), size.height())
        .ok_or_else(|| format!("cannot render {}x{} pixels", size.width(), size.height()))?;
    pixmap.fill(resvg::tiny_skia::Color::WHITE);
    resvg::render(&tree, Transform::default(), &mut pixmap.as_mut());
    pixmap.encode_png().map_err(|e| e.to_string())
}

/// Renders a drawing with the bundled font in memory, as SVG and as PNG, and writes
/// `DIR/NAME.svg` and `DIR/NAME.png` (each atomically).
pub(crate) fn write_svg_png(
    what: &impl Drawing,
    dir: &Path,
    name: &str,
) -> Result<Vec<PathBuf>, FigureError> {
    register_font();
    let size = what.size();
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        what.draw(&root)
            .map_err(|m| FigureError::Draw(name.to_string(), m))?;
    }
    let png_bytes = render_png(&svg).map_err(|m| FigureError::Draw(name.to_string(), m))?;
    let svg_path = dir.join(format!("{name}.svg"));
    let png_path = dir.join(format!("{name}.png"));
    write_atomic(&svg_path, svg.as_bytes()).map_err(|e| FigureError::Io(svg_path.clone(), e))?;
    write_atomic(&png_path, &png_bytes).map_err(|e| FigureError::Io(png_path.clone(), e))?;
    Ok(vec![svg_path, png_path])
}

/// How a legend entry shows its series.
enum LegendKind {
    Filled,
    Line,
}

/// Pixels kept right of the plot for the legend.
const LEGEND_WIDTH: u32 = 190;

/// Why a figure could not be written.
#[derive(Debug, thiserror::Error)]
pub enum FigureError {
    #[error("figure {0}: {1}")]
    Draw(String, String),
    #[error("{0}: {1}")]
    Io(PathBuf, std::io::Error),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quartiles_interpolate_like_numpy() {
        let b = BoxStats::of(&[1.0, 2.0, 3.0, 4.0]).unwrap();
        assert_eq!(
            (b.min, b.q1, b.median, b.q3, b.max),
            (1.0, 1.75, 2.5, 3.25, 4.0)
        );
        assert!(BoxStats::of(&[f64::NAN]).is_none());
    }
}
