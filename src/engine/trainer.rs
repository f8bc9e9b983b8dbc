//! The training loop, the reference's BaseTrainer: per epoch, train over the shuffled training
//! set, evaluate, log, and save `latest` / `best` / `epoch_N` and the student-only files.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use tch::{nn, Device, Tensor};

use crate::checkpoint::{self, CheckpointMeta, TrainingState};
use crate::config::{Config, LoadedConfig};
use crate::data::{self, BatchSource};
use crate::distillers::{self, Distiller};
use crate::engine::eval::{evaluate, EvalResult};
use crate::engine::log::{EpochRecord, RunLog};
use crate::engine::metrics::{correct_top1_top5, Average};
use crate::engine::optim::{learning_rate, Sgd};
use crate::models::{self, DatasetKind, ModelInfo};

/// The networks of a run: the student (trained) and its distiller (with the frozen teacher).
pub struct RunModels {
    pub student_vs: nn::VarStore,
    pub student_info: ModelInfo,
    pub distiller: Box<dyn Distiller>,
}

/// Train as the resolved configuration says; `resume` continues from `latest`.
pub fn run(loaded: LoadedConfig, resume: bool) -> Result<()> {
    let cfg = &loaded.config;
    let out_dir = loaded.output_dir();
    std::fs::create_dir_all(&out_dir)
        .with_context(|| format!("cannot create the output folder {}", out_dir.display()))?;
    let stale = checkpoint::remove_stale_temp_files(&out_dir);
    if stale > 0 {
        tracing::info!(
            "removed {stale} temporary file(s) left in {} by an interrupted run",
            out_dir.display()
        );
    }
    let device = crate::device::select(cfg.device);
    if cfg.LOG.WANDB {
        tracing::info!("LOG.WANDB is set, but catkd has no wandb: metrics go to worklog.txt and metrics.jsonl");
    }
    let latest = out_dir.join("latest.safetensors");
    let state = if resume {
        if !latest.exists() {
            bail!(
                "--resume: there is no checkpoint {} to continue from; start without --resume",
                latest.display()
            );
        }
        Some(
            checkpoint::load_training_state(&latest)
                .with_context(|| format!("cannot resume from {}", latest.display()))?,
        )
    } else {
        None
    };
    let seed = match (&state, cfg.SEED) {
        (Some(s), _) => s.extra.get("seed").and_then(|v| v.parse().ok()).unwrap_or(0),
        (None, Some(s)) => s,
        (None, None) => {
            let s = fresh_seed();
            tracing::info!("SEED is not set; this run uses seed {s} (set SEED to repeat it)");
            s
        }
    };
    tch::manual_seed(seed as i64);

    let kind = dataset_kind(cfg);
    let train_loader = data::train_loader(cfg, device)?;
    let test_loader = data::test_loader(
        kind,
        Path::new(&cfg.DATASET.ROOT),
        cfg.DATASET.TEST.BATCH_SIZE as usize,
        cfg.DATASET.NUM_WORKERS as usize,
        device,
    )?;
    let models = build_models(cfg, device)?;
    let mut trainer = Trainer::new(&loaded, models, train_loader, test_loader, out_dir.clone(), seed);
    if let Some(state) = state {
        trainer.restore(state)?;
    } else {
        // A fresh run starts fresh logs (the reference appends; a new run here means a new start).
        for f in ["worklog.txt", "metrics.jsonl"] {
            let _ = std::fs::remove_file(out_dir.join(f));
        }
    }
    checkpoint::atomic_write(&out_dir.join("config.yaml"), cfg.to_yaml().as_bytes())?;
    tracing::info!(
        "training {} ({}) with {}: {} training and {} test images, epochs {}..={}, outputs in {}",
        trainer.models.student_info.name,
        cfg.DISTILLER.TYPE,
        if distillers::needs_teacher(&cfg.DISTILLER.TYPE) {
            cfg.DISTILLER.TEACHER.as_str()
        } else {
            "no teacher"
        },
        trainer.train_loader.num_images(),
        trainer.test_loader.num_images(),
        trainer.start_epoch,
        cfg.SOLVER.EPOCHS,
        out_dir.display()
    );
    trainer.train()
}

