//! The paper's Fig. 10 (`fig10_tsne`): t-SNE of the test rows' input features and of the
//! hidden features before the last layer of DeepSAD and of DeepSAD + AnoOnly, points
//! coloured by that model's anomaly score, anomalies marked, for the paper suite's CIFAR10
//! and SVHN files.
//!
//! The one figure a report cannot draw from `results.jsonl` alone: it needs the fitted
//! models. So a run that holds both DeepSAD cells of seed 0 (no ablation; the paper's
//! setting when the grid has it) of the first CIFAR10 and the first SVHN file refits them
//! after its cells (the same models bit for bit: a cell's result depends on its key only),
//! takes their scores and [`Model::representation`] on the test split, a seeded subsample of
//! [`Fig10Settings::rows`] rows, and the seeded t-SNE of [`crate::tsne`], and stores the
//! result in the run directory as [`FILE`] (small: rounded coordinates). The report draws
//! the figure whenever that file is there, so `bench report DIR` redraws it, and a run
//! directory without it (every committed report before this figure) rebuilds unchanged. A
//! resumed run keeps the file when it already holds the same cells and settings.
//!
//! [`Model::representation`]: anoonly::methods::Model::representation

use std::path::{Path, PathBuf};

use ndarray::{Array1, Axis};
use plotters::coord::Shift;
use plotters::prelude::*;
use serde::{Deserialize, Serialize};

use crate::figures::{write_svg_png, Drawing, FigureError};
use crate::grid::{Cell, Grid, Variant};
use crate::tsne::{embed, TsneParams};
use crate::BenchError;
use anoonly::methods::MethodKind;
use anoonly::output::write_atomic;
use anoonly::protocol::{Labeled, Protocol, Setting};

/// The file a run stores the embeddings in, beside `results.jsonl`.
pub const FILE: &str = "fig10_tsne.json";

/// The figure's name (`fig10_tsne.svg`, `.png`).
pub const NAME: &str = "fig10_tsne";

/// The families the paper's Fig. 10 shows that the paper suite has (its other four,
/// MNIST-C, AgNews, Imdb and Yelp, have no files here).
pub const FAMILIES: &[&str] = &["CIFAR10", "SVHN"];

/// The version of [`FILE`]'s layout.
const VERSION: u32 = 1;

/// What the embeddings are computed with.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Fig10Settings {
    /// Test rows shown per file (a seeded subsample when the test split is larger; 1,000 keep
    /// the SVG under a megabyte).
    pub rows: usize,
    pub tsne: TsneParams,
}

impl Default for Fig10Settings {
    fn default() -> Self {
        Fig10Settings {
            rows: 1000,
            tsne: TsneParams::default(),
        }
    }
}

/// [`FILE`]: the settings and one entry per file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Fig10 {
    pub version: u32,
    pub settings: Fig10Settings,
    pub files: Vec<Fig10File>,
}

/// One file's panels. Coordinates are rounded to 0.01, scores to 4 significant digits.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Fig10File {
    pub dataset: String,
    /// The cells refitted (their keys).
    pub base_key: String,
    pub anoonly_key: String,
    /// Rows of the test split, and the indices (into it, ascending) of those shown.
    pub n_test: usize,
    pub rows: Vec<u32>,
    /// 1 = anomaly (true labels), per row shown.
    pub anomaly: Vec<u8>,
    /// Each model's AUCROC on the whole test split (its cell's).
    pub aucroc_base: f64,
    pub aucroc_anoonly: f64,
    pub score_base: Vec<f32>,
    pub score_anoonly: Vec<f32>,
    /// t-SNE of the input features, and of each model's hidden features.
    pub input: Vec<[f32; 2]>,
    pub hidden_base: Vec<[f32; 2]>,
    pub hidden_anoonly: Vec<[f32; 2]>,
}

