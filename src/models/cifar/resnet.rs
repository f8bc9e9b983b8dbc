//! CIFAR ResNets of `resnet.py` (resnet8 ... resnet110, resnet8x4, resnet32x4) and their CAM
//! variants: a 3x3 stem and three stages of BasicBlocks (depth = 6n + 2), 8x8 average pool.

use tch::{nn, Tensor};

use crate::models::head::{CamPlacement, Head, HeadKind, HeadSpec};
use crate::models::layers::{avg_pool_flat, run_stages, ConvBn, ConvSpec, LinearInit, KAIMING_FAN_OUT};
use crate::models::residual::{BlockKind, Stage};
use crate::models::{Model, ModelOutput};

/// Channels of the stem and the three stages.
pub const NARROW: [i64; 4] = [16, 16, 32, 64];
/// The `x4` models.
pub const WIDE: [i64; 4] = [32, 64, 128, 256];

#[derive(Debug)]
pub struct CifarResNet {
    stem: ConvBn,
    stages: Vec<Stage>,
    head: Head,
}

impl CifarResNet {
    pub fn new(vs: &nn::Path, depth: i64, filters: [i64; 4], classes: i64, head: HeadKind) -> Self {
        let blocks_per_stage = ((depth - 2) / 6) as usize;
        let stem = ConvBn::new(vs / "conv1", vs / "bn1", ConvSpec::k3(KAIMING_FAN_OUT), 3, filters[0]);
        let mut in_planes = filters[0];
        let stages = (0..3)
            .map(|i| {
                let stride = if i == 0 { 1 } else { 2 };
                let path = vs / format!("layer{}", i + 1);
                Stage::new(
                    path,
                    BlockKind::Basic,
                    &mut in_planes,
                    filters[i + 1],
                    blocks_per_stage,
                    stride,
                    "downsample",
                )
            })
            .collect();
        let spec = HeadSpec {
            kind: head,
            fc_name: "fc",
            fc_init: LinearInit::Torch,
            cam_init: KAIMING_FAN_OUT,
        };
        let head = Head::new(vs, spec, filters[3], classes);
        CifarResNet { stem, stages, head }
    }
}

impl Model for CifarResNet {
    fn forward_t(&self, xs: &Tensor, train: bool) -> ModelOutput {
        let f0 = self.stem.forward_relu_t(xs, train);
        let body = run_stages(f0, &self.stages, |stage, out| stage.forward_post_relu(out, train));
        let head = self.head.forward(&body.out, |t| avg_pool_flat(t, 8));
        head.into_model_output(body.feats, body.preact_feats, CamPlacement::ReplaceLast)
    }
}
