//! XGBOD's unsupervised detectors against hand-computed values and known properties.

use anoonly::detectors::hbos::{histogram, Hbos};
use anoonly::detectors::iforest::{average_path_length, IsolationForest};
use anoonly::detectors::neighbors::{knn_scores, lof_scores, lrd, search};
use anoonly::detectors::ocsvm::solve;
use anoonly::detectors::{feature_names, Standardizer, Tos};
use anoonly::rng::component_rng;
use ndarray::{array, Array2, Axis};
use rand::Rng as _;

fn close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol
}

#[test]
fn knn_distances_on_a_line() {
    // 1-D points 0, 1, 3, 7. Training scores exclude the point itself.
    let x = array![[0.0f32], [1.0], [3.0], [7.0]];
    let nb = search(x.view(), x.view(), 2, true, &mut |_, _| {});
    assert_eq!(knn_scores(&nb, 1).to_vec(), vec![1.0, 1.0, 2.0, 4.0]);
    assert_eq!(knn_scores(&nb, 2).to_vec(), vec![3.0, 2.0, 3.0, 6.0]);
    // A new row at 4 is 1 from 3 and 3 from 1 (no exclusion for new rows).
    let q = array![[4.0f32], [3.0]];
    let nb = search(q.view(), x.view(), 2, false, &mut |_, _| {});
    assert_eq!(knn_scores(&nb, 2).to_vec(), vec![3.0, 2.0]);
    assert_eq!(knn_scores(&nb, 1).to_vec(), vec![1.0, 0.0]);
}

#[test]
fn lof_textbook_example() {
    // Points a=0, b=1, c=2, d=10, k = 2 (ties by index: b's neighbours are a, c).
    // k-distances: a 2, b 1, c 2, d 9.
    // reach-dist means: a (max(1,1)+max(2,2))/2 = 1.5, b (2+2)/2 = 2, c (1+2)/2 = 1.5,
    // d (max(8,2)+max(9,1))/2 = 8.5  =>  lrd = 2/3, 1/2, 2/3, 2/17.
    // LOF(a) = (1/2 + 2/3)/2 / (2/3) = 0.875, LOF(b) = 4/3, LOF(c) = 0.875,
    // LOF(d) = (2/3 + 1/2)/2 / (2/17) = 4.958333.
    let x = array![[0.0f32], [1.0], [2.0], [10.0]];
    let nb = search(x.view(), x.view(), 2, true, &mut |_, _| {});
    let kd: Vec<f32> = knn_scores(&nb, 2).to_vec();
    assert_eq!(kd, vec![2.0, 1.0, 2.0, 9.0]);
    let l = lrd(&nb, 2, &kd);
    for (got, want) in l.iter().zip([2.0 / 3.0, 0.5, 2.0 / 3.0, 2.0 / 17.0]) {
        assert!(close(*got, want, 1e-8), "lrd {got} vs {want}");
    }
    let lof = lof_scores(&nb, 2, &l.to_vec(), &l);
    for (got, want) in lof.iter().zip([0.875, 4.0 / 3.0, 0.875, 4.958_333]) {
        assert!(close(f64::from(*got), want, 1e-5), "lof {got} vs {want}");
    }
    // A new row at 5: neighbours c (3) and b (4); reach = max(3,2), max(4,1) → lrd 2/7;
    // LOF = (2/3 + 1/2)/2 / (2/7) = 2.0416667.
    let q = array![[5.0f32]];
    let nq = search(q.view(), x.view(), 2, false, &mut |_, _| {});
    let lq = lrd(&nq, 2, &kd);
    assert!(close(lq[0], 2.0 / 7.0, 1e-8));
    let lof_q = lof_scores(&nq, 2, &l.to_vec(), &lq);
    assert!(close(f64::from(lof_q[0]), 2.041_666_7, 1e-5));
}

#[test]
fn hbos_bins_and_scores() {
    // Values 0, 1, 1, 2, 4 in 2 bins: edges 0, 2, 4; numpy counts [0,2) = 3, [2,4] = 2;
    // densities 3/(5·2) = 0.3 and 0.2.
    let (edges, dens) = histogram([0.0, 1.0, 1.0, 2.0, 4.0].into_iter(), 2);
    assert_eq!(edges, vec![0.0, 2.0, 4.0]);
    assert!(close(dens[0], 0.3, 1e-12) && close(dens[1], 0.2, 1e-12));
    // A constant column gets numpy's ±0.5 range.
    let (edges, _) = histogram([3.0, 3.0].into_iter(), 2);
    assert_eq!(edges, vec![2.5, 3.0, 3.5]);

    let x = array![[0.0f32], [1.0], [1.0], [2.0], [4.0]];
    let h = Hbos::fit(x.view(), 2);
    let s0 = -(0.4f64).log2(); // bin 0: −log2(0.3 + 0.1)
    let s1 = -(0.3f64).log2(); // bin 1: −log2(0.2 + 0.1), also the lowest density
                               // digitize(right=True): 2 (an inner edge) falls in bin 0; 5 is within tol·width of the
                               // right edge (bin 1); 6 and −1.5 are beyond it (lowest density).
    let q = array![[0.0f32], [1.0], [2.0], [4.0], [5.0], [6.0], [-1.5], [-1.0]];
    let got = h.scores(q.view());
    let want = [s0, s0, s0, s1, s1, s1, s1, s0];
    for (g, w) in got.iter().zip(want) {
        assert!(close(f64::from(*g), w, 1e-6), "{got} vs {want:?}");
    }
}

