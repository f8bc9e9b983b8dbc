//! CIFAR VGGs with BatchNorm of `vgg.py` (vgg8, vgg11, vgg13, vgg16, vgg19 = the reference's
//! `vgg*_bn`) and the CAM variants vgg8_test, vgg13_test: five blocks of conv3x3-BN-ReLU with
//! 2x2 max-pools between them, global average pool, FC named `classifier`.

use tch::{nn, Tensor};

use crate::models::head::{CamPlacement, Head, HeadKind, HeadSpec};
use crate::models::layers::{global_avg_pool, ConvBn, ConvSpec, LinearInit, KAIMING_FAN_OUT, TORCH_DEFAULT};
use crate::models::{Model, ModelOutput};

/// Output channels of the five blocks (the same in every configuration).
const WIDTHS: [i64; 5] = [64, 128, 256, 512, 512];

/// Convolutions per block for a VGG depth (the reference's configurations S, A, B, D, E).
pub fn convs_per_block(depth: i64) -> Option<[usize; 5]> {
    match depth {
        8 => Some([1, 1, 1, 1, 1]),
        11 => Some([1, 1, 2, 2, 2]),
        13 => Some([2, 2, 2, 2, 2]),
        16 => Some([2, 2, 3, 3, 3]),
        19 => Some([2, 2, 4, 4, 4]),
        _ => None,
    }
}

/// `block<k>`: a Sequential of (conv, BN, ReLU) triples whose last ReLU is dropped, so the
/// convolutions sit at indices 0, 3, 6... and their BNs at 1, 4, 7...
#[derive(Debug)]
struct VggBlock {
    layers: Vec<ConvBn>,
}

impl VggBlock {
    fn new(p: &nn::Path, cin: i64, cout: i64, convs: usize) -> Self {
        let spec = ConvSpec::k3(KAIMING_FAN_OUT).with_bias();
        let layers = (0..convs)
            .map(|j| {
                let c_in = if j == 0 { cin } else { cout };
                ConvBn::new(p / (3 * j), p / (3 * j + 1), spec, c_in, cout)
            })
            .collect();
        VggBlock { layers }
    }

    /// The block's output before its final (dropped) ReLU.
    fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor {
        let mut out = xs.shallow_clone();
        for (j, layer) in self.layers.iter().enumerate() {
            if j > 0 {
                out = out.relu();
            }
            out = layer.forward_t(&out, train);
        }
        out
    }
}

fn max_pool(xs: &Tensor) -> Tensor {
    xs.max_pool2d([2, 2], [2, 2], [0, 0], [1, 1], false)
}

#[derive(Debug)]
pub struct Vgg {
    blocks: Vec<VggBlock>,
    head: Head,
}

impl Vgg {
    pub fn new(vs: &nn::Path, convs: [usize; 5], classes: i64, head: HeadKind) -> Self {
        let blocks = (0..5)
            .map(|k| {
                let cin = if k == 0 { 3 } else { WIDTHS[k - 1] };
                VggBlock::new(&(vs / format!("block{k}")), cin, WIDTHS[k], convs[k])
            })
            .collect();
        let spec = HeadSpec {
            kind: head,
            fc_name: "classifier",
            fc_init: LinearInit::Normal001,
            // The reference creates conv_test after its init loop: PyTorch's default init.
            cam_init: TORCH_DEFAULT,
        };
        let head = Head::new(vs, spec, WIDTHS[4], classes);
        Vgg { blocks, head }
    }
}

impl Model for Vgg {
    fn forward_t(&self, xs: &Tensor, train: bool) -> ModelOutput {
        let height = xs.size().get(2).copied().unwrap_or(0);
        let mut feats = Vec::with_capacity(6);
        let mut preact_feats = Vec::with_capacity(5);
        let mut out = xs.shallow_clone();
        for (k, block) in self.blocks.iter().enumerate() {
            // pool0..pool2 always; pool3 only for 64x64 inputs (reference); pool4 is the head's.
            if k > 0 && (k < 4 || height == 64) {
                out = max_pool(&out);
            }
            let pre = block.forward_t(&out, train);
            out = pre.relu();
            preact_feats.push(if k == 0 { out.shallow_clone() } else { pre });
            feats.push(out.shallow_clone());
        }
        let head = self.head.forward(&out, global_avg_pool);
        // The CAM follows the five block features.
        head.into_model_output(feats, preact_feats, CamPlacement::Append)
    }
}
