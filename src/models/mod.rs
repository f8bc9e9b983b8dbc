//! Model zoo: every network the reference registers, by the reference's names.
//!
//! Variable names in the `VarStore` equal the reference's state-dict keys, so checkpoints map
//! one-to-one. A plain model and its CAM (`*_test`) variant share one builder with a head switch
//! ([`HeadKind`]): the CAM head is a bias-free 1x1 convolution `conv_test` whose output is the
//! last feature and whose spatial mean is the logits.
//!
//! Outputs follow the reference model by model, quirks included (checked against dumps of the
//! reference code by `all_outputs_match_reference_code` in `tests/models.rs`):
//! - the feature lists differ per family: ResNet/WRN/ShuffleV1 CAM variants replace the last
//!   feature by the CAM, VGG/ShuffleV2/CIFAR-MobileNetV2 ones append it, ImageNet ones return
//!   only the CAM;
//! - where the reference returns no `preact_feats` (CIFAR MobileNetV2, WRN CAM variants)
//!   `preact_feats` is empty, and where it returns no `pooled_feat` (ImageNet CAM variants)
//!   `pooled` is the logits;
//! - ImageNet `MobileNetV2` is a MobileNetV1 architecture (see [`imagenet::mobilenetv1`]);
//! - the one structural deviation: CIFAR `MobileNetV2_test` leaves out the reference's unused
//!   `classifier.0` layer (see [`cifar::mobilenetv2`]).

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
    build, cam_variant_name, format_registry, ignored_reference_keys, lookup, print_registry, registry, summarize,
    ModelSummary,
};

/// What a forward pass returns, matching the reference's `(logits, {"feats", "preact_feats",
/// "pooled_feat"})`. For `*_test` models `feats.last()` is the class activation map (CAM).
/// Features are views of the autograd graph, not copies.
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
