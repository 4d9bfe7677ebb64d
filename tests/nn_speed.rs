//! The hot path: a 512 → 100 linear layer over 3500 rows, forward + weight gradient (no input
//! gradient), 50 epochs. Prints the time; asserts only a generous bound (machines vary).

use anoonly::nn::{Init, Linear, Matrix, Mode, Module};
use anoonly::rng::Rng;
use rand::{Rng as _, SeedableRng};
use std::time::Instant;

#[test]
fn nn_first_layer_50_epochs() {
    let mut rng = Rng::seed_from_u64(0);
    let mut l = Linear::new(512, 100, false, Init::TorchDefault, &mut rng);
    let x = Matrix::from_shape_simple_fn((3500, 512), || rng.gen_range(-1.0f32..1.0));
    let batches: Vec<Matrix> = x
        .axis_chunks_iter(ndarray::Axis(0), 128)
        .map(|c| c.to_owned())
        .collect();
    let t0 = Instant::now();
    for _ in 0..50 {
        for b in &batches {
            let y = l.forward(b, Mode::Train);
            assert!(l.backward(&y, false).is_none());
        }
    }
    let dt = t0.elapsed().as_secs_f64();
    println!("50 epochs of 3500×512→100 forward + weight grad: {dt:.3} s");
    assert!(dt < 10.0);
}
