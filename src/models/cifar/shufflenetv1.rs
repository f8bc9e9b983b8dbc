//! ShuffleNet V1 of `ShuffleNetv1.py` (`ShuffleV1`: groups 3, stages 240/480/960 with 4/8/4
//! blocks) and its CAM variant. No explicit initialisation in the reference: PyTorch defaults.

use tch::{nn, Tensor};

use crate::models::head::{CamPlacement, Head, HeadKind, HeadSpec};
use crate::models::layers::{avg_pool_flat, run_stages, ConvBn, ConvSpec, LinearInit, TORCH_DEFAULT};
use crate::models::shuffle::channel_shuffle;
use crate::models::{Model, ModelOutput};

/// Stage widths, blocks per stage and convolution groups of `ShuffleV1`.
pub struct ShuffleV1Config {
    pub out_planes: [i64; 3],
    pub num_blocks: [usize; 3],
    pub groups: i64,
}

pub const SHUFFLE_V1: ShuffleV1Config = ShuffleV1Config {
    out_planes: [240, 480, 960],
    num_blocks: [4, 8, 4],
    groups: 3,
};

/// `layer<k>.<i>`: grouped 1x1 - shuffle - depthwise 3x3 - grouped 1x1, with an identity
/// shortcut (stride 1) or a 3x3 average-pooled one concatenated to the output (stride 2).
#[derive(Debug)]
struct Bottleneck {
    conv1: ConvBn,
    shuffle_groups: i64,
    conv2: ConvBn,
    conv3: ConvBn,
    stride: i64,
}

impl Bottleneck {
    fn new(p: &nn::Path, cin: i64, cout: i64, stride: i64, groups: i64) -> Self {
        let mid = cout / 4;
        // The first block reads the 24-channel stem, which is not split into groups.
        let g = if cin == 24 { 1 } else { groups };
        let k1 = ConvSpec::k1(TORCH_DEFAULT);
        let dw = ConvSpec::k3(TORCH_DEFAULT).stride(stride).groups(mid);
        Bottleneck {
            conv1: ConvBn::new(p / "conv1", p / "bn1", k1.groups(g), cin, mid),
            shuffle_groups: g,
            conv2: ConvBn::new(p / "conv2", p / "bn2", dw, mid, mid),
            conv3: ConvBn::new(p / "conv3", p / "bn3", k1.groups(groups), mid, cout),
            stride,
        }
    }

    /// Returns the block's pre-activation (its output is its ReLU).
    fn forward_preact(&self, xs: &Tensor, train: bool) -> Tensor {
        let out = self.conv1.forward_relu_t(xs, train);
        let out = channel_shuffle(&out, self.shuffle_groups);
        let out = self.conv2.forward_relu_t(&out, train);
        let mut out = self.conv3.forward_t(&out, train);
        if self.stride == 2 {
            let res = xs.avg_pool2d([3, 3], [2, 2], [1, 1], false, true, None::<i64>);
            Tensor::cat(&[out, res], 1)
        } else {
            out += xs;
            out
        }
    }
}

#[derive(Debug)]
pub struct ShuffleNetV1 {
    stem: ConvBn,
    stages: Vec<Vec<Bottleneck>>,
    head: Head,
}

impl ShuffleNetV1 {
    pub fn new(vs: &nn::Path, cfg: &ShuffleV1Config, classes: i64, head: HeadKind) -> Self {
        let stem = ConvBn::new(vs / "conv1", vs / "bn1", ConvSpec::k1(TORCH_DEFAULT), 3, 24);
        let mut cin = 24;
        let stages = (0..3)
            .map(|k| {
                let out_planes = cfg.out_planes[k];
                (0..cfg.num_blocks[k])
                    .map(|i| {
                        // The first block of a stage concatenates its input, so it only
                        // produces the remaining channels.
                        let (stride, cout) = if i == 0 { (2, out_planes - cin) } else { (1, out_planes) };
                        let p = vs / format!("layer{}", k + 1) / i;
                        let block = Bottleneck::new(&p, cin, cout, stride, cfg.groups);
                        cin = out_planes;
                        block
                    })
                    .collect()
            })
            .collect();
        let spec = HeadSpec {
            kind: head,
            fc_name: "linear",
            fc_init: LinearInit::Torch,
            cam_init: TORCH_DEFAULT,
        };
        let head = Head::new(vs, spec, cfg.out_planes[2], classes);
        ShuffleNetV1 { stem, stages, head }
    }
}

impl Model for ShuffleNetV1 {
    fn forward_t(&self, xs: &Tensor, train: bool) -> ModelOutput {
        let f0 = self.stem.forward_relu_t(xs, train);
        let body = run_stages(f0, &self.stages, |stage, input| {
            let mut out = input.shallow_clone();
            let mut preact = input.shallow_clone();
            for block in stage {
                preact = block.forward_preact(&out, train);
                out = preact.relu();
            }
            (out, preact)
        });
        let head = self.head.forward(&body.out, |t| avg_pool_flat(t, 4));
        head.into_model_output(body.feats, body.preact_feats, CamPlacement::ReplaceLast)
    }
}
