//! CIFAR ResNets of `resnetv2.py` (ResNet18 with BasicBlocks, ResNet50 with Bottlenecks) and the
//! CAM variant ResNet50_test: 3x3 stem (no max-pool), four stages, global average pool, FC named
//! `linear`.

use tch::{nn, Tensor};

use crate::models::head::{CamPlacement, Head, HeadKind, HeadSpec};
use crate::models::layers::{global_avg_pool, run_stages, ConvBn, ConvSpec, LinearInit, KAIMING_FAN_OUT};
use crate::models::residual::{BlockKind, Stage};
use crate::models::{Model, ModelOutput};

#[derive(Debug)]
pub struct CifarResNetV2 {
    stem: ConvBn,
    stages: Vec<Stage>,
    head: Head,
}

impl CifarResNetV2 {
    pub fn new(vs: &nn::Path, kind: BlockKind, blocks: [usize; 4], classes: i64, head: HeadKind) -> Self {
        let stem = ConvBn::new(vs / "conv1", vs / "bn1", ConvSpec::k3(KAIMING_FAN_OUT), 3, 64);
        let mut in_planes = 64;
        let stages = (0..4)
            .map(|i| {
                let stride = if i == 0 { 1 } else { 2 };
                let planes = 64 << i;
                let path = vs / format!("layer{}", i + 1);
                Stage::new(path, kind, &mut in_planes, planes, blocks[i], stride, "shortcut")
            })
            .collect();
        let spec = HeadSpec {
            kind: head,
            fc_name: "linear",
            fc_init: LinearInit::Torch,
            cam_init: KAIMING_FAN_OUT,
        };
        let head = Head::new(vs, spec, 512 * kind.expansion(), classes);
        CifarResNetV2 { stem, stages, head }
    }
}

impl Model for CifarResNetV2 {
    fn forward_t(&self, xs: &Tensor, train: bool) -> ModelOutput {
        let f0 = self.stem.forward_relu_t(xs, train);
        let body = run_stages(f0, &self.stages, |stage, out| stage.forward_post_relu(out, train));
        let head = self.head.forward(&body.out, global_avg_pool);
        head.into_model_output(body.feats, body.preact_feats, CamPlacement::ReplaceLast)
    }
}
