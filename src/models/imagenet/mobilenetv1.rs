//! The ImageNet network the reference registers as `MobileNetV2` (and `MobileNetV2_test`).
//!
//! Despite the name this is a **MobileNetV1** architecture: a 3x3 stem followed by thirteen
//! depthwise-separable blocks (depthwise 3x3-BN-ReLU, pointwise 1x1-BN-ReLU), 7x7 average pool
//! and a 1024 -> 1000 FC. The reference's name is kept so its configurations (`DISTILLER.STUDENT:
//! MobileNetV2`) and checkpoints (`model.<i>.<j>.*`, `fc.*`) work unchanged. No explicit
//! initialisation in the reference: PyTorch defaults.

use tch::{nn, Tensor};

use crate::models::head::{CamPlacement, Head, HeadKind, HeadSpec};
use crate::models::layers::{ConvBn, ConvSpec, LinearInit, TORCH_DEFAULT};
use crate::models::{Model, ModelOutput};

/// (in, out, stride) of the depthwise-separable blocks `model.1` .. `model.13`.
const BLOCKS: [(i64, i64, i64); 13] = [
    (32, 64, 1),
    (64, 128, 2),
    (128, 128, 1),
    (128, 256, 2),
    (256, 256, 1),
    (256, 512, 2),
    (512, 512, 1),
    (512, 512, 1),
    (512, 512, 1),
    (512, 512, 1),
    (512, 512, 1),
    (512, 1024, 2),
    (1024, 1024, 1),
];
/// Block indices (`model.<i>`) whose pre-activation output is a returned feature.
const FEATURE_BLOCKS: [usize; 4] = [3, 5, 11, 13];

/// `model.<i>`: depthwise conv (`.0`) + BN (`.1`) + ReLU, pointwise conv (`.3`) + BN (`.4`).
#[derive(Debug)]
struct SeparableBlock {
    depthwise: ConvBn,
    pointwise: ConvBn,
}

impl SeparableBlock {
    fn new(p: &nn::Path, cin: i64, cout: i64, stride: i64) -> Self {
        let dw = ConvSpec::k3(TORCH_DEFAULT).stride(stride).groups(cin);
        SeparableBlock {
            depthwise: ConvBn::new(p / "0", p / "1", dw, cin, cin),
            pointwise: ConvBn::new(p / "3", p / "4", ConvSpec::k1(TORCH_DEFAULT), cin, cout),
        }
    }

    /// The block's output before its final ReLU.
    fn forward_preact(&self, xs: &Tensor, train: bool) -> Tensor {
        let out = self.depthwise.forward_relu_t(xs, train);
        self.pointwise.forward_t(&out, train)
    }
}

#[derive(Debug)]
pub struct MobileNetV1 {
    stem: ConvBn,
    blocks: Vec<SeparableBlock>,
    head: Head,
}

impl MobileNetV1 {
    pub fn new(vs: &nn::Path, classes: i64, head: HeadKind) -> Self {
        let model = vs / "model";
        let stem_spec = ConvSpec::k3(TORCH_DEFAULT).stride(2);
        let stem = ConvBn::new(&model / "0" / "0", &model / "0" / "1", stem_spec, 3, 32);
        let blocks = BLOCKS
            .iter()
            .enumerate()
            .map(|(i, &(cin, cout, stride))| SeparableBlock::new(&(&model / (i + 1)), cin, cout, stride))
            .collect();
        let spec = HeadSpec {
            kind: head,
            fc_name: "fc",
            fc_init: LinearInit::Torch,
            cam_init: TORCH_DEFAULT,
        };
        let head = Head::new(vs, spec, 1024, classes);
        MobileNetV1 { stem, blocks, head }
    }
}

/// The reference's `AvgPool2d(7)` + flatten (global for 224x224 inputs).
fn pool(xs: &Tensor) -> Tensor {
    xs.avg_pool2d([7, 7], [7, 7], [0, 0], false, true, None::<i64>)
        .flatten(1, -1)
}

impl Model for MobileNetV1 {
    fn forward_t(&self, xs: &Tensor, train: bool) -> ModelOutput {
        let mut out = self.stem.forward_relu_t(xs, train);
        let mut preact_feats = Vec::with_capacity(FEATURE_BLOCKS.len());
        let mut feats = Vec::with_capacity(FEATURE_BLOCKS.len());
        for (i, block) in self.blocks.iter().enumerate() {
            let pre = block.forward_preact(&out, train);
            out = pre.relu();
            if FEATURE_BLOCKS.contains(&(i + 1)) {
                preact_feats.push(pre);
                feats.push(out.shallow_clone());
            }
        }
        let head = self.head.forward(&out, pool);
        // The reference's CAM variant returns the CAM as its only feature.
        head.into_model_output(feats, preact_feats, CamPlacement::Only)
    }
}
