//! How close the fits run to the machine's limit (issue 15), in one run:
//!
//! 1. Each method is fitted at the authors' settings on CIFAR10_0's train split (clean,
//!    gamma_la 0.1, seed 0) with 1 and 2 matrix-product threads; every product it computes is
//!    recorded ([`count_products`]): shape, layout (a transposed operand is a view, as in the
//!    backward products) and count, hence its FLOPs per fit.
//! 2. Every recorded shape is timed alone with each kernel: ours ([`nn::matmul`], the `gemm`
//!    crate), matrixmultiply (ndarray's `dot`, the kernel before issue 15), OpenBLAS's
//!    `cblas_sgemm` (loaded at run time from `libopenblas.so.0` when installed: Debian
//!    `libopenblas0`) and numpy's `matmul` (its bundled OpenBLAS; run through
//!    `scripts/roofline_numpy.py` with `$ROOFLINE_PYTHON`, default `python3`, when it has
//!    numpy). The best of many single calls counts: on a shared machine the minimum is the
//!    least disturbed figure.
//! 3. Tables: GFLOP/s per main shape and kernel; per method, its FLOPs per fit, its achieved
//!    rate, and the fraction of the roofline: the time the same products take at the fastest
//!    kernel measured for each shape (OpenBLAS, numpy or ours) divided by the fit time.
//!    `products@ours` is the same sum at our training kernel: what the fit would take with no
//!    other work; the rest of the fit is overhead (copies, element-wise passes, optimiser).
//!    (Eval-mode products run on matrixmultiply, `nn::matmul::rowwise_into`; they are a few
//!    percent of a fit's FLOPs and are counted at gemm's rate here.) The fraction is given
//!    by wall time and, at one thread, by the process's CPU time, which a loaded machine
//!    inflates less.
//!
//! `cargo bench -p anoonly --bench roofline`. Environment: `ROOFLINE_METHODS` (default
//! `deepsad,devnet,prenet,feawad`), `ROOFLINE_THREADS` (default `1,2`), `ROOFLINE_BUDGET`
//! (seconds of timing per shape and kernel, default 0.15). FEAWAD's fits take most of the
//! run (about a minute each on one core).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use ndarray::{Array2, ArrayView2};

use anoonly::data::{self, synthetic, LoadOptions};
use anoonly::methods::{FitParams, MethodKind};
use anoonly::nn::matmul::{count_products, gemm_into, Product};
use anoonly::nn::with_matmul_threads;
use anoonly::protocol::{split, SplitParams};

/// The shapes the issue names first (FEAWAD's autoencoder input layer and its 128-wide
/// layers, DeepSAD's first layer), forward and both backward products.
const MAIN: &[(&str, Product)] = &[
    ("FEAWAD 512 fwd x·Wᵀ", p(512, 512, 512, false, true)),
    ("FEAWAD 512 grad_w gᵀ·x", p(512, 512, 512, true, false)),
    ("FEAWAD 512 grad_in g·W", p(512, 512, 512, false, false)),
    ("FEAWAD 512→128 fwd", p(512, 512, 128, false, true)),
    ("FEAWAD 512→128 grad_w", p(128, 512, 512, true, false)),
    ("FEAWAD 128→512 grad_in", p(512, 512, 128, false, false)),
    ("DeepSAD 512→100 fwd", p(128, 512, 100, false, true)),
    ("DeepSAD 512→100 grad_w", p(100, 128, 512, true, false)),
    ("square 1024", p(1024, 1024, 1024, false, false)),
];

const fn p(m: usize, k: usize, n: usize, a_transposed: bool, b_transposed: bool) -> Product {
    Product {
        m,
        k,
        n,
        a_transposed,
        b_transposed,
    }
}

const KERNELS: [&str; 4] = ["ours (gemm)", "matrixmultiply", "OpenBLAS", "numpy"];

