//! Split counts on the shared ADBench files (docs/protocol.md 1.5), read from their `y` labels only.
//!
//! Rows marked `true` are the docs/protocol.md 1.5 table (seed 42, la 0.1); all rows (counts, first
//! train / test rows and their sums) come from the numpy/sklearn replica of the official pipeline
//! in scripts/protocol_reference.py (numpy 2.4.6, scikit-learn 1.9.1), run once and pasted here.
//! The test is `#[ignore]`d: scripts/test.sh runs it when ../shared/data exists.

mod common;

use std::fs::File;
use std::io::Read;
use std::path::Path;

use anoonly::protocol::{split_indices, Protocol, Resampling, Setting, SplitParams};
use common::widen;
use ndarray::Array1;

/// Reads `y.npy` out of an ADBench `.npz` (deflate zip) and parses the NPY v1/v2 header
/// minimally: 1-d, dtype `<i8`, `<i4` or `|u1`/`|i1`, values 0/1. Test-only helper.
fn read_y(npz: &Path) -> Array1<u8> {
    let mut zip = zip::ZipArchive::new(File::open(npz).expect("open npz")).expect("zip");
    let mut bytes = Vec::new();
    zip.by_name("y.npy")
        .expect("y.npy in npz")
        .read_to_end(&mut bytes)
        .expect("read y.npy");
    assert_eq!(&bytes[..6], b"\x93NUMPY", "npy magic");
    let (header_len, start) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        _ => (
            u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
            12,
        ),
    };
    let header = std::str::from_utf8(&bytes[start..start + header_len]).expect("header");
    let data = &bytes[start + header_len..];
    let width = if header.contains("'<i8'") {
        8
    } else if header.contains("'<i4'") {
        4
    } else if header.contains("'|u1'") || header.contains("'|i1'") {
        1
    } else {
        panic!("unsupported y dtype in {}: {header}", npz.display())
    };
    let shape = &header[header.find("'shape': (").expect("shape") + 10..];
    let n: usize = shape[..shape.find([',', ')']).unwrap()]
        .trim()
        .parse()
        .expect("1-d shape");
    assert_eq!(data.len(), n * width, "{}", npz.display());
    data.chunks_exact(width)
        .map(|c| {
            let v = c[0]; // little-endian, values 0/1
            assert!(v <= 1 && c[1..].iter().all(|&b| b == 0), "label not 0/1");
            v
        })
        .collect()
}

