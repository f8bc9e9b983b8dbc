//! Checkpoints: PyTorch .pth files (read), our own safetensors files (read and write, atomic).
//!
//! [`read_checkpoint`] is the one entry point for reading any checkpoint: ours, or a reference
//! `.pth` in torch's zip or legacy format. Our files are safetensors with string metadata: a
//! student file holds the student's state dict (PyTorch-loadable as is), a training state holds
//! `student.<key>` and `momentum.<key>` tensors plus the run's bookkeeping for `--resume`.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{anyhow, bail, Result};
use tch::{nn, Device, Kind, Tensor};

mod atomic;
mod import;
pub mod pth;
mod safetensors_file;
pub mod teachers;

pub use atomic::{atomic_write, atomic_write_with, remove_stale_temp_files, TEMP_PREFIX};
pub use import::{import_into, import_into_ignoring, load_model_weights, load_weights_as, plain_to_cam};

/// The layout a checkpoint file was read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckpointFormat {
    /// Ours (safetensors with metadata).
    Safetensors,
    /// `torch.save` since PyTorch 1.6.
    TorchZip,
    /// `torch.save(..., _use_new_zipfile_serialization=False)` and older PyTorch.
    TorchLegacy,
}

/// Named CPU tensors (reference state-dict keys) and the file's other entries as text.
pub struct LoadedCheckpoint {
    pub format: CheckpointFormat,
    pub tensors: BTreeMap<String, Tensor>,
    pub metadata: BTreeMap<String, String>,
}

/// Metadata key saying which of our files this is, and its values.
const KIND_KEY: &str = "catkd_kind";
const KIND_STUDENT: &str = "student";
const KIND_STATE: &str = "training_state";
const STUDENT_PREFIX: &str = "student.";
const MOMENTUM_PREFIX: &str = "momentum.";
const EXTRA_PREFIX: &str = "extra.";

/// Advice appended to every read error.
const READ_ADVICE: &str =
    "use a checkpoint written by catkd or by torch.save (re-download or re-save it if it is damaged)";

/// One entry point for every checkpoint: detects the format (ours safetensors / torch zip /
/// torch legacy). For one of our training states, the tensors are the student's.
pub fn read_checkpoint(path: &Path) -> Result<LoadedCheckpoint> {
    let bytes =
        std::fs::read(path).map_err(|e| anyhow!("cannot read checkpoint {}: {e}; check the path", path.display()))?;
    let fail = |e: anyhow::Error| anyhow!("cannot read checkpoint {}: {e:#}; {READ_ADVICE}", path.display());
    if safetensors_file::is_safetensors(&bytes) {
        let (mut tensors, metadata) = safetensors_file::read(&bytes).map_err(fail)?;
        if metadata.get(KIND_KEY).map(String::as_str) == Some(KIND_STATE) {
            tensors = strip_prefix(tensors, STUDENT_PREFIX);
        }
        return Ok(LoadedCheckpoint {
            format: CheckpointFormat::Safetensors,
            tensors,
            metadata,
        });
    }
    if pth::is_zip(&bytes) || pth::is_legacy(&bytes) {
        let c = pth::read_pth(&bytes).map_err(fail)?;
        let format = match c.layout {
            pth::PthLayout::Zip => CheckpointFormat::TorchZip,
            pth::PthLayout::Legacy => CheckpointFormat::TorchLegacy,
        };
        return Ok(LoadedCheckpoint {
            format,
            tensors: c.tensors,
            metadata: c.metadata,
        });
    }
    bail!(
        "{} is not a checkpoint (neither a safetensors file nor a PyTorch .pth in zip or legacy format, or it is cut short); {READ_ADVICE}",
        path.display()
    )
}

/// A CPU tensor holding a copy of `bytes` (native, little-endian order), which must be exactly
/// `shape`'s elements of `kind`.
pub(crate) fn tensor_from_bytes(bytes: &[u8], shape: &[i64], kind: Kind) -> Result<Tensor> {
    let numel = shape
        .iter()
        .try_fold(1usize, |a, &d| usize::try_from(d).ok().and_then(|d| a.checked_mul(d)));
    if numel.and_then(|n| n.checked_mul(kind.elt_size_in_bytes())) != Some(bytes.len()) {
        bail!("{} bytes do not make a {kind:?} tensor of shape {shape:?}", bytes.len());
    }
    let t = Tensor::f_empty(shape, (kind, Device::Cpu))?;
    if !bytes.is_empty() {
        // SAFETY: `t` is a fresh contiguous CPU tensor of exactly bytes.len() bytes (checked
        // above) that nothing else refers to yet. (Tensor::from_data_size would zero-fill it
        // first: a second pass over checkpoints of hundreds of megabytes.)
        unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), t.data_ptr().cast::<u8>(), bytes.len()) };
    }
    Ok(t)
}

fn strip_prefix(t: BTreeMap<String, Tensor>, prefix: &str) -> BTreeMap<String, Tensor> {
    t.into_iter()
        .filter_map(|(k, v)| k.strip_prefix(prefix).map(|s| (s.to_string(), v)))
        .collect()
}