fn env_list(name: &str, default: &str) -> Vec<String> {
    std::env::var(name)
        .unwrap_or_else(|_| default.to_string())
        .split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

fn operands(s: &Product) -> (Array2<f32>, Array2<f32>) {
    let fill = |r: usize, c: usize, salt: usize| {
        Array2::from_shape_fn((r, c), |(i, j)| {
            ((i * 31 + j * 17 + salt) % 29) as f32 / 29.0 - 0.5
        })
    };
    let a = if s.a_transposed {
        fill(s.k, s.m, 1)
    } else {
        fill(s.m, s.k, 1)
    };
    let b = if s.b_transposed {
        fill(s.n, s.k, 2)
    } else {
        fill(s.k, s.n, 2)
    };
    (a, b)
}

fn view<'a>(x: &'a Array2<f32>, transposed: bool) -> ArrayView2<'a, f32> {
    if transposed {
        x.t()
    } else {
        x.view()
    }
}

/// Best seconds of one call of `f` over calls filling about `budget` seconds (at least 5).
fn best_of(budget: f64, mut f: impl FnMut()) -> f64 {
    f();
    let (mut best, mut spent, mut reps) = (f64::INFINITY, 0.0, 0);
    while reps < 5 || (spent < budget && reps < 5000) {
        let t = Instant::now();
        f();
        let dt = t.elapsed().as_secs_f64();
        best = best.min(dt);
        spent += dt;
        reps += 1;
    }
    best
}

/// OpenBLAS's CBLAS, opened at run time so that the bench builds and runs without it.
struct OpenBlas {
    _lib: libloading::Library,
    sgemm: unsafe extern "C" fn(
        i32,
        i32,
        i32,
        i32,
        i32,
        i32,
        f32,
        *const f32,
        i32,
        *const f32,
        i32,
        f32,
        *mut f32,
        i32,
    ),
    set_threads: unsafe extern "C" fn(i32),
}

impl OpenBlas {
    fn open() -> Result<OpenBlas, String> {
        let mut last = String::new();
        for name in ["libopenblas.so.0", "libopenblas.so"] {
            // SAFETY: loading OpenBLAS runs only its own initialisers.
            match unsafe { libloading::Library::new(name) } {
                Ok(lib) => {
                    // SAFETY: the CBLAS signatures of cblas.h (32-bit integers).
                    let (sgemm, set_threads) = unsafe {
                        (
                            *lib.get(b"cblas_sgemm\0").map_err(|e| e.to_string())?,
                            *lib.get(b"openblas_set_num_threads\0")
                                .map_err(|e| e.to_string())?,
                        )
                    };
                    return Ok(OpenBlas {
                        _lib: lib,
                        sgemm,
                        set_threads,
                    });
                }
                Err(e) => last = e.to_string(),
            }
        }
        Err(last)
    }

    /// `c = a·b`, row-major; a transposed operand is passed as the transpose flag.
    fn gemm(&self, s: &Product, a: &Array2<f32>, b: &Array2<f32>, c: &mut Array2<f32>) {
        const ROW_MAJOR: i32 = 101;
        let flag = |t: bool| if t { 112 } else { 111 };
        let ld = |x: &Array2<f32>| x.ncols() as i32;
        // SAFETY: standard-layout operands whose shapes match the product; c is m×n.
        unsafe {
            (self.sgemm)(
                ROW_MAJOR,
                flag(s.a_transposed),
                flag(s.b_transposed),
                s.m as i32,
                s.n as i32,
                s.k as i32,
                1.0,
                a.as_ptr(),
                ld(a),
                b.as_ptr(),
                ld(b),
                0.0,
                c.as_mut_ptr(),
                s.n as i32,
            )
        }
    }
}

/// matrixmultiply's `sgemm` as ndarray's `dot` called it. Single-threaded only: the crate
/// is built without its threading feature now (its thread count was process-wide, read once
/// from `MATMUL_NUM_THREADS`); the old kernel's 2-thread fits are compared with the old
/// binary instead (docs/roofline.md).
fn mm_sgemm(a: ArrayView2<f32>, b: ArrayView2<f32>, c: &mut Array2<f32>) {
    let (m, k) = a.dim();
    let n = b.ncols();
    let (sa, sb, sc) = (a.strides(), b.strides(), c.strides().to_vec());
    // SAFETY: views of live arrays with matching shapes.
    unsafe {
        matrixmultiply::sgemm(
            m,
            k,
            n,
            1.0,
            a.as_ptr(),
            sa[0],
            sa[1],
            b.as_ptr(),
            sb[0],
            sb[1],
            0.0,
            c.as_mut_ptr(),
            sc[0],
            sc[1],
        )
    }
}

