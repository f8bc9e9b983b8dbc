//! Model zoo: every network the reference registers, by the reference's names.
//!
//! Variable names in the `VarStore` equal the reference's state-dict keys, so checkpoints map
//! one-to-one. A plain model and its CAM (`*_test`) variant share one builder with a head switch.

use tch::Tensor;

pub mod cam;
pub mod cifar;
mod head;
pub mod imagenet;
mod layers;
mod registry;
mod residual;
mod shuffle;

pub use head::HeadKind;
pub use registry::{
    build, cam_variant_name, lookup, print_registry, registry, summarize, ModelSummary,
};

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