fn dataset_kind(cfg: &Config) -> DatasetKind {
    if cfg.DATASET.TYPE == "imagenet" {
        DatasetKind::Imagenet
    } else {
        DatasetKind::Cifar100
    }
}

fn fresh_seed() -> u64 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    (t as u64 ^ (u64::from(std::process::id()) << 32)) % (1 << 31)
}

/// The per-epoch data seed: a function of the run seed and the epoch only, so a resumed run
/// draws the same batches as one that never stopped.
pub fn epoch_seed(seed: u64, epoch: i64) -> u64 {
    let mut z = seed ^ (epoch as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Build the student and, for distillation, the teacher as the reference's tools/train.py does:
/// with `if_test` both become their CAM (`*_test`) variants and a plain teacher checkpoint is
/// converted on load.
pub fn build_models(cfg: &Config, device: Device) -> Result<RunModels> {
    let kind = dataset_kind(cfg);
    let distill = distillers::needs_teacher(&cfg.DISTILLER.TYPE);
    // The reference uses CAM variants only for distillation (vanilla ignores if_test).
    let cam_name = |name: &str| {
        if cfg.if_test && !name.ends_with("_test") {
            format!("{name}_test")
        } else {
            name.to_string()
        }
    };
    let student_name = if distill {
        cam_name(&cfg.DISTILLER.STUDENT)
    } else {
        cfg.DISTILLER.STUDENT.clone()
    };
    let student_info = models::lookup(&student_name, kind).context("DISTILLER.STUDENT")?;
    let student_vs = nn::VarStore::new(device);
    let student = models::build(student_info.name, kind, &student_vs.root())?;
    let teacher = if distill {
        let plain_info = models::lookup(&cfg.DISTILLER.TEACHER, kind).context("DISTILLER.TEACHER")?;
        if cfg.CAT_KD.teacher_dir.is_none() && plain_info.teacher_checkpoint.is_none() {
            bail!(
                "teacher {} has no default checkpoint; set CAT_KD.teacher_dir to its weights (a .pth or .safetensors file)",
                plain_info.name
            );
        }
        let path = checkpoint::teachers::resolve_teacher(cfg, &plain_info)?;
        let teacher_info = models::lookup(&cam_name(plain_info.name), kind)?;
        let mut teacher_vs = nn::VarStore::new(device);
        let teacher = models::build(teacher_info.name, kind, &teacher_vs.root())?;
        checkpoint::load_model_weights(&teacher_vs, &teacher_info, &path)
            .with_context(|| format!("cannot load teacher {} from {}", teacher_info.name, path.display()))?;
        teacher_vs.freeze();
        tracing::info!("teacher {} loaded from {}", teacher_info.name, path.display());
        // The model keeps its own handles to the frozen variables; the store itself can go.
        Some(teacher)
    } else {
        None
    };
    let distiller = distillers::build(cfg, student, teacher)?;
    Ok(RunModels {
        student_vs,
        student_info,
        distiller,
    })
}

struct Trainer {
    cfg: Config,
    models: RunModels,
    optimizer: Sgd,
    train_loader: Box<dyn BatchSource>,
    test_loader: Box<dyn BatchSource>,
    out_dir: PathBuf,
    log: RunLog,
    seed: u64,
    start_epoch: i64,
    best_acc: f64,
    /// Optimisation steps so far (written as BatchNorm's num_batches_tracked).
    steps: i64,
}

impl Trainer {
    fn new(
        loaded: &LoadedConfig,
        models: RunModels,
        train_loader: Box<dyn BatchSource>,
        test_loader: Box<dyn BatchSource>,
        out_dir: PathBuf,
        seed: u64,
    ) -> Self {
        let cfg = loaded.config.clone();
        let optimizer = Sgd::new(&models.student_vs, cfg.SOLVER.MOMENTUM, cfg.SOLVER.WEIGHT_DECAY);
        Trainer {
            log: RunLog::new(&out_dir),
            cfg,
            models,
            optimizer,
            train_loader,
            test_loader,
            out_dir,
            seed,
            start_epoch: 1,
            best_acc: -1.0,
            steps: 0,
        }
    }

    fn restore(&mut self, state: TrainingState) -> Result<()> {
        if state.meta.model != self.models.student_info.name {
            bail!(
                "--resume: {} holds a {} student but this config trains {}; use the same config",
                self.out_dir.join("latest.safetensors").display(),
                state.meta.model,
                self.models.student_info.name
            );
        }
        if state.meta.config_hash != self.cfg.hash() {
            tracing::warn!("--resume: the configuration differs from the one the checkpoint was written with");
        }
        checkpoint::import_into(&self.models.student_vs, &state.student)?;
        self.optimizer.load_state(&state.momentum)?;
        self.start_epoch = state.meta.epoch + 1;
        self.best_acc = state.meta.best_acc;
        self.steps = state.extra.get("steps").and_then(|s| s.parse().ok()).unwrap_or(0);
        tracing::info!(
            "resuming after epoch {} (best top-1 so far {:.2})",
            state.meta.epoch,
            self.best_acc
        );
        Ok(())
    }

    fn train(&mut self) -> Result<()> {
        for epoch in self.start_epoch..=self.cfg.SOLVER.EPOCHS {
            self.train_epoch(epoch)?;
        }
        tracing::info!("best top-1: {:.2}", self.best_acc);
        self.log.best(self.best_acc)?;
        Ok(())
    }

    fn train_epoch(&mut self, epoch: i64) -> Result<()> {
        let lr = learning_rate(epoch, &self.cfg.SOLVER);
        let started = Instant::now();
        let bar = progress_bar(self.train_loader.num_batches() as u64, epoch, self.cfg.SOLVER.EPOCHS);
        let (mut loss_avg, mut top1) = (Average::default(), Average::default());
        // Per-term sums stay on the device and are read once per epoch (no sync per step).
        let mut parts: BTreeMap<&'static str, Tensor> = BTreeMap::new();
        let mut images = 0usize;
        for (iteration, batch) in self.train_loader.epoch(epoch_seed(self.seed, epoch)).enumerate() {
            let batch = batch?;
            let (logits, losses) = self.models.distiller.forward_train(&batch.images, &batch.labels)?;
            let total = losses
                .iter()
                .map(|(_, l)| l.shallow_clone())
                .reduce(|a, b| a + b)
                .unwrap_or_else(|| Tensor::from(0.0f32));
            let value = total.double_value(&[]);
            if !value.is_finite() {
                bar.abandon();
                let latest = self.out_dir.join("latest.safetensors");
                let kept = if latest.exists() {
                    format!("the last good checkpoint ({}) is kept", latest.display())
                } else {
                    "no checkpoint had been written yet".to_string()
                };
                bail!(
                    "the loss became {value} at epoch {epoch}, iteration {}; training stopped and {kept}; \
                     lower SOLVER.LR (or the loss weights) or check the data and the teacher",
                    iteration + 1
                );
            }
            self.optimizer.zero_grad();
            total.backward();
            self.optimizer.step(lr);
            self.steps += 1;

            let n = batch.labels.size()[0] as usize;
            images += n;
            loss_avg.update(value, n);
            let (c1, _) = tch::no_grad(|| correct_top1_top5(&logits.detach(), &batch.labels));
            top1.update(100.0 * c1 as f64 / n as f64, n);
            for (name, l) in &losses {
                let weighted = l.detach() * n as f64;
                match parts.get_mut(name) {
                    Some(sum) => {
                        let _ = sum.g_add_(&weighted);
                    }
                    None => {
                        parts.insert(name, weighted);
                    }
                }
            }
            let secs = started.elapsed().as_secs_f64().max(1e-9);
            bar.set_message(format!(
                "loss {:.4} top-1 {:.2} {:.0} img/s",
                loss_avg.avg(),
                top1.avg(),
                images as f64 / secs
            ));
            bar.inc(1);
        }
        bar.finish_and_clear();
        let train_secs = started.elapsed().as_secs_f64();
        let test: EvalResult = evaluate(self.models.distiller.student(), self.test_loader.as_ref())?;
        let record = EpochRecord {
            epoch,
            lr,
            train_loss: loss_avg.avg(),
            train_acc: top1.avg(),
            test_acc: test.top1,
            test_acc_top5: test.top5,
            test_loss: test.loss,
            seconds: started.elapsed().as_secs_f64(),
            images_per_second: images as f64 / train_secs.max(1e-9),
            losses: parts
                .iter()
                .map(|(k, v)| (k.to_string(), v.double_value(&[]) / images.max(1) as f64))
                .collect(),
        };
        if record.test_acc > self.best_acc {
            self.best_acc = record.test_acc;
        }
        self.log.epoch(&record)?;
        tracing::info!(
            "epoch {epoch}/{}: lr {} train loss {:.4} top-1 {:.2} | test top-1 {:.2} top-5 {:.2} loss {:.4} | best {:.2} | {:.0} img/s, {:.1} s",
            self.cfg.SOLVER.EPOCHS,
            short_float(lr),
            record.train_loss,
            record.train_acc,
            record.test_acc,
            record.test_acc_top5,
            record.test_loss,
            self.best_acc,
            record.images_per_second,
            record.seconds
        );
        self.save(epoch, record.test_acc)
    }

    /// The reference's saving order: latest, every SAVE_CHECKPOINT_FREQ epochs epoch_N, and best
    /// when this epoch's top-1 is at least the best so far.
    fn save(&self, epoch: i64, test_acc: f64) -> Result<()> {
        let meta = CheckpointMeta {
            epoch,
            best_acc: self.best_acc,
            model: self.models.student_info.name.to_string(),
            config_hash: self.cfg.hash(),
        };
        let student: BTreeMap<String, Tensor> = self
            .models
            .student_vs
            .variables()
            .into_iter()
            .map(|(k, v)| (k, v.detach().copy()))
            .collect();
        let mut extra = BTreeMap::new();
        extra.insert("seed".to_string(), self.seed.to_string());
        extra.insert("steps".to_string(), self.steps.to_string());
        let state = TrainingState {
            meta: meta.clone(),
            student,
            momentum: self.optimizer.state(),
            extra,
        };
        let path = |name: &str| self.out_dir.join(format!("{name}.safetensors"));
        let vs = &self.models.student_vs;
        checkpoint::save_training_state(&path("latest"), &state)?;
        checkpoint::save_student(&path("student_latest"), vs, &meta, self.steps)?;
        if epoch % self.cfg.LOG.SAVE_CHECKPOINT_FREQ == 0 {
            checkpoint::save_training_state(&path(&format!("epoch_{epoch}")), &state)?;
            checkpoint::save_student(&path(&format!("student_{epoch}")), vs, &meta, self.steps)?;
        }
        if test_acc >= self.best_acc {
            checkpoint::save_training_state(&path("best"), &state)?;
            checkpoint::save_student(&path("student_best"), vs, &meta, self.steps)?;
        }
        Ok(())
    }
}

/// A learning rate without float noise (0.005, not 0.005000000000000001).
fn short_float(x: f64) -> String {
    let s = format!("{x:.10}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

fn progress_bar(len: u64, epoch: i64, epochs: i64) -> ProgressBar {
    let bar = ProgressBar::new(len);
    let style = ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} {msg} ETA {eta}")
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
    bar.set_style(style);
    bar.set_prefix(format!("epoch {epoch}/{epochs}"));
    bar
}