/// (file, in the 1.5 table, rows, anomalies, anomalies after resampling, n_train clean,
/// n_train noisy, n_lab, n_test, test anomalies, clean train rows [..6], test rows [..6],
/// Σ clean train rows, Σ test rows), seed 42, la 0.1.
#[rustfmt::skip]
#[allow(clippy::type_complexity)]
const EXPECTED: &[(&str, bool, usize, usize, usize, usize, usize, usize, usize, usize, &[usize], &[usize], usize, usize)] = &[
    ("CV_by_ResNet18/CIFAR10_0", true, 5263, 263, 263, 3519, 3684, 19, 1579, 79, &[2984, 4009, 2686, 2584, 3795, 1009], &[2088, 3664, 4904, 5139, 4202, 1005], 9210980, 4217181),
    ("CV_by_ResNet18/MVTec-AD_bottle", true, 292, 63, 230, 556, 700, 17, 300, 69, &[175, 48, 280, 206, 45, 38], &[212, 143, 288, 54, 222, 172], 82248, 44225),
    ("CV_by_ResNet18/MVTec-AD_cable", true, 374, 92, 242, 548, 700, 17, 300, 73, &[163, 211, 262, 9, 358, 322], &[25, 219, 288, 164, 129, 55], 106722, 54230),
    ("CV_by_ResNet18/MVTec-AD_capsule", true, 351, 109, 306, 508, 700, 22, 300, 92, &[108, 159, 301, 256, 347, 169], &[12, 261, 341, 191, 3, 293], 95202, 49163),
    ("CV_by_ResNet18/MVTec-AD_carpet", true, 397, 89, 229, 556, 700, 16, 300, 69, &[189, 330, 252, 47, 258, 351], &[186, 179, 242, 129, 302, 216], 115320, 58717),
    ("CV_by_ResNet18/MVTec-AD_grid", true, 342, 57, 149, 607, 700, 11, 300, 45, &[171, 62, 57, 32, 341, 241], &[95, 248, 339, 94, 337, 259], 103356, 52346),
    ("CV_by_ResNet18/MVTec-AD_hazelnut", true, 501, 70, 127, 620, 700, 9, 300, 38, &[5, 207, 407, 487, 100, 133], &[52, 438, 92, 372, 283, 395], 152664, 77126),
    ("CV_by_ResNet18/MVTec-AD_leather", true, 369, 92, 212, 567, 700, 15, 300, 64, &[322, 121, 334, 222, 349, 228], &[254, 91, 134, 311, 230, 4], 103011, 53718),
    ("CV_by_ResNet18/MVTec-AD_metal_nut", true, 335, 93, 264, 534, 700, 19, 300, 79, &[334, 112, 53, 17, 32, 270], &[282, 274, 65, 245, 170, 328], 88026, 49865),
    ("CV_by_ResNet18/SVHN_0", true, 5208, 260, 260, 3482, 3645, 19, 1563, 78, &[2768, 3440, 96, 3912, 4917, 640], &[2630, 133, 891, 1094, 2906, 3731], 8993089, 4122989),
    ("Classical/10_cover", false, 286048, 2747, 111, 6930, 7000, 8, 3000, 33, &[157838, 171944, 234681, 284040, 151946, 46928], &[114501, 78805, 121881, 201931, 171791, 184695], 995446840, 433385249),
    ("Classical/12_fault", false, 1941, 673, 673, 935, 1358, 48, 583, 202, &[528, 164, 147, 408, 420, 679], &[1752, 1093, 122, 229, 1918, 683], 629446, 577054),
    ("Classical/14_glass", false, 214, 9, 37, 677, 700, 3, 300, 11, &[110, 193, 156, 191, 165, 154], &[146, 53, 176, 2, 52, 108], 73025, 32217),
    ("Classical/16_http", false, 567498, 2211, 54, 6966, 7000, 4, 3000, 16, &[3749, 155442, 559088, 378350, 401244, 170892], &[221177, 187696, 143171, 404041, 74251, 331042], 1976494481, 855233907),
    ("Classical/18_Ionosphere", false, 351, 126, 366, 470, 700, 26, 300, 110, &[341, 219, 314, 345, 329, 326], &[342, 60, 75, 206, 52, 303], 93831, 53259),
    ("Classical/20_letter", false, 1600, 100, 100, 1057, 1120, 7, 480, 30, &[1167, 1103, 901, 1374, 582, 239], &[972, 1028, 492, 143, 1230, 1301], 784554, 397067),
    ("Classical/22_magic.gamma", false, 19020, 6688, 3508, 4790, 7000, 246, 3000, 1052, &[1444, 4515, 5129, 1152, 12037, 1350], &[13771, 10504, 4807, 5414, 10418, 6385], 31868255, 28558643),
    ("Classical/24_mnist", false, 7603, 700, 700, 4881, 5322, 49, 2281, 210, &[1735, 452, 1550, 6883, 52, 3551], &[3081, 1279, 4197, 441, 1384, 3136], 17038048, 8662785),
    ("Classical/26_optdigits", false, 5216, 150, 150, 3557, 3651, 11, 1565, 45, &[3131, 2345, 3856, 3425, 2131, 998], &[46, 1358, 1994, 797, 4499, 2551], 8983749, 4134304),
    ("Classical/28_pendigits", false, 6870, 156, 156, 4711, 4809, 11, 2061, 47, &[1660, 5689, 5044, 132, 2560, 2816], &[2615, 1160, 2844, 3683, 5867, 3605], 16171956, 7080002),
    ("Classical/2_annthyroid", false, 7200, 534, 534, 4704, 5040, 38, 2160, 160, &[4626, 375, 4089, 3455, 5434, 3681], &[511, 6744, 2428, 1598, 774, 3775], 16903747, 7733517),
    ("Classical/30_satellite", false, 6435, 2036, 2036, 3222, 4504, 143, 1931, 611, &[5976, 4425, 6018, 5210, 1926, 254], &[4607, 4625, 6355, 178, 3395, 3687], 10615457, 6227826),
    ("Classical/32_shuttle", false, 49097, 3511, 736, 6537, 7000, 52, 3000, 221, &[29773, 7024, 6885, 40181, 24635, 4826], &[30293, 42503, 35495, 11839, 5253, 14539], 161396592, 73587215),
    ("Classical/34_smtp", false, 95156, 30, 2, 7000, 7000, 1, 3000, 1, &[85012, 74697, 36525, 31377, 9481, 30883], &[13614, 2502, 26213, 40243, 9672, 69215], 331092326, 141730884),
    ("Classical/38_thyroid", false, 3772, 93, 93, 2582, 2640, 7, 1132, 28, &[1778, 494, 1453, 598, 1635, 2894], &[2597, 2870, 3326, 241, 1173, 3036], 4855637, 2142247),
    ("Classical/40_vowels", false, 1456, 50, 50, 988, 1019, 4, 437, 15, &[838, 249, 881, 551, 1308, 1119], &[766, 689, 699, 161, 623, 805], 688053, 326889),
    ("Classical/42_WBC", false, 223, 10, 44, 673, 700, 4, 300, 13, &[190, 25, 100, 59, 198, 120], &[216, 127, 44, 44, 205, 221], 78724, 35150),
    ("Classical/44_Wilt", false, 4819, 257, 257, 3211, 3373, 18, 1446, 77, &[1493, 3412, 1381, 986, 3623, 254], &[138, 937, 3245, 3676, 3574, 3276], 7562004, 3522885),
    ("Classical/46_WPBC", false, 198, 47, 249, 544, 700, 18, 300, 75, &[140, 23, 117, 8, 163, 97], &[50, 146, 132, 166, 29, 10], 54248, 30616),
    ("Classical/4_breastw", false, 683, 239, 360, 474, 700, 26, 300, 108, &[301, 542, 376, 624, 606, 26], &[553, 57, 489, 99, 130, 383], 175786, 96896),
    ("Classical/6_cardio", false, 1831, 176, 176, 1171, 1281, 13, 550, 53, &[526, 1242, 266, 1440, 893, 1157], &[1218, 474, 1718, 1683, 1284, 1772], 959934, 523872),
    ("Classical/8_celeba", false, 202599, 4547, 223, 6860, 7000, 16, 3000, 67, &[126332, 51505, 164625, 177085, 199770, 184892], &[191720, 161814, 72953, 163662, 33958, 86221], 699823282, 301678981),
    ("NLP_by_RoBERTa/20news_3", true, 615, 30, 39, 676, 700, 3, 300, 12, &[52, 347, 224, 457, 528, 612], &[21, 181, 565, 549, 454, 131], 202975, 86108),
];