/// The DeepSAD cells the figure refits, per family: the first file of the family (by name)
/// with a base cell of seed 0 without ablation whose AnoOnly twin is in the grid too, the
/// paper's setting (clean, `adbench`, gamma_la 10%) first, then by key.
pub fn pairs<'g>(cells: &[(Cell, &'g Grid)], families: &[&str]) -> Vec<(Cell, Cell, &'g Grid)> {
    let has = |key: &str| cells.iter().any(|(c, _)| c.key() == key);
    let paper_like = |c: &Cell| {
        c.setting == Setting::Clean
            && c.protocol == Protocol::Adbench
            && c.labeled == Labeled::Ratio(0.1)
    };
    let mut out = Vec::new();
    for family in families {
        let mut bases: Vec<&(Cell, &Grid)> = cells
            .iter()
            .filter(|(c, _)| {
                c.method == MethodKind::DeepSad
                    && c.variant == Variant::Base
                    && c.seed == 0
                    && c.ablation.is_none()
                    && c.dataset.family == *family
            })
            .collect();
        bases.sort_by_key(|(c, _)| (c.dataset.name.clone(), !paper_like(c), c.key()));
        let found = bases.into_iter().find_map(|(c, g)| {
            let twin = Cell {
                variant: Variant::AnoOnly,
                ..c.clone()
            };
            has(&twin.key()).then(|| (c.clone(), twin, *g))
        });
        out.extend(found);
    }
    out
}

/// `v` rounded to `digits` decimals, as stored.
fn round(v: f32, digits: i32) -> f32 {
    let p = 10f32.powi(digits);
    (v * p).round() / p
}

/// `v` to 4 significant digits.
fn significant(v: f32) -> f32 {
    format!("{v:.3e}").parse().unwrap_or(v)
}

fn coords(m: &ndarray::Array2<f32>) -> Vec<[f32; 2]> {
    m.rows()
        .into_iter()
        .map(|r| [round(r[0], 2), round(r[1], 2)])
        .collect()
}

/// Refits one pair of cells and embeds its test rows.
fn file_panels(
    base: &Cell,
    twin: &Cell,
    grid: &Grid,
    settings: &Fig10Settings,
) -> Result<Fig10File, String> {
    let ds = crate::load(&base.dataset).map_err(|e| e.to_string())?;
    let (fit_base, split) = grid.config(base).map_err(|e| e.to_string())?;
    let (fit_anoonly, _) = grid.config(twin).map_err(|e| e.to_string())?;
    let sp = anoonly::protocol::split(ds.x.view(), ds.y.view(), &split, base.seed)
        .map_err(|e| e.to_string())?;
    let n_test = sp.y_test.len();
    let mut rows: Vec<u32> = if n_test > settings.rows {
        let mut rng = anoonly::rng::component_rng(base.seed, "fig10");
        rand::seq::index::sample(&mut rng, n_test, settings.rows)
            .into_iter()
            .map(|i| i as u32)
            .collect()
    } else {
        (0..n_test as u32).collect()
    };
    rows.sort_unstable();
    let pick: Vec<usize> = rows.iter().map(|&r| r as usize).collect();
    let x_shown = sp.x_test.select(Axis(0), &pick);
    let y_test = sp.y_test.to_vec();
    let mut model_panels = Vec::new();
    for fit in [fit_base, fit_anoonly] {
        let model = fit
            .fit(sp.x_train.view(), sp.y_train.view())
            .map_err(|e| e.to_string())?;
        let scores = model
            .decision_function(sp.x_test.view())
            .map_err(|e| e.to_string())?;
        let auc = anoonly::metrics::aucroc(&y_test, &scores.to_vec()).map_err(|e| e.to_string())?;
        let rep = model
            .representation(x_shown.view())
            .map_err(|e| e.to_string())?;
        let hidden = embed(rep.view(), base.seed, &settings.tsne)?;
        let shown: Array1<f32> = scores.select(Axis(0), &pick);
        model_panels.push((auc, shown.iter().map(|&s| significant(s)).collect(), hidden));
    }
    let input = embed(x_shown.view(), base.seed, &settings.tsne)?;
    let [(aucroc_base, score_base, hidden_base), (aucroc_anoonly, score_anoonly, hidden_anoonly)]: [_; 2] =
        model_panels
            .try_into()
            .map_err(|_| "two models".to_string())?;
    Ok(Fig10File {
        dataset: base.dataset.name.clone(),
        base_key: base.key(),
        anoonly_key: twin.key(),
        n_test,
        anomaly: pick.iter().map(|&i| y_test[i]).collect(),
        rows,
        aucroc_base,
        aucroc_anoonly,
        score_base,
        score_anoonly,
        input: coords(&input),
        hidden_base: coords(&hidden_base),
        hidden_anoonly: coords(&hidden_anoonly),
    })
}

/// Reads [`FILE`] from a run directory, if there.
pub fn read(dir: &Path) -> Result<Option<Fig10>, BenchError> {
    let path = dir.join(FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| BenchError::Fig10(path, e.to_string())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(BenchError::Io(path, e)),
    }
}