/// Bookkeeping stored in the header of every checkpoint we write.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckpointMeta {
    pub epoch: i64,
    pub best_acc: f64,
    pub model: String,
    pub config_hash: String,
}

impl CheckpointMeta {
    fn to_map(&self, kind: &str) -> BTreeMap<String, String> {
        BTreeMap::from([
            // "pt" is what safetensors.torch writes; some PyTorch tools check it.
            ("format".to_string(), "pt".to_string()),
            (KIND_KEY.to_string(), kind.to_string()),
            ("epoch".to_string(), self.epoch.to_string()),
            ("best_acc".to_string(), self.best_acc.to_string()),
            ("model".to_string(), self.model.clone()),
            ("config_hash".to_string(), self.config_hash.clone()),
        ])
    }

    fn from_map(m: &BTreeMap<String, String>, path: &Path) -> Result<Self> {
        let get = |k: &str| {
            m.get(k).ok_or_else(|| {
                anyhow!(
                    "checkpoint {} lacks the metadata entry {k}; it was not written by catkd's trainer",
                    path.display()
                )
            })
        };
        let bad = |k: &str, v: &str| {
            anyhow!(
                "checkpoint {} has an invalid {k} {v:?} in its metadata; the file is damaged",
                path.display()
            )
        };
        let epoch = get("epoch")?;
        let best = get("best_acc")?;
        Ok(CheckpointMeta {
            epoch: epoch.parse().map_err(|_| bad("epoch", epoch))?,
            best_acc: best.parse().map_err(|_| bad("best_acc", best))?,
            model: get("model")?.clone(),
            config_hash: get("config_hash")?.clone(),
        })
    }
}

/// Student weights only: the VarStore's variables under the reference's keys plus
/// `<bn>.num_batches_tracked` int64 scalars for every BatchNorm (any variable ending in
/// `.running_mean`), so PyTorch's strict `load_state_dict` accepts the file. Atomic.
pub fn save_student(path: &Path, vs: &nn::VarStore, meta: &CheckpointMeta, num_batches_tracked: i64) -> Result<()> {
    let mut tensors: BTreeMap<String, Tensor> = vs.variables().into_iter().collect();
    let bns: Vec<String> = tensors
        .keys()
        .filter_map(|k| k.strip_suffix(".running_mean").map(str::to_string))
        .collect();
    for bn in bns {
        tensors.insert(format!("{bn}.num_batches_tracked"), Tensor::from(num_batches_tracked));
    }
    safetensors_file::write(path, &tensors, &meta.to_map(KIND_STUDENT))
}

/// Everything `--resume` needs.
pub struct TrainingState {
    pub meta: CheckpointMeta,
    pub student: BTreeMap<String, Tensor>,
    pub momentum: BTreeMap<String, Tensor>,
    pub extra: BTreeMap<String, String>,
}

/// Full training state for --resume (one safetensors file: "student.<key>", "momentum.<key>",
/// metadata incl. `extra.<key>`). Atomic.
pub fn save_training_state(path: &Path, state: &TrainingState) -> Result<()> {
    let mut tensors = BTreeMap::new();
    for (k, t) in &state.student {
        tensors.insert(format!("{STUDENT_PREFIX}{k}"), t.shallow_clone());
    }
    for (k, t) in &state.momentum {
        tensors.insert(format!("{MOMENTUM_PREFIX}{k}"), t.shallow_clone());
    }
    let mut meta = state.meta.to_map(KIND_STATE);
    for (k, v) in &state.extra {
        meta.insert(format!("{EXTRA_PREFIX}{k}"), v.clone());
    }
    safetensors_file::write(path, &tensors, &meta)
}

pub fn load_training_state(path: &Path) -> Result<TrainingState> {
    let bytes =
        std::fs::read(path).map_err(|e| anyhow!("cannot read checkpoint {}: {e}; check the path", path.display()))?;
    let not_state = || {
        anyhow!(
            "{} is not a catkd training state (it holds weights only, or is not ours); --resume needs the run's latest.safetensors",
            path.display()
        )
    };
    if !safetensors_file::is_safetensors(&bytes) {
        return Err(not_state());
    }
    let (all, metadata) = safetensors_file::read(&bytes)
        .map_err(|e| anyhow!("cannot read checkpoint {}: {e:#}; {READ_ADVICE}", path.display()))?;
    if metadata.get(KIND_KEY).map(String::as_str) != Some(KIND_STATE) {
        return Err(not_state());
    }
    let meta = CheckpointMeta::from_map(&metadata, path)?;
    let mut student = BTreeMap::new();
    let mut momentum = BTreeMap::new();
    for (k, t) in all {
        if let Some(s) = k.strip_prefix(STUDENT_PREFIX) {
            student.insert(s.to_string(), t);
        } else if let Some(s) = k.strip_prefix(MOMENTUM_PREFIX) {
            momentum.insert(s.to_string(), t);
        }
    }
    let extra = metadata
        .iter()
        .filter_map(|(k, v)| k.strip_prefix(EXTRA_PREFIX).map(|s| (s.to_string(), v.clone())))
        .collect();
    Ok(TrainingState {
        meta,
        student,
        momentum,
        extra,
    })
}
