//! Which cells of a grid share work ([`anoonly::train::shared`]: FEAWAD's pretraining), and the two
//! decisions of a run that follow from it: the order in which its workers take the cells,
//! and which shard runs which cells.
//!
//! Sharing itself is exact whatever these decide (a pretraining is found by the hash of what
//! it depends on, not by this grouping); they only decide how often it happens and how
//! often a worker waits for another: the cells of a group go to the same shard, so that an
//! array job computes each pretraining once, and the first cell of every group starts
//! before any other cell of a group, so that a worker rarely asks for a pretraining still
//! being computed (it would wait for it; never compute it twice).

use std::collections::{HashMap, HashSet};

use super::grid::{Cell, Grid, Override, Shard, Switch};
use anoonly::methods::MethodKind;
use anoonly::protocol::Setting;

/// What is left of a FEAWAD fit whose pretraining is shared: its scoring stage, 600 of its
/// 2,600 steps (each runs the autoencoder and the head). An estimate for ordering the queue
/// only: no result depends on it.
pub const FEAWAD_SHARED_FRACTION: f64 = 0.3;

/// FEAWAD hyperparameters that only the scoring stage reads: an ablation of one of them
/// shares the pretraining of the cell without it.
const SCORING_ONLY: [&str; 4] = ["epochs", "head_hidden", "margin", "lambda_r"];

/// Whether an ablation override changes FEAWAD's pretraining: its rows (`normal_ratio`) or
/// its settings (`batch_size`, any stage-1 hyperparameter). `lambda_n` and `norm` act on
/// the scoring stage alone.
fn touches_pretraining(o: &Override) -> bool {
    match o.switch() {
        Switch::LambdaN(_) | Switch::Norm(_) => false,
        Switch::Param { name, .. } => !SCORING_ONLY.contains(&name.as_str()),
        // A budget scales the pretraining epochs too.
        Switch::NormalRatio(_) | Switch::BatchSize(_) | Switch::Budget(_) => true,
    }
}

/// The group of cells that share `cell`'s pretraining, `None` for a cell with nothing to
/// share. FEAWAD's pretraining reads the unlabeled training rows and stage-1 settings
/// only: the same file, protocol, setting, seed (and ablation of stage 1) give the same
/// rows whatever the variant; in the clean setting whatever gamma_la too (the unlabeled
/// rows are the train normals, chosen before any anomaly is labeled), in the noisy one the
/// unlabeled anomalies depend on it.
pub fn share_group(cell: &Cell) -> Option<String> {
    if cell.method != MethodKind::Feawad {
        return None;
    }
    let gamma_la = match cell.setting {
        Setting::Clean => "*".to_string(),
        Setting::Noisy => cell.gamma_la.to_string(),
    };
    let ablation = cell
        .ablation
        .as_ref()
        .filter(|o| touches_pretraining(o))
        .map(Override::to_string)
        .unwrap_or_default();
    Some(format!(
        "{}/{}/{}/gamma_la={gamma_la}/seed={}/{ablation}",
        cell.dataset.name,
        cell.protocol.name(),
        cell.setting.name(),
        cell.seed
    ))
}

/// The cells of `shard`, as [`Shard::select`] deals them (every N-th, in canonical order)
/// but dealing whole groups of [`share_group`], so that one task computes a pretraining
/// once. Groups are dealt round-robin among themselves and the other cells among
/// themselves: counted together, the cells between groups (27 per file and seed triple in
/// the paper grid, an odd number of slots each time) sent seeds 0 and 2 of every file to
/// task 1 and seed 1 to task 2, twice the FEAWAD work on one task. A grid without shared
/// work is dealt exactly as [`Shard::select`] does.
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
/// of a run from waiting on one FEAWAD cell), a cell whose pretraining another cell of its
/// group computes counting as [`FEAWAD_SHARED_FRACTION`] of a fit, ties by key. `cells`
/// come in canonical order; the first of each group is the one that computes. `rows` gives
/// a cell's dataset size.
pub fn queue(cells: Vec<(Cell, &Grid)>, rows: impl Fn(&Cell) -> usize) -> Vec<(Cell, &Grid)> {
    let mut seen = HashSet::new();
    let mut items: Vec<(f64, String, (Cell, &Grid))> = cells
        .into_iter()
        .map(|(cell, grid)| {
            let mut cost = cell.method.relative_cost(rows(&cell));
            if share_group(&cell).is_some_and(|g| !seen.insert(g)) {
                cost *= FEAWAD_SHARED_FRACTION;
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
    fn feawad_cells_of_one_split_share_a_group_whatever_the_variant_and_clean_gamma_la() {
        let g = grid();
        let cell = |variant, setting, gamma_la, ablation: Option<Override>| Cell {
            dataset: DatasetRef::synthetic(0),
            method: MethodKind::Feawad,
            variant,
            setting,
            gamma_la,
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
        let mut devnet = cell(Variant::Base, Setting::Clean, 0.1, None);
        devnet.method = MethodKind::DevNet;
        assert!(share_group(&devnet).is_none());
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
