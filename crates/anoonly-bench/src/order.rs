//! Which cells of a grid share work (the label-free stages their methods declare,
//! [`anoonly::train::stages`], kept in [`anoonly::train::shared`]), and the two decisions of
//! a run that follow from it: the order in which its workers take the cells, and which
//! shard runs which cells. Everything here is derived from the declarations
//! ([`MethodKind::stages`](anoonly::methods::MethodKind::stages)): no method is named.
//!
//! Sharing itself is exact whatever these decide (a stage's result is found by the hash of
//! what it depends on, not by this grouping); they only decide how often it happens and how
//! often a worker waits for another: the cells of a group go to the same shard, so that an
//! array job computes each shared stage once, and the first cell of every group starts
//! before any other cell of a group, so that a worker rarely asks for a stage still being
//! computed (it would wait for it; never compute it twice).

use std::collections::{HashMap, HashSet};

use super::grid::{Cell, Grid, Override, Shard, Switch};
use anoonly::protocol::Setting;
use anoonly::train::stages::{unshared_fraction, StageSpec};

/// The fields behind the typed knobs `--epochs` and `--batch-size` (the conformance tests
/// check that every method's knobs are the fields of these names).
const EPOCHS: &str = "epochs";
const BATCH_SIZE: &str = "batch_size";

/// Whether an ablation override changes what the label-free `stage` of a method declaring
/// `stages` computes: its rows (`normal_ratio`) or a setting it reads (its declared
/// parameters, the batch size and epochs among them; a budget scales its epochs). `lambda_n`
/// and `norm` act on labeled stages only. A hyperparameter no stage declares (a name the
/// cell will refuse) is kept apart, as if it did.
fn touches(o: &Override, stage: &StageSpec, stages: &[StageSpec]) -> bool {
    match o.switch() {
        Switch::LambdaN(_) | Switch::Norm(_) => false,
        Switch::NormalRatio(_) => true,
        Switch::BatchSize(_) => stage.reads_param(BATCH_SIZE),
        Switch::Budget(_) => stage.epochs_param.is_some() || stage.reads_param(EPOCHS),
        Switch::Param { name, .. } => {
            stage.reads_param(name) || !stages.iter().any(|s| s.reads_param(name))
        }
    }
}

/// The group of cells that share `cell`'s label-free stages, `None` for a cell whose method
/// has none ([`MethodKind::stages`]).
///
/// [`MethodKind::stages`]: anoonly::methods::MethodKind::stages
pub fn share_group(cell: &Cell) -> Option<String> {
    share_group_with(cell, cell.method.stages())
}

/// [`share_group`] for a method declaring `stages`. A label-free stage reads the unlabeled
/// training rows and its own settings only: the same method, file, protocol, setting, seed
/// (and ablation of those settings) give the same rows whatever the variant; in the clean
/// setting whatever gamma_la too (the unlabeled rows are the train normals, chosen before
/// any anomaly is labeled), in the noisy one the unlabeled anomalies depend on it.
pub fn share_group_with(cell: &Cell, stages: &[StageSpec]) -> Option<String> {
    let shared: Vec<&StageSpec> = stages.iter().filter(|s| s.is_label_free()).collect();
    if shared.is_empty() {
        return None;
    }
    // The clean setting's unlabeled rows are the same in either labeled-anomaly mode.
    let labeled = match cell.setting {
        Setting::Clean => "gamma_la=*".to_string(),
        Setting::Noisy => cell.labeled.to_string(),
    };
    let ablation = cell
        .ablation
        .as_ref()
        .filter(|o| shared.iter().any(|s| touches(o, s, stages)))
        .map(Override::to_string)
        .unwrap_or_default();
    Some(format!(
        "{}/{}/{}/{}/{labeled}/seed={}/{ablation}",
        cell.method.name(),
        cell.dataset.name,
        cell.protocol.name(),
        cell.setting.name(),
        cell.seed
    ))
}