/// Seconds per call of each kernel at `threads` for each shape (`None`: kernel absent or
/// not measurable at that thread count).
fn time_kernels(
    shapes: &[Product],
    threads: usize,
    budget: f64,
    blas: Option<&OpenBlas>,
) -> Vec<[Option<f64>; 4]> {
    let numpy = numpy_seconds(shapes, threads, budget);
    if let Some(b) = blas {
        // SAFETY: plain setter.
        unsafe { (b.set_threads)(threads as i32) };
    }
    shapes
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let (a, b) = operands(s);
            let (av, bv) = (view(&a, s.a_transposed), view(&b, s.b_transposed));
            let mut c = Array2::<f32>::zeros((s.m, s.n));
            let ours = with_matmul_threads(threads, || {
                best_of(budget, || gemm_into(av, bv, c.view_mut(), false))
            });
            let mm = (threads == 1).then(|| best_of(budget, || mm_sgemm(av, bv, &mut c)));
            let ob = blas.map(|o| best_of(budget, || o.gemm(s, &a, &b, &mut c)));
            [Some(ours), mm, ob, numpy.as_ref().map(|v| v[i])]
        })
        .collect()
}

/// numpy's seconds per shape at `threads` (`None` when python or numpy is missing).
fn numpy_seconds(shapes: &[Product], threads: usize, budget: f64) -> Option<Vec<f64>> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/roofline_numpy.py");
    let python = std::env::var("ROOFLINE_PYTHON").unwrap_or_else(|_| "python3".into());
    let list: Vec<[usize; 5]> = shapes
        .iter()
        .map(|s| {
            [
                s.m,
                s.k,
                s.n,
                usize::from(s.a_transposed),
                usize::from(s.b_transposed),
            ]
        })
        .collect();
    let mut child = Command::new(&python)
        .arg(&script)
        .arg(budget.to_string())
        .env("OPENBLAS_NUM_THREADS", threads.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .ok()?;
    child
        .stdin
        .take()?
        .write_all(serde_json::to_string(&list).ok()?.as_bytes())
        .ok()?;
    let out = child.wait_with_output().ok()?;
    if !out.status.success() {
        eprintln!(
            "NOTE: numpy column skipped ({python} {}): {}",
            script.display(),
            String::from_utf8_lossy(&out.stderr)
                .lines()
                .last()
                .unwrap_or("")
        );
        return None;
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
    let secs: Vec<f64> = v["seconds"]
        .as_array()?
        .iter()
        .filter_map(|x| x.as_f64())
        .collect();
    (secs.len() == shapes.len()).then_some(secs)
}

fn gflops(s: &Product, secs: Option<f64>) -> String {
    secs.map_or("–".into(), |t| {
        format!("{:.1}", s.flops() as f64 / t / 1e9)
    })
}

fn data() -> (Array2<f32>, ndarray::Array1<u8>) {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data/adbench/CV_by_ResNet18/CIFAR10_0.npz");
    let ds = data::load(&p, &LoadOptions::default()).unwrap_or_else(|e| {
        eprintln!("NOTE: {e}; using synthetic data of CIFAR10_0's shape instead");
        synthetic::generate(&synthetic::SyntheticParams {
            n_normal: 5000,
            n_anomaly: 263,
            dim: 512,
            seed: 0,
        })
    });
    let sp = split(ds.x.view(), ds.y.view(), &SplitParams::default(), 0).expect("split");
    (sp.x_train, sp.y_train)
}

struct FitRun {
    method: MethodKind,
    threads: usize,
    seconds: f64,
    /// CPU seconds of the process during the fit (user + system, all threads): on a shared
    /// machine, the figure least inflated by other processes.
    cpu_seconds: f64,
    products: Vec<(Product, u64)>,
}

/// User + system CPU seconds of this process so far.
fn cpu_seconds() -> f64 {
    // SAFETY: rusage is plain integers, for which all-zero bytes are a valid value.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage writes the struct it is given.
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) } != 0 {
        return f64::NAN;
    }
    let t = |v: libc::timeval| v.tv_sec as f64 + v.tv_usec as f64 * 1e-6;
    t(u.ru_utime) + t(u.ru_stime)
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo bench -- --list` (test discovery)
    }
    let threads: Vec<usize> = env_list("ROOFLINE_THREADS", "1,2")
        .iter()
        .filter_map(|t| t.parse().ok())
        .collect();
    let methods: Vec<MethodKind> = env_list("ROOFLINE_METHODS", "deepsad,devnet,prenet,feawad")
        .iter()
        .map(|m| m.parse().expect("ROOFLINE_METHODS: a method name"))
        .collect();
    let budget: f64 = std::env::var("ROOFLINE_BUDGET")
        .ok()
        .and_then(|b| b.parse().ok())
        .unwrap_or(0.15);
    let blas = OpenBlas::open()
        .map_err(|e| eprintln!("NOTE: OpenBLAS column skipped: {e}"))
        .ok();

    let (x, y) = data();
    let mut fits = Vec::new();
    for &method in &methods {
        for &t in &threads {
            let params = FitParams::new(method);
            let cpu0 = cpu_seconds();
            let start = Instant::now();
            let (model, products) = with_matmul_threads(t, || {
                count_products(|| params.fit(x.view(), y.view()).expect("fit"))
            });
            let seconds = start.elapsed().as_secs_f64();
            let cpu = cpu_seconds() - cpu0;
            drop(model);
            eprintln!("fit {method} threads {t}: {seconds:.2} s ({cpu:.2} CPU s)");
            fits.push(FitRun {
                method,
                threads: t,
                seconds,
                cpu_seconds: cpu,
                products,
            });
        }
    }

    // Every distinct shape: the main ones and those the fits computed.
    let mut shapes: Vec<Product> = MAIN.iter().map(|(_, s)| *s).collect();
    for f in &fits {
        shapes.extend(f.products.iter().map(|(s, _)| *s));
    }
    shapes.sort();
    shapes.dedup();
    let mut secs: BTreeMap<(Product, usize), [Option<f64>; 4]> = BTreeMap::new();
    for &t in &threads {
        for (s, row) in shapes
            .iter()
            .zip(time_kernels(&shapes, t, budget, blas.as_ref()))
        {
            secs.insert((*s, t), row);
        }
    }

    println!("\n## Kernels: GFLOP/s, best single call (m×k times k×n; ᵀ = transposed view)\n");
    print!("| product | m×k×n |");
    for &t in &threads {
        for k in KERNELS {
            print!(" {k}, {t}t |");
        }
    }
    println!();
    println!("|---|---|{}", "---|".repeat(KERNELS.len() * threads.len()));
    for (label, s) in MAIN {
        print!(
            "| {label} | {}{}×{}×{}{} |",
            s.m,
            if s.a_transposed { "ᵀ" } else { "" },
            s.k,
            s.n,
            if s.b_transposed { " (Bᵀ)" } else { "" }
        );
        for &t in &threads {
            for secs in secs[&(*s, t)] {
                print!(" {} |", gflops(s, secs));
            }
        }
        println!();
    }

    println!("\n## Fits: achieved rate and fraction of the roofline\n");
    println!(
        "reference = the fastest kernel measured at each shape; \
         fraction = (fit's products at the reference rate) / fit time\n"
    );
    println!(
        "| method | threads | GFLOP per fit | fit s | fit CPU s | achieved GFLOP/s | \
         products@ours s | products@reference s | reference GFLOP/s | fraction (wall) | \
         fraction (CPU, 1 thread) |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    for f in &fits {
        let flops: f64 = f
            .products
            .iter()
            .map(|(s, n)| s.flops() as f64 * *n as f64)
            .sum();
        let (mut ours, mut reference) = (0.0, 0.0);
        for (s, n) in &f.products {
            let row = secs[&(*s, f.threads)];
            let best = row.iter().flatten().fold(f64::INFINITY, |a, &b| a.min(b));
            ours += row[0].unwrap_or(f64::NAN) * *n as f64;
            reference += best * *n as f64;
        }
        let cpu_fraction = if f.threads == 1 {
            format!("{:.2}", reference / f.cpu_seconds)
        } else {
            "–".into()
        };
        println!(
            "| {} | {} | {:.1} | {:.2} | {:.2} | {:.1} | {:.2} | {:.2} | {:.1} | {:.2} | {} |",
            f.method,
            f.threads,
            flops / 1e9,
            f.seconds,
            f.cpu_seconds,
            flops / f.seconds / 1e9,
            ours,
            reference,
            flops / reference / 1e9,
            reference / f.seconds,
            cpu_fraction
        );
    }
}
