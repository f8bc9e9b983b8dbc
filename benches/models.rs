//! CPU throughput of the model zoo: forward (eval, no_grad) and forward+backward (train mode,
//! cross-entropy on random targets) images/second at batch 64 for resnet32x4, resnet8x4 and
//! ShuffleV1. `benches/models_pytorch.py` measures the same with PyTorch for comparison.
//!
//! Training steps run first so that BatchNorm running statistics are realistic before the eval
//! forwards (untrained statistics let activations shrink into denormals, which is very slow).
//!
//! Run: `cargo bench --bench models` (about a minute on 2 cores).

use std::time::{Duration, Instant};

use catkd::models::{self, DatasetKind};
use tch::{nn, Device, Kind, Tensor};

const BATCH: i64 = 64;
const MODELS: [&str; 3] = ["resnet32x4", "resnet8x4", "ShuffleV1"];
const WARMUP: usize = 1;
/// Timed iterations: at least `MIN_ITERS`, more while under `MIN_TIME`, at most `MAX_ITERS`.
const MIN_ITERS: usize = 2;
const MAX_ITERS: usize = 10;
const MIN_TIME: Duration = Duration::from_secs(3);

/// Images per second of `step`, after warm-up.
fn images_per_second(mut step: impl FnMut()) -> f64 {
    for _ in 0..WARMUP {
        step();
    }
    let start = Instant::now();
    let mut iters = 0;
    while iters < MIN_ITERS || (start.elapsed() < MIN_TIME && iters < MAX_ITERS) {
        step();
        iters += 1;
    }
    (iters as f64 * BATCH as f64) / start.elapsed().as_secs_f64()
}

fn main() -> anyhow::Result<()> {
    tch::manual_seed(0);
    println!(
        "catkd (tch/libtorch) CPU, batch {BATCH}, {} threads",
        tch::get_num_threads()
    );
    println!("{:<12} {:>14} {:>18}", "model", "forward img/s", "fwd+bwd img/s");
    for name in MODELS {
        let vs = nn::VarStore::new(Device::Cpu);
        let model = models::build(name, DatasetKind::Cifar100, &vs.root())?;
        let images = Tensor::randn([BATCH, 3, 32, 32], (Kind::Float, Device::Cpu));
        let targets = Tensor::randint(100, [BATCH], (Kind::Int64, Device::Cpu));

        let train = images_per_second(|| {
            vs.trainable_variables().iter_mut().for_each(Tensor::zero_grad);
            let out = model.forward_t(&images, true);
            out.logits.cross_entropy_for_logits(&targets).backward();
        });
        let forward = images_per_second(|| {
            let out = tch::no_grad(|| model.forward_t(&images, false));
            let _ = std::hint::black_box(out.logits);
        });
        println!("{name:<12} {forward:>14.1} {train:>18.1}");
    }
    Ok(())
}
