//! Training throughput of CAT-KD resnet32x4 -> resnet8x4 (batch 64, CPU), side by side with
//! the same step in PyTorch (benches/train_step_pytorch.py, run with the project's .venv torch
//! when it exists). `cargo bench --bench train_step [-- STEPS BATCH]`.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use catkd::checkpoint::{self, CheckpointMeta};
use catkd::config::Config;
use catkd::distillers;
use catkd::engine::optim::Sgd;
use catkd::models::{self, DatasetKind};
use tch::{nn, Device, Kind, Tensor};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    let steps: usize = args.first().and_then(|s| s.parse().ok()).unwrap_or(10);
    let batch: i64 = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(64);
    tch::manual_seed(0);
    let cfg = Config::from_overrides(&[
        "DISTILLER.TYPE".into(),
        "CAT_KD".into(),
        "CAT_KD.LOSS.CAT_loss_weight".into(),
        "15".into(),
        "CAT_KD.IF_NORMALIZE".into(),
        "False".into(),
    ])?
    .config;
    let kind = DatasetKind::Cifar100;
    let student_vs = nn::VarStore::new(Device::Cpu);
    let student = models::build("resnet8x4_test", kind, &student_vs.root())?;
    let mut teacher_vs = nn::VarStore::new(Device::Cpu);
    let teacher = models::build("resnet32x4_test", kind, &teacher_vs.root())?;
    teacher_vs.freeze();
    // Hand PyTorch the same initial weights (reference state-dict names).
    let weights = tempfile_dir()?;
    let meta = |m: &str| CheckpointMeta {
        epoch: 0,
        best_acc: 0.0,
        model: m.into(),
        config_hash: String::new(),
    };
    let teacher_file = weights.join("teacher.safetensors");
    let student_file = weights.join("student.safetensors");
    checkpoint::save_student(&teacher_file, &teacher_vs, &meta("resnet32x4_test"), 0)?;
    checkpoint::save_student(&student_file, &student_vs, &meta("resnet8x4_test"), 0)?;
    let distiller = distillers::build(&cfg, student, Some(teacher))?;
    let mut opt = Sgd::new(&student_vs, 0.9, 5e-4);
    let images = Tensor::randn([batch, 3, 32, 32], (Kind::Float, Device::Cpu));
    let labels = Tensor::randint(100, [batch], (Kind::Int64, Device::Cpu));
    let mut step = || -> anyhow::Result<f64> {
        let (_, losses) = distiller.forward_train(&images, &labels)?;
        let total = losses.into_iter().map(|(_, l)| l).reduce(|a, b| a + b).expect("losses");
        opt.zero_grad();
        total.backward();
        opt.step(0.05);
        Ok(total.double_value(&[]))
    };
    for _ in 0..2 {
        step()?;
    }
    let start = Instant::now();
    for _ in 0..steps {
        step()?;
    }
    let ours = steps as f64 * batch as f64 / start.elapsed().as_secs_f64();
    println!(
        "CAT-KD resnet32x4 -> resnet8x4, batch {batch}, CPU ({} threads), {steps} timed steps",
        tch::get_num_threads()
    );
    println!("catkd   images_per_second={ours:.1}");
    let python = Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python");
    if python.exists() {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/train_step_pytorch.py");
        let out = Command::new(&python)
            .arg(script)
            .arg(steps.to_string())
            .arg(batch.to_string())
            .arg(&teacher_file)
            .arg(&student_file)
            .output()?;
        if !out.status.success() {
            println!(
                "pytorch: failed: {}",
                String::from_utf8_lossy(&out.stderr).lines().last().unwrap_or_default()
            );
        }
        let text = String::from_utf8_lossy(&out.stdout);
        print!("{text}");
        if let Some(theirs) = text
            .split("images_per_second=")
            .nth(1)
            .and_then(|s| s.trim().parse::<f64>().ok())
        {
            println!("speed-up: {:.2}x", ours / theirs);
        }
    } else {
        println!("pytorch: skipped (no .venv/bin/python; run `make setup`)");
    }
    Ok(())
}

/// A fresh folder for the weight files handed to PyTorch.
fn tempfile_dir() -> anyhow::Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!("catkd-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}
