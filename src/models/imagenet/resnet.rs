//! ImageNet ResNets of the reference's `imagenet/resnet.py` (ResNet18/34 with BasicBlocks,
//! ResNet50/101 with Bottlenecks) and their CAM variants.
//!
//! Unlike torchvision, the reference's blocks apply the ReLU to their *input* and return the
//! un-activated sum, so each stage's output is a pre-activation and the returned features are
//! its ReLU.

use tch::{nn, Tensor};

use crate::models::head::{Head, HeadKind, HeadSpec};
use crate::models::layers::{ConvBn, ConvSpec, LinearInit, KAIMING_FAN_OUT};
use crate::models::residual::{BlockKind, Stage};
use crate::models::{Model, ModelOutput};

#[derive(Debug)]
pub struct ImagenetResNet {
    stem: ConvBn,
    stages: Vec<Stage>,
    head: Head,
}

impl ImagenetResNet {
    pub fn new(vs: &nn::Path, kind: BlockKind, blocks: [usize; 4], classes: i64, head: HeadKind) -> Self {
        let stem_conv = ConvSpec::new(7, KAIMING_FAN_OUT).stride(2).padding(3);
        let stem = ConvBn::new(vs / "conv1", vs / "bn1", stem_conv, 3, 64);
        let mut in_planes = 64;
        let stages = (0..4)
            .map(|i| {
                let stride = if i == 0 { 1 } else { 2 };
                let path = vs / format!("layer{}", i + 1);
                Stage::new(path, kind, &mut in_planes, 64 << i, blocks[i], stride, "downsample")
            })
            .collect();
        let spec = HeadSpec {
            kind: head,
            fc_name: "fc",
            fc_init: LinearInit::Torch,
            cam_init: KAIMING_FAN_OUT,
        };
        let head = Head::new(vs, spec, 512 * kind.expansion(), classes);
        ImagenetResNet { stem, stages, head }
    }
}

/// The reference's `AvgPool2d(7, stride=1)` + flatten (global for 224x224 inputs).
fn pool(xs: &Tensor) -> Tensor {
    xs.avg_pool2d([7, 7], [1, 1], [0, 0], false, true, None::<i64>)
        .flatten(1, -1)
}

impl Model for ImagenetResNet {
    fn forward_t(&self, xs: &Tensor, train: bool) -> ModelOutput {
        // The reference's in-place `nn.ReLU` also rewrites its saved `stem`, so its first
        // "pre-activation" feature is in fact activated; kept for identical features.
        let stem = self.stem.forward_relu_t(xs, train);
        let mut out = stem.max_pool2d([3, 3], [2, 2], [1, 1], [1, 1], false);
        let mut preact_feats = vec![stem];
        for stage in &self.stages {
            out = stage.forward_pre_relu(&out, train);
            preact_feats.push(out.shallow_clone());
        }
        let last = out.relu();
        let head = self.head.forward(&last, pool);
        match head.cam {
            None => {
                let mut feats: Vec<Tensor> = preact_feats[..preact_feats.len() - 1]
                    .iter()
                    .map(Tensor::relu)
                    .collect();
                feats.push(last);
                ModelOutput {
                    logits: head.logits,
                    feats,
                    preact_feats,
                    pooled: head.pooled,
                }
            }
            // The reference's CAM variant returns the CAM as its only feature.
            Some(cam) => ModelOutput {
                logits: head.logits,
                feats: vec![cam],
                preact_feats,
                pooled: head.pooled,
            },
        }
    }
}
