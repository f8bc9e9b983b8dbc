//! Wide ResNets of `wrn.py` (wrn_16_1, wrn_16_2, wrn_40_1, wrn_40_2) and their CAM variants:
//! pre-activation blocks (BN-ReLU-conv), depth = 6n + 4, widths 16, 16k, 32k, 64k.

use tch::nn::{self, Module, ModuleT};
use tch::Tensor;

use crate::models::head::{Head, HeadKind, HeadSpec};
use crate::models::layers::{avg_pool_flat, batch_norm, global_avg_pool, ConvSpec, LinearInit, KAIMING_FAN_OUT};
use crate::models::{Model, ModelOutput};

/// `block<k>.layer.<i>`: BN-ReLU-conv3x3-BN-ReLU-conv3x3 with an identity or 1x1 shortcut.
#[derive(Debug)]
struct WideBlock {
    bn1: nn::BatchNorm,
    conv1: nn::Conv2D,
    bn2: nn::BatchNorm,
    conv2: nn::Conv2D,
    /// `convShortcut`, present when the channel count changes.
    shortcut: Option<nn::Conv2D>,
}

impl WideBlock {
    fn new(p: &nn::Path, cin: i64, cout: i64, stride: i64) -> Self {
        let k3 = ConvSpec::k3(KAIMING_FAN_OUT);
        WideBlock {
            bn1: batch_norm(p / "bn1", cin),
            conv1: k3.stride(stride).build(p / "conv1", cin, cout),
            bn2: batch_norm(p / "bn2", cout),
            conv2: k3.build(p / "conv2", cout, cout),
            shortcut: (cin != cout).then(|| {
                ConvSpec::k1(KAIMING_FAN_OUT)
                    .stride(stride)
                    .build(p / "convShortcut", cin, cout)
            }),
        }
    }

    fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor {
        let act = self.bn1.forward_t(xs, train).relu_();
        let out = self.bn2.forward_t(&self.conv1.forward(&act), train).relu_();
        let mut out = self.conv2.forward(&out);
        match &self.shortcut {
            // The reference's projection shortcut reads the activated input.
            Some(sc) => out += sc.forward(&act),
            None => out += xs,
        }
        out
    }
}

#[derive(Debug)]
pub struct WideResNet {
    conv1: nn::Conv2D,
    /// block1..block3, each a list of `WideBlock`s.
    groups: Vec<Vec<WideBlock>>,
    bn1: nn::BatchNorm,
    head: Head,
}

impl WideResNet {
    pub fn new(vs: &nn::Path, depth: i64, widen: i64, classes: i64, head: HeadKind) -> Self {
        let n = (depth - 4) / 6;
        let channels = [16, 16 * widen, 32 * widen, 64 * widen];
        let conv1 = ConvSpec::k3(KAIMING_FAN_OUT).build(vs / "conv1", 3, channels[0]);
        let groups = (0..3)
            .map(|g| {
                let path = vs / format!("block{}", g + 1) / "layer";
                let stride = if g == 0 { 1 } else { 2 };
                (0..n)
                    .map(|i| {
                        let (cin, s) = if i == 0 {
                            (channels[g], stride)
                        } else {
                            (channels[g + 1], 1)
                        };
                        WideBlock::new(&(&path / i), cin, channels[g + 1], s)
                    })
                    .collect()
            })
            .collect();
        let bn1 = batch_norm(vs / "bn1", channels[3]);
        let spec = HeadSpec {
            kind: head,
            fc_name: "fc",
            fc_init: LinearInit::TorchZeroBias,
            cam_init: KAIMING_FAN_OUT,
        };
        let head = Head::new(vs, spec, channels[3], classes);
        WideResNet {
            conv1,
            groups,
            bn1,
            head,
        }
    }

    fn run_group(&self, g: usize, xs: &Tensor, train: bool) -> Tensor {
        let mut out = xs.shallow_clone();
        for block in &self.groups[g] {
            out = block.forward_t(&out, train);
        }
        out
    }
}

impl Model for WideResNet {
    fn forward_t(&self, xs: &Tensor, train: bool) -> ModelOutput {
        let f0 = self.conv1.forward(xs);
        let f1 = self.run_group(0, &f0, train);
        let f2 = self.run_group(1, &f1, train);
        let f3 = self.run_group(2, &f2, train);
        let act = self.bn1.forward_t(&f3, train).relu_();
        // The plain head pools adaptively, the CAM head with a fixed 8x8 window (reference).
        let pool: fn(&Tensor) -> Tensor = match self.head {
            Head::Fc(_) => global_avg_pool,
            Head::Cam(_) => |t| avg_pool_flat(t, 8),
        };
        let head = self.head.forward(&act, pool);
        match head.cam {
            None => {
                // As in the reference, the pre-activations are recomputed by applying the next
                // BN layers again; in train mode this updates their running statistics a second
                // time per step (a reference quirk, kept so running statistics match).
                let f1_pre = self.groups[1][0].bn1.forward_t(&f1, train);
                let f2_pre = self.groups[2][0].bn1.forward_t(&f2, train);
                let f3_pre = self.bn1.forward_t(&f3, train);
                ModelOutput {
                    logits: head.logits,
                    feats: vec![f0.shallow_clone(), f1, f2, f3],
                    preact_feats: vec![f0, f1_pre, f2_pre, f3_pre],
                    pooled: head.pooled,
                }
            }
            // The reference's WRN CAM variant returns no pre-activation features.
            Some(cam) => ModelOutput {
                logits: head.logits,
                feats: vec![f0, f1, f2, cam],
                preact_feats: Vec::new(),
                pooled: head.pooled,
            },
        }
    }
}
