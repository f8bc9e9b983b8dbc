//! Model zoo: every network the reference registers, by the reference's names.
//!
//! Variable names in the `VarStore` equal the reference's state-dict keys, so checkpoints map
//! one-to-one. A plain model and its CAM (`*_test`) variant share one builder with a head switch.

use anyhow::Result;
use tch::{nn, Tensor};

pub mod cam;

/// What a forward pass returns, matching the reference's `(logits, {"feats", "preact_feats",
/// "pooled_feat"})`. For `*_test` models `feats.last()` is the class activation map (CAM).
#[derive(Debug)]
pub struct ModelOutput {
    pub logits: Tensor,
    pub feats: Vec<Tensor>,
    pub preact_feats: Vec<Tensor>,
    pub pooled: Tensor,
}

/// A network built into a `VarStore` path.
pub trait Model: Send {
    /// Forward pass; `train` selects batch statistics in BatchNorm.
    fn forward_t(&self, xs: &Tensor, train: bool) -> ModelOutput;
}

/// The data set a registered model belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DatasetKind {
    Cifar100,
    Imagenet,
}

impl DatasetKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DatasetKind::Cifar100 => "cifar100",
            DatasetKind::Imagenet => "imagenet",
        }
    }

    pub fn num_classes(self) -> i64 {
        match self {
            DatasetKind::Cifar100 => 100,
            DatasetKind::Imagenet => 1000,
        }
    }
}

/// A registry entry.
#[derive(Debug, Clone)]
pub struct ModelInfo {
    pub name: &'static str,
    pub dataset: DatasetKind,
    /// Where the reference expects a pretrained teacher, relative to the repository root.
    pub teacher_checkpoint: Option<&'static str>,
    /// Prefix of the final fully connected layer of a plain model (`fc`, `linear`, `classifier`);
    /// None for CAM variants.
    pub fc_key: Option<&'static str>,
    /// True for `*_test` CAM variants.
    pub is_cam: bool,
}

/// Look a model up by its reference name within a data set.
pub fn lookup(name: &str, dataset: DatasetKind) -> Result<ModelInfo> {
    anyhow::bail!("model zoo not built yet (issue 3): cannot look up {name} for {}", dataset.as_str())
}

/// Build a model into `vs` (its variables get the reference's state-dict names).
pub fn build(name: &str, dataset: DatasetKind, vs: &nn::Path) -> Result<Box<dyn Model>> {
    let _ = vs;
    anyhow::bail!("model zoo not built yet (issue 3): cannot build {name} for {}", dataset.as_str())
}

/// Every registered model, CIFAR-100 first, in a stable order.
pub fn registry() -> Vec<ModelInfo> {
    Vec::new()
}

/// `catkd models [--json]`: one row per registered model.
pub fn print_registry(json: bool) -> Result<()> {
    let _ = json;
    anyhow::bail!("`catkd models` is not available yet: the model zoo (issue 3) has not landed")
}