/// Computes [`FILE`] in `dir` for the cells of `families` that `cells` holds and
/// `finished` (keys of `results.jsonl`) has, unless the file already holds those cells
/// with these settings. `None` when there is no such pair (nothing is written).
pub fn update(
    cells: &[(Cell, &Grid)],
    finished: &std::collections::HashSet<String>,
    dir: &Path,
    families: &[&str],
    settings: &Fig10Settings,
) -> Result<Option<PathBuf>, BenchError> {
    let pairs: Vec<(Cell, Cell, &Grid)> = pairs(cells, families)
        .into_iter()
        .filter(|(b, a, _)| finished.contains(&b.key()) && finished.contains(&a.key()))
        .collect();
    if pairs.is_empty() {
        return Ok(None);
    }
    let path = dir.join(FILE);
    let wanted: Vec<(String, String)> = pairs.iter().map(|(b, a, _)| (b.key(), a.key())).collect();
    if let Ok(Some(old)) = read(dir) {
        let held: Vec<(String, String)> = (old.files.iter())
            .map(|f| (f.base_key.clone(), f.anoonly_key.clone()))
            .collect();
        if old.version == VERSION && old.settings == *settings && held == wanted {
            return Ok(Some(path));
        }
    }
    let mut files = Vec::new();
    for (base, twin, grid) in &pairs {
        let f = file_panels(base, twin, grid, settings)
            .map_err(|e| BenchError::Fig10(path.clone(), format!("{}: {e}", base.key())))?;
        files.push(f);
    }
    let fig = Fig10 {
        version: VERSION,
        settings: *settings,
        files,
    };
    let text =
        serde_json::to_string(&fig).map_err(|e| BenchError::Fig10(path.clone(), e.to_string()))?;
    write_atomic(&path, text.as_bytes()).map_err(|e| BenchError::Io(path.clone(), e))?;
    Ok(Some(path))
}

/// The caption the report gives the figure.
pub fn caption(fig: &Fig10) -> String {
    let files: Vec<String> = fig
        .files
        .iter()
        .map(|f| format!("{} ({} of {} test rows)", f.dataset, f.rows.len(), f.n_test))
        .collect();
    format!(
        "t-SNE (perplexity {}, {} epochs, seeded) of the test rows of {} at seed 0: the input features coloured by DeepSAD's and by DeepSAD + AnoOnly's anomaly scores, then each model's hidden features before its last layer coloured by its own scores (dark purple = higher score, by percentile within the panel; triangles: anomalies; AUCROC on the whole test split in each title). From `{FILE}`, which the run computed by refitting the two DeepSAD cells of seed 0 (paper Fig. 10)",
        fig.settings.tsne.perplexity,
        fig.settings.tsne.epochs,
        files.join(", ")
    )
}

/// Draws the figure of [`FILE`] into `dir`.
pub fn write(fig: &Fig10, dir: &Path) -> Result<Vec<PathBuf>, FigureError> {
    write_svg_png(fig, dir, NAME)
}

/// Pixels per panel side, and above each panel for its title.
const PANEL: u32 = 300;
const TITLE: u32 = 34;

/// A colour for a percentile `t` in [0, 1]: light yellow (low score) to dark purple
/// (high), through viridis' anchors reversed (the paper's "darker purple = higher").
fn score_colour(t: f64) -> RGBColor {
    const ANCHORS: [(u8, u8, u8); 5] = [
        (253, 231, 37),
        (94, 201, 98),
        (33, 145, 140),
        (59, 82, 139),
        (68, 1, 84),
    ];
    let t = t.clamp(0.0, 1.0) * (ANCHORS.len() - 1) as f64;
    let i = (t.floor() as usize).min(ANCHORS.len() - 2);
    let f = t - i as f64;
    let mix = |a: u8, b: u8| (f64::from(a) + (f64::from(b) - f64::from(a)) * f).round() as u8;
    let (a, b) = (ANCHORS[i], ANCHORS[i + 1]);
    RGBColor(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

/// Each score's percentile among `scores` (ties share the lowest rank), in [0, 1].
fn percentiles(scores: &[f32]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]).then(a.cmp(&b)));
    let mut out = vec![0.0; scores.len()];
    let denom = scores.len().saturating_sub(1).max(1) as f64;
    let mut rank = 0;
    for (pos, &i) in order.iter().enumerate() {
        if pos > 0 && scores[i] != scores[order[pos - 1]] {
            rank = pos;
        }
        out[i] = rank as f64 / denom;
    }
    out
}

