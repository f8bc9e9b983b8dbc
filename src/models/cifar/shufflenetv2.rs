//! ShuffleNet V2 of `ShuffleNetv2.py` (`ShuffleV2`, net size 1: stages 116/232/464 with 3/7/3
//! basic blocks, last 1x1 conv to 1024) and its CAM variant. No explicit initialisation in the
//! reference: PyTorch defaults.

use tch::{nn, Tensor};

use crate::models::head::{CamPlacement, Head, HeadKind, HeadSpec};
use crate::models::layers::{avg_pool_flat, run_stages, ConvBn, ConvSpec, LinearInit, TORCH_DEFAULT};
use crate::models::shuffle::channel_shuffle;
use crate::models::{Model, ModelOutput};

/// Stage widths (plus the last conv's width) and basic blocks per stage.
pub struct ShuffleV2Config {
    pub out_channels: [i64; 4],
    pub num_blocks: [usize; 3],
}

pub const SHUFFLE_V2: ShuffleV2Config = ShuffleV2Config {
    out_channels: [116, 232, 464, 1024],
    num_blocks: [3, 7, 3],
};

fn k1() -> ConvSpec {
    ConvSpec::k1(TORCH_DEFAULT)
}

fn depthwise(channels: i64, stride: i64) -> ConvSpec {
    ConvSpec::k3(TORCH_DEFAULT).stride(stride).groups(channels)
}

/// `layer<k>.0`: two strided branches (dw-pw and pw-dw-pw), concatenated and shuffled.
#[derive(Debug)]
struct DownBlock {
    left_dw: ConvBn,
    left_pw: ConvBn,
    right_pw1: ConvBn,
    right_dw: ConvBn,
    right_pw2: ConvBn,
}

impl DownBlock {
    fn new(p: &nn::Path, cin: i64, cout: i64) -> Self {
        let mid = cout / 2;
        let cb = |n: usize, spec: ConvSpec, i: i64, o: i64| {
            ConvBn::new(p / format!("conv{n}"), p / format!("bn{n}"), spec, i, o)
        };
        DownBlock {
            left_dw: cb(1, depthwise(cin, 2), cin, cin),
            left_pw: cb(2, k1(), cin, mid),
            right_pw1: cb(3, k1(), cin, mid),
            right_dw: cb(4, depthwise(mid, 2), mid, mid),
            right_pw2: cb(5, k1(), mid, mid),
        }
    }

    fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor {
        let left = self.left_dw.forward_t(xs, train);
        let left = self.left_pw.forward_relu_t(&left, train);
        let right = self.right_pw1.forward_relu_t(xs, train);
        let right = self.right_dw.forward_t(&right, train);
        let right = self.right_pw2.forward_relu_t(&right, train);
        channel_shuffle(&Tensor::cat(&[left, right], 1), 2)
    }
}

/// `layer<k>.<i>` (i >= 1): split channels in half, transform the second half, concatenate,
/// shuffle.
#[derive(Debug)]
struct BasicBlock {
    conv1: ConvBn,
    conv2: ConvBn,
    conv3: ConvBn,
    split: i64,
}

impl BasicBlock {
    fn new(p: &nn::Path, channels: i64) -> Self {
        let c = channels / 2;
        BasicBlock {
            conv1: ConvBn::new(p / "conv1", p / "bn1", k1(), c, c),
            conv2: ConvBn::new(p / "conv2", p / "bn2", depthwise(c, 1), c, c),
            conv3: ConvBn::new(p / "conv3", p / "bn3", k1(), c, c),
            split: c,
        }
    }

    /// Returns (output, preact); the reference's preact is the concatenation before the shuffle.
    fn forward_t(&self, xs: &Tensor, train: bool, want_preact: bool) -> (Tensor, Option<Tensor>) {
        let channels = xs.size()[1];
        let x1 = xs.narrow(1, 0, self.split);
        let x2 = xs.narrow(1, self.split, channels - self.split);
        let out = self.conv1.forward_relu_t(&x2, train);
        let out = self.conv2.forward_t(&out, train);
        let pre = self.conv3.forward_t(&out, train);
        let out = channel_shuffle(&Tensor::cat(&[&x1, &pre.relu()], 1), 2);
        let preact = want_preact.then(|| Tensor::cat(&[&x1, &pre], 1));
        (out, preact)
    }
}

#[derive(Debug)]
struct Stage {
    down: DownBlock,
    blocks: Vec<BasicBlock>,
}

impl Stage {
    /// Returns (output, preact of the last block).
    fn forward_t(&self, xs: &Tensor, train: bool) -> (Tensor, Tensor) {
        let mut out = self.down.forward_t(xs, train);
        let mut preact = None;
        let last = self.blocks.len().saturating_sub(1);
        for (i, block) in self.blocks.iter().enumerate() {
            let (o, p) = block.forward_t(&out, train, i == last);
            out = o;
            preact = p.or(preact);
        }
        let preact = preact.unwrap_or_else(|| out.shallow_clone());
        (out, preact)
    }
}

#[derive(Debug)]
pub struct ShuffleNetV2 {
    stem: ConvBn,
    stages: Vec<Stage>,
    conv2: ConvBn,
    head: Head,
}

impl ShuffleNetV2 {
    pub fn new(vs: &nn::Path, cfg: &ShuffleV2Config, classes: i64, head: HeadKind) -> Self {
        let stem = ConvBn::new(vs / "conv1", vs / "bn1", k1(), 3, 24);
        let mut cin = 24;
        let stages = (0..3)
            .map(|k| {
                let p = vs / format!("layer{}", k + 1);
                let cout = cfg.out_channels[k];
                let down = DownBlock::new(&(&p / 0), cin, cout);
                let blocks = (1..=cfg.num_blocks[k])
                    .map(|i| BasicBlock::new(&(&p / i), cout))
                    .collect();
                cin = cout;
                Stage { down, blocks }
            })
            .collect();
        let last = cfg.out_channels[3];
        let conv2 = ConvBn::new(vs / "conv2", vs / "bn2", k1(), cin, last);
        let spec = HeadSpec {
            kind: head,
            fc_name: "linear",
            fc_init: LinearInit::Torch,
            cam_init: TORCH_DEFAULT,
        };
        let head = Head::new(vs, spec, last, classes);
        ShuffleNetV2 {
            stem,
            stages,
            conv2,
            head,
        }
    }
}

impl Model for ShuffleNetV2 {
    fn forward_t(&self, xs: &Tensor, train: bool) -> ModelOutput {
        let f0 = self.stem.forward_relu_t(xs, train);
        let body = run_stages(f0, &self.stages, |stage, out| stage.forward_t(out, train));
        let out = self.conv2.forward_relu_t(&body.out, train);
        let head = self.head.forward(&out, |t| avg_pool_flat(t, 4));
        // The CAM follows the four stage features.
        head.into_model_output(body.feats, body.preact_feats, CamPlacement::Append)
    }
}
