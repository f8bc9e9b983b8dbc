//! Checkpoints: PyTorch .pth files (read), our own safetensors files (read and write, atomic).

pub mod teachers;

// Interface stubs: replaced when the checkpoint work (issue 4) lands.
use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Result;
use tch::{nn, Tensor};

use crate::models::ModelInfo;

pub struct CheckpointMeta {
    pub epoch: i64,
    pub best_acc: f64,
    pub model: String,
    pub config_hash: String,
}

pub struct TrainingState {
    pub meta: CheckpointMeta,
    pub student: BTreeMap<String, Tensor>,
    pub momentum: BTreeMap<String, Tensor>,
    pub extra: BTreeMap<String, String>,
}

pub fn load_model_weights(vs: &nn::VarStore, info: &ModelInfo, path: &Path) -> Result<()> {
    let _ = (vs, info, path);
    anyhow::bail!("checkpoints are not available yet (issue 4)")
}

pub fn import_into(vs: &nn::VarStore, tensors: &BTreeMap<String, Tensor>) -> Result<()> {
    let _ = (vs, tensors);
    anyhow::bail!("checkpoints are not available yet (issue 4)")
}

pub fn save_student(path: &Path, vs: &nn::VarStore, meta: &CheckpointMeta, num_batches_tracked: i64) -> Result<()> {
    let _ = (path, vs, meta, num_batches_tracked);
    anyhow::bail!("checkpoints are not available yet (issue 4)")
}

pub fn save_training_state(path: &Path, state: &TrainingState) -> Result<()> {
    let _ = (path, state);
    anyhow::bail!("checkpoints are not available yet (issue 4)")
}

pub fn load_training_state(path: &Path) -> Result<TrainingState> {
    let _ = path;
    anyhow::bail!("checkpoints are not available yet (issue 4)")
}

pub fn atomic_write(path: &Path, bytes: &[u8]) -> Result<()> {
    let _ = (path, bytes);
    anyhow::bail!("checkpoints are not available yet (issue 4)")
}