/// One panel: points at `xy`, coloured by `scores`' percentiles, anomalies as triangles on
/// top.
fn panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    title: &str,
    xy: &[[f32; 2]],
    scores: &[f32],
    anomaly: &[u8],
) -> Result<(), String> {
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    let span = |k: usize| {
        let (lo, hi) = xy
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), p| {
                (lo.min(f64::from(p[k])), hi.max(f64::from(p[k])))
            });
        if lo.is_finite() && hi > lo {
            let pad = 0.04 * (hi - lo);
            (lo - pad)..(hi + pad)
        } else {
            -1.0..1.0
        }
    };
    let mut chart = ChartBuilder::on(area)
        .caption(title, ("sans-serif", 14))
        .margin(6)
        .build_cartesian_2d(span(0), span(1))
        .map_err(err)?;
    chart
        .plotting_area()
        .draw(&Rectangle::new(
            [
                (chart.x_range().start, chart.y_range().start),
                (chart.x_range().end, chart.y_range().end),
            ],
            RGBColor(160, 160, 160).stroke_width(1),
        ))
        .map_err(err)?;
    let pct = percentiles(scores);
    let mut normals: Vec<usize> = (0..xy.len()).filter(|&i| anomaly[i] == 0).collect();
    normals.sort_by(|&a, &b| pct[a].total_cmp(&pct[b]).then(a.cmp(&b)));
    let at = |i: usize| (f64::from(xy[i][0]), f64::from(xy[i][1]));
    chart
        .draw_series(
            normals
                .iter()
                .map(|&i| Circle::new(at(i), 2, score_colour(pct[i]).filled())),
        )
        .map_err(err)?;
    // Anomalies: a red triangle with the score's colour inside (plotters fills markers).
    let anomalies: Vec<usize> = (0..xy.len()).filter(|&i| anomaly[i] == 1).collect();
    chart
        .draw_series(
            anomalies
                .iter()
                .map(|&i| TriangleMarker::new(at(i), 7, RGBColor(200, 0, 0).filled())),
        )
        .map_err(err)?;
    chart
        .draw_series(
            anomalies
                .iter()
                .map(|&i| TriangleMarker::new(at(i), 4, score_colour(pct[i]).filled())),
        )
        .map_err(err)?;
    Ok(())
}

/// A panel's title, its points and the scores that colour them.
type Panel<'a> = (String, &'a [[f32; 2]], &'a [f32]);

impl Drawing for Fig10 {
    fn size(&self) -> (u32, u32) {
        (4 * PANEL, TITLE + self.files.len().max(1) as u32 * PANEL)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        let err = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
        root.fill(&WHITE).map_err(err)?;
        let (head, body) = root.split_vertically(TITLE);
        head.draw(&Text::new(
            "t-SNE of the input and of the hidden features before the last layer, by anomaly score (dark = high); triangles: anomalies",
            (10, 9),
            ("sans-serif", 15).into_font().color(&BLACK),
        ))
        .map_err(err)?;
        let areas = body.split_evenly((self.files.len().max(1), 4));
        for (f, row) in self.files.iter().zip(areas.chunks(4)) {
            let pct = |a: f64| format!("{:.1}", 100.0 * a);
            let panels: [Panel<'_>; 4] = [
                (
                    format!("{} input · DeepSAD ({})", f.dataset, pct(f.aucroc_base)),
                    &f.input,
                    &f.score_base,
                ),
                (
                    format!("input · +AnoOnly ({})", pct(f.aucroc_anoonly)),
                    &f.input,
                    &f.score_anoonly,
                ),
                (
                    "hidden · DeepSAD".to_string(),
                    &f.hidden_base,
                    &f.score_base,
                ),
                (
                    "hidden · DeepSAD+AnoOnly".to_string(),
                    &f.hidden_anoonly,
                    &f.score_anoonly,
                ),
            ];
            for ((title, xy, scores), area) in panels.iter().zip(row) {
                panel(area, title, xy, scores, &f.anomaly)?;
            }
        }
        root.present().map_err(err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_share_ties_and_colours_run_light_to_dark() {
        assert_eq!(
            percentiles(&[3.0, 1.0, 3.0, 2.0]),
            [2.0 / 3.0, 0.0, 2.0 / 3.0, 1.0 / 3.0]
        );
        assert_eq!(score_colour(0.0), RGBColor(253, 231, 37));
        assert_eq!(score_colour(1.0), RGBColor(68, 1, 84));
        assert_eq!(significant(0.001_234_567), 0.001_235);
        assert_eq!(round(-12.345_6, 2), -12.35);
    }
}