#[test]
#[ignore = "needs ../shared/data (run by scripts/test.sh when it exists)"]
fn split_counts_match_table_1_5_needs_shared_data() {
    let root = common::shared_data();
    let mut checked = 0;
    let mut mismatches = Vec::new();
    for &(
        file,
        _in_table,
        n,
        n_anom,
        anom_after,
        clean,
        noisy,
        n_lab,
        n_test,
        test_anom,
        train_head,
        test_head,
        sum_train,
        sum_test,
    ) in EXPECTED
    {
        let path = root.join(format!("{file}.npz"));
        let y = read_y(&path);
        assert_eq!(
            (y.len(), y.iter().filter(|&&v| v == 1).count()),
            (n, n_anom),
            "{file}"
        );
        let p = |setting| SplitParams {
            setting,
            ..SplitParams::default()
        };
        let c = split_indices(y.view(), &p(Setting::Clean), 42).unwrap();
        let z = split_indices(y.view(), &p(Setting::Noisy), 42).unwrap();
        let after = |s: &anoonly::protocol::SplitIndices| {
            s.train_all
                .iter()
                .chain(&s.test)
                .filter(|&&r| y[r as usize] == 1)
                .count()
        };
        let got = (
            after(&c),
            c.train.len(),
            z.train.len(),
            c.n_labeled,
            c.test.len(),
            c.test.iter().filter(|&&r| y[r as usize] == 1).count(),
        );
        let want = (anom_after, clean, noisy, n_lab, n_test, test_anom);
        if got != want {
            mismatches.push(format!("{file}: got {got:?}, want {want:?}"));
        }
        // the very rows of the official pipeline
        assert_eq!(widen(&c.train[..6]), train_head, "{file}");
        assert_eq!(widen(&c.test[..6]), test_head, "{file}");
        assert_eq!(widen(&c.train).iter().sum::<usize>(), sum_train, "{file}");
        assert_eq!(widen(&c.test).iter().sum::<usize>(), sum_test, "{file}");
        match c.resampled {
            Resampling::Duplicated { from } => assert!(from == n && n < 1000),
            Resampling::Subsampled { from } => assert!(from == n && n > 10000),
            Resampling::None => assert!((1000..=10000).contains(&n)),
        }
        // leakage-free: same counts for files that are not duplicated, disjoint rows always
        let lf = split_indices(
            y.view(),
            &SplitParams {
                protocol: Protocol::LeakageFree,
                ..p(Setting::Noisy)
            },
            42,
        )
        .unwrap();
        let train: std::collections::HashSet<u32> = lf.train_all.iter().copied().collect();
        assert!(
            lf.test.iter().all(|r| !train.contains(r)),
            "{file}: leakage"
        );
        if n >= 1000 {
            assert_eq!(
                (lf.train, lf.test),
                (z.train.clone(), z.test.clone()),
                "{file}"
            );
        }
        checked += 1;
    }
    assert!(
        mismatches.is_empty(),
        "count mismatches:\n{}",
        mismatches.join("\n")
    );
    eprintln!("checked {checked} shared files");
}