/// The cells of `shard`, as [`Shard::select`] deals them (every N-th, in canonical order)
/// but dealing whole groups of [`share_group`], so that one task computes a shared stage
/// once. Groups are dealt round-robin among themselves and the other cells among
/// themselves: counted together, the cells between groups (27 per file and seed triple in
/// the paper grid, an odd number of slots each time) sent seeds 0 and 2 of every file to
/// task 1 and seed 1 to task 2, twice the shared-stage work on one task. A grid without
/// shared work is dealt exactly as [`Shard::select`] does.
pub fn select_shard(shard: Shard, cells: Vec<(Cell, &Grid)>) -> Vec<(Cell, &Grid)> {
    let mut groups: HashMap<String, usize> = HashMap::new();
    let (mut next_group, mut next_single) = (0usize, 0usize);
    let mut out = Vec::new();
    for (cell, grid) in cells {
        let slot = match share_group(&cell) {
            Some(g) => *groups.entry(g).or_insert_with(|| {
                next_group += 1;
                next_group - 1
            }),
            None => {
                next_single += 1;
                next_single - 1
            }
        };
        if slot % shard.count == shard.index - 1 {
            out.push((cell, grid));
        }
    }
    out
}

/// The order a run starts its cells in: slowest first by
/// [`anoonly::methods::MethodKind::relative_cost`] (longest job first keeps the last minutes
/// of a run from waiting on one slow cell), a cell whose label-free stages another cell of
/// its group computes counting as the rest of its fit ([`unshared_fraction`] of its
/// declaration), ties by key. `cells` come in canonical order; the first of each group is
/// the one that computes. `rows` gives a cell's dataset size.
pub fn queue(cells: Vec<(Cell, &Grid)>, rows: impl Fn(&Cell) -> usize) -> Vec<(Cell, &Grid)> {
    let mut seen = HashSet::new();
    let mut items: Vec<(f64, String, (Cell, &Grid))> = cells
        .into_iter()
        .map(|(cell, grid)| {
            let mut cost = cell.method.relative_cost(rows(&cell));
            if share_group(&cell).is_some_and(|g| !seen.insert(g)) {
                cost *= unshared_fraction(cell.method.stages());
            }
            (cost, cell.key(), (cell, grid))
        })
        .collect();
    items.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    items.into_iter().map(|(_, _, cg)| cg).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grid::{DatasetRef, Variant};
    use anoonly::methods::MethodKind;
    use anoonly::protocol::Labeled;

    fn grid() -> Grid {
        Grid {
            synthetic: vec![0, 1],
            methods: vec![MethodKind::Feawad, MethodKind::DevNet],
            gamma_la: vec![0.1, 0.5],
            settings: vec![Setting::Clean, Setting::Noisy],
            seeds: vec![0, 1],
            ..Grid::default()
        }
    }

    #[test]
    fn cells_of_one_split_share_a_group_whatever_the_variant_and_clean_gamma_la() {
        let g = grid();
        let cell = |variant, setting, gamma_la, ablation: Option<Override>| Cell {
            dataset: DatasetRef::synthetic(0),
            method: MethodKind::Feawad,
            variant,
            setting,
            labeled: Labeled::Ratio(gamma_la),
            seed: 0,
            ablation,
            protocol: g.protocol,
        };
        let group = |c: Cell| share_group(&c).unwrap();
        let base = group(cell(Variant::Base, Setting::Clean, 0.1, None));
        assert_eq!(
            base,
            group(cell(Variant::AnoOnly, Setting::Clean, 0.5, None))
        );
        assert_eq!(
            base,
            group(cell(
                Variant::Base,
                Setting::Clean,
                0.1,
                Some(Override::lambda_n(0.5))
            ))
        );
        assert_ne!(
            base,
            group(cell(
                Variant::Base,
                Setting::Clean,
                0.1,
                Some(Override::batch_size(64))
            ))
        );
        let noisy = group(cell(Variant::Base, Setting::Noisy, 0.1, None));
        assert_ne!(base, noisy);
        assert_eq!(
            noisy,
            group(cell(Variant::AnoOnly, Setting::Noisy, 0.1, None))
        );
        assert_ne!(
            noisy,
            group(cell(Variant::AnoOnly, Setting::Noisy, 0.5, None))
        );
        // Count mode: the clean setting's unlabeled rows are the train normals in either
        // mode; the noisy setting's depend on which anomalies are labeled.
        let count = |setting, k| Cell {
            labeled: Labeled::Count(k),
            ..cell(Variant::Base, setting, 0.1, None)
        };
        assert_eq!(base, group(count(Setting::Clean, 10)));
        assert_ne!(noisy, group(count(Setting::Noisy, 10)));
        assert_ne!(
            group(count(Setting::Noisy, 5)),
            group(count(Setting::Noisy, 10))
        );
        let mut devnet = cell(Variant::Base, Setting::Clean, 0.1, None);
        devnet.method = MethodKind::DevNet;
        assert!(share_group(&devnet).is_none());
    }

    /// A toy method's declaration: a label-free stage reading `width`, `lr` and its own
    /// epochs, then a labeled stage reading `head`, `lr` and `epochs`.
    fn toy(stage1: &'static [&'static str], stage2: &'static [&'static str]) -> [StageSpec; 2] {
        [
            StageSpec {
                name: "embed",
                description: "toy embedding",
                reads_labels: false,
                params: stage1,
                epochs_param: Some("embed_epochs"),
                cost_fraction: 0.6,
            },
            StageSpec {
                name: "head",
                description: "toy head",
                reads_labels: true,
                params: stage2,
                epochs_param: None,
                cost_fraction: 0.4,
            },
        ]
    }

    #[test]
    fn the_sharing_follows_the_declaration() {
        let g = grid();
        let cell = |setting, gamma_la, ablation: Option<Override>| Cell {
            dataset: DatasetRef::synthetic(0),
            method: MethodKind::DevNet,
            variant: Variant::Base,
            setting,
            labeled: Labeled::Ratio(gamma_la),
            seed: 0,
            ablation,
            protocol: g.protocol,
        };
        let set = |name: &str| Some(Override::parse(name, "8").unwrap());
        let declared = toy(&["width", "lr", "embed_epochs"], &["head", "lr", "epochs"]);
        let group = |c: Cell, stages: &[StageSpec]| share_group_with(&c, stages).unwrap();
        let base = group(cell(Setting::Clean, 0.1, None), &declared);
        // Stage 1's parameters (and one both stages read) keep a cell apart; stage 2's, the
        // SSAD loss's switches and the clean setting's gamma_la do not.
        for name in ["width", "lr", "embed_epochs"] {
            assert_ne!(base, group(cell(Setting::Clean, 0.1, set(name)), &declared));
        }
        for o in [set("head"), set("epochs"), Some(Override::lambda_n(0.5))] {
            assert_eq!(base, group(cell(Setting::Clean, 0.5, o), &declared));
        }
        assert_ne!(
            base,
            group(
                cell(Setting::Clean, 0.1, Some(Override::budget(0.5))),
                &declared
            ),
            "a budget scales stage 1's epochs"
        );
        // `width` moved to the labeled stage: its override now shares the base cell's.
        let moved = toy(&["lr", "embed_epochs"], &["width", "head", "lr", "epochs"]);
        let base_moved = group(cell(Setting::Clean, 0.1, None), &moved);
        assert_eq!(
            base_moved,
            group(cell(Setting::Clean, 0.1, set("width")), &moved)
        );
        // `width` renamed `hidden` in stage 1: the overrides of `hidden` keep cells apart.
        let renamed = toy(&["hidden", "lr", "embed_epochs"], &["head", "lr", "epochs"]);
        let base_renamed = group(cell(Setting::Clean, 0.1, None), &renamed);
        assert_ne!(
            base_renamed,
            group(cell(Setting::Clean, 0.1, set("hidden")), &renamed)
        );
        assert_eq!(
            base_renamed,
            group(cell(Setting::Clean, 0.1, set("head")), &renamed)
        );
        // Stage 1 declared as reading labels: nothing to share.
        let labeled = [
            StageSpec {
                reads_labels: true,
                ..declared[0]
            },
            declared[1],
        ];
        assert!(share_group_with(&cell(Setting::Clean, 0.1, None), &labeled).is_none());
        assert!(share_group_with(&cell(Setting::Clean, 0.1, None), &[]).is_none());
    }

    #[test]
    fn shards_get_as_many_sharing_groups_as_each_other() {
        // The paper grid's shape: per file, FEAWAD's three seeds between 27 other cells.
        let g = Grid {
            synthetic: (0..11).collect(),
            methods: MethodKind::ALL.to_vec(),
            seeds: vec![0, 1, 2],
            ..Grid::default()
        };
        let cells: Vec<(Cell, &Grid)> = g.cells().unwrap().into_iter().map(|c| (c, &g)).collect();
        for count in [2, 3, 4] {
            let (mut groups, mut sizes) = (Vec::new(), Vec::new());
            for index in 1..=count {
                let part = select_shard(Shard { index, count }, cells.clone());
                let distinct: HashSet<String> =
                    part.iter().filter_map(|(c, _)| share_group(c)).collect();
                groups.push(distinct.len());
                sizes.push(part.len());
            }
            let spread = |v: &[usize]| v.iter().max().unwrap() - v.iter().min().unwrap();
            assert_eq!(groups.iter().sum::<usize>(), 33);
            assert!(spread(&groups) <= 1, "{count} shards: groups {groups:?}");
            // One more group (two cells) and one more single cell at most.
            assert!(spread(&sizes) <= 3, "{count} shards: cells {sizes:?}");
        }
    }

    #[test]
    fn shards_keep_groups_together_and_partition_the_grid() {
        let g = grid();
        let cells: Vec<(Cell, &Grid)> = g.cells().unwrap().into_iter().map(|c| (c, &g)).collect();
        let n = cells.len();
        let mut seen = Vec::new();
        let mut home: HashMap<String, usize> = HashMap::new();
        for i in 1..=3 {
            let part = select_shard(Shard { index: i, count: 3 }, cells.clone());
            for (c, _) in &part {
                if let Some(group) = share_group(c) {
                    assert_eq!(*home.entry(group).or_insert(i), i, "{} split", c.key());
                }
                seen.push(c.key());
            }
        }
        seen.sort();
        let mut all: Vec<String> = cells.iter().map(|(c, _)| c.key()).collect();
        all.sort();
        assert_eq!(seen, all, "every cell exactly once");
        assert_eq!(n, all.len());
        // Without shared work, the deal is Shard::select's.
        let plain = Grid {
            methods: vec![MethodKind::DevNet],
            ..grid()
        };
        let cells: Vec<(Cell, &Grid)> = plain
            .cells()
            .unwrap()
            .into_iter()
            .map(|c| (c, &plain))
            .collect();
        let s = Shard { index: 2, count: 3 };
        let keys = |v: Vec<(Cell, &Grid)>| v.into_iter().map(|(c, _)| c.key()).collect::<Vec<_>>();
        assert_eq!(keys(select_shard(s, cells.clone())), keys(s.select(cells)));
    }

    #[test]
    fn the_queue_starts_every_group_before_any_second_cell_of_a_group() {
        let g = grid();
        let cells: Vec<(Cell, &Grid)> = g.cells().unwrap().into_iter().map(|c| (c, &g)).collect();
        let q = queue(cells, |_| 1000);
        let mut started = HashSet::new();
        let mut second_seen = false;
        for (c, _) in &q {
            if let Some(group) = share_group(c) {
                if started.insert(group) {
                    assert!(!second_seen, "{}: a group starts after a follower", c.key());
                } else {
                    second_seen = true;
                }
            }
        }
        assert!(second_seen);
        assert_eq!(q.first().map(|(c, _)| c.method), Some(MethodKind::Feawad));
    }
}