#[test]
fn isolation_forest_path_lengths_have_the_scale_of_c_n() {
    // c(2) = 1; c(256) = 2(ln 255 + γ) − 2·255/256.
    assert_eq!(average_path_length(1), 0.0);
    assert_eq!(average_path_length(2), 1.0);
    assert!(close(average_path_length(256), 10.244_770, 1e-5));
    // Two distinct rows: every tree isolates each at depth 1, so E[h] = 1 = c(2), score 0.5.
    let two = array![[0.0f32, 0.0], [1.0, 1.0]];
    let f = IsolationForest::fit(two.view(), 10, &mut component_rng(0, "t"));
    let s = f.scores(two.view(), &[10]);
    assert!(s.iter().all(|&v| close(f64::from(v), 0.5, 1e-6)), "{s}");

    // Uniform data: a typical row's mean path length is close to c(ψ) (score ≈ 0.5), a far
    // outlier is isolated early; no leaf is deeper than ⌈log2 ψ⌉ = 8.
    let mut rng = component_rng(1, "data");
    let x = Array2::from_shape_fn((1000, 3), |_| rng.gen::<f32>());
    let f = IsolationForest::fit(x.view(), 100, &mut component_rng(2, "t"));
    let mean_path: f64 = (0..x.nrows())
        .map(|i| {
            (0..100)
                .map(|t| f64::from(f.path_length(t, x.row(i))))
                .sum::<f64>()
                / 100.0
        })
        .sum::<f64>()
        / x.nrows() as f64;
    let c = average_path_length(256);
    assert!(
        mean_path > 0.85 * c && mean_path < 1.15 * c,
        "{mean_path} vs {c}"
    );
    let out = array![[5.0f32, 5.0, 5.0]];
    let s_out = f.scores(out.view(), &[100])[[0, 0]];
    let s_in = f.scores(x.view(), &[100]).mean().unwrap_or(0.0);
    assert!(s_out > 0.6 && s_out > s_in + 0.1, "{s_out} vs {s_in}");
    assert!(f.nodes.iter().all(|n| n.path <= 8.0 + c as f32));
}

#[test]
fn ocsvm_identity_kernel_and_nu_property() {
    // K = I: min ½Σα² with Σα = ν n, α ≤ 1  =>  α_i = ν, all free, ρ = G_i = ν.
    let q = Array2::<f32>::eye(3);
    let s = solve(&q, 0.5);
    assert!(s.alpha.iter().all(|&a| close(a, 0.5, 1e-9)), "{}", s.alpha);
    assert!(close(s.rho, 0.5, 1e-9));

    // ν bounds the fraction of training outliers from above and of support vectors from
    // below (Schölkopf et al. 2001, Prop. 4), up to the solver tolerance.
    let mut rng = component_rng(3, "data");
    let x = Array2::from_shape_fn((300, 2), |_| rng.gen::<f32>() * 2.0 - 1.0);
    let gamma = 0.5f32;
    let kernel = Array2::from_shape_fn((300, 300), |(i, j)| {
        let d2: f32 = (&x.row(i) - &x.row(j)).mapv(|v| v * v).sum();
        (-gamma * d2).exp()
    });
    for nu in [0.1, 0.5] {
        let s = solve(&kernel, nu);
        assert!(close(s.alpha.sum(), nu * 300.0, 1e-6));
        let dec = kernel.mapv(f64::from).dot(&s.alpha) - s.rho;
        let outliers = dec.iter().filter(|&&v| v < -1e-3).count() as f64 / 300.0;
        let svs = s.alpha.iter().filter(|&&a| a > 0.0).count() as f64 / 300.0;
        assert!(outliers <= nu + 0.02, "nu {nu}: outliers {outliers}");
        assert!(svs >= nu - 0.02, "nu {nu}: support vectors {svs}");
        assert!((outliers - nu).abs() < 0.1, "nu {nu}: outliers {outliers}");
    }
}

#[test]
fn tos_columns_follow_pyods_order() {
    let mut rng = component_rng(4, "data");
    let x = Array2::from_shape_fn((60, 3), |_| rng.gen::<f32>());
    let (tos, train, _) = Tos::fit(x.view(), 0);
    assert_eq!(tos.n_features(), 41);
    assert_eq!(train.dim(), (60, 41));
    let names = feature_names(60);
    assert_eq!(names.len(), 41);
    assert_eq!(&names[..4], ["knn_1", "lof_1", "knn_3", "lof_3"]);
    assert_eq!(names[16], "hbos_5");
    assert_eq!(names[23], "ocsvm_0.01");
    assert_eq!(names[34], "iforest_10");
    assert_eq!(names[40], "iforest_200");
    // KNN k=1 on z-scores, excluding the row itself; HBOS on raw rows.
    let z = Standardizer::fit(x.view()).transform(x.view());
    let nb = search(z.view(), z.view(), 1, true, &mut |_, _| {});
    assert_eq!(train.column(0), knn_scores(&nb, 1));
    assert_eq!(train.column(16), Hbos::fit(x.view(), 5).scores(x.view()));
    // New rows get the same columns; on the training rows themselves HBOS, OCSVM and
    // IForest agree with the training features (KNN/LOF differ: the row is its own neighbour).
    let new = tos.features(x.view());
    assert_eq!(new.ncols(), 41);
    for (c, name) in names.iter().enumerate().skip(16) {
        let diff = (&new.column(c) - &train.column(c)).mapv(f32::abs);
        assert!(diff.iter().all(|&d| d < 1e-4), "column {c}: {name}");
    }
    assert!(new.column(0).iter().all(|&d| d < 1e-2));
    // Small n: only k < n.
    let tiny = x.select(Axis(0), &[0, 1, 2, 3]);
    let (tos, train, _) = Tos::fit(tiny.view(), 0);
    assert_eq!(tos.ks, vec![1, 3]);
    assert_eq!(train.ncols(), 4 + 7 + 11 + 7);
}
