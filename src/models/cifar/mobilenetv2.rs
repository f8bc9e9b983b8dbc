//! The reference's CIFAR MobileNetV2 (`mobilenetv2.py`, `mobile_half`: expansion 6, width 0.5)
//! and its CAM variant.
//!
//! Deviation: the reference's `MobileNetV2_test` still creates the plain model's
//! `classifier.0 = Linear(1280, classes)` but never uses it. It is left out here, so this CAM
//! variant has 128,100 fewer parameters than the reference's and its state dict lacks
//! `classifier.0.weight`/`classifier.0.bias`; importing a reference checkpoint ignores those keys.

use tch::{nn, Tensor};

use crate::models::head::{CamPlacement, Head, HeadKind, HeadSpec};
use crate::models::layers::{ConvBn, ConvSpec, LinearInit, KAIMING_FAN_OUT};
use crate::models::{Model, ModelOutput};

/// (expansion t, channels c, repeats n, first stride s) of the seven inverted-residual stages,
/// with the expansion of the non-first stages being the model's `T`.
const SETTING: [(i64, i64, usize, i64); 7] = [
    (1, 16, 1, 1),
    (0, 24, 2, 1),
    (0, 32, 3, 2),
    (0, 64, 4, 2),
    (0, 96, 3, 1),
    (0, 160, 3, 2),
    (0, 320, 1, 1),
];
/// Channels of the last 1x1 convolution (not scaled below width 1).
const LAST_CHANNELS: i64 = 1280;
/// Indices (into `blocks`) after which the reference records a feature.
const FEATURE_STAGES: [usize; 4] = [1, 2, 4, 6];

/// `blocks.<i>.<j>`: pw conv-BN-ReLU, dw conv-BN-ReLU, pw-linear conv-BN (`conv.0/1/3/4/6/7`).
#[derive(Debug)]
struct InvertedResidual {
    expand: ConvBn,
    depthwise: ConvBn,
    project: ConvBn,
    residual: bool,
}

impl InvertedResidual {
    fn new(p: &nn::Path, cin: i64, cout: i64, stride: i64, expansion: i64) -> Self {
        let p = p / "conv";
        let hidden = cin * expansion;
        let k1 = ConvSpec::k1(KAIMING_FAN_OUT);
        let dw = ConvSpec::k3(KAIMING_FAN_OUT).stride(stride).groups(hidden);
        InvertedResidual {
            expand: ConvBn::new(&p / "0", &p / "1", k1, cin, hidden),
            depthwise: ConvBn::new(&p / "3", &p / "4", dw, hidden, hidden),
            project: ConvBn::new(&p / "6", &p / "7", k1, hidden, cout),
            residual: stride == 1 && cin == cout,
        }
    }

    fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor {
        let out = self.expand.forward_relu_t(xs, train);
        let out = self.depthwise.forward_relu_t(&out, train);
        let mut out = self.project.forward_t(&out, train);
        if self.residual {
            out += xs;
        }
        out
    }
}

#[derive(Debug)]
pub struct CifarMobileNetV2 {
    conv1: ConvBn,
    blocks: Vec<Vec<InvertedResidual>>,
    conv2: ConvBn,
    head: Head,
}

impl CifarMobileNetV2 {
    /// `expansion` is the reference's `T`, `width` its `width_mult` (6 and 0.5 for MobileNetV2).
    pub fn new(vs: &nn::Path, expansion: i64, width: f64, classes: i64, head: HeadKind) -> Self {
        let scale = |c: i64| (c as f64 * width) as i64;
        let k3 = ConvSpec::k3(KAIMING_FAN_OUT);
        let mut cin = scale(32);
        let conv1 = ConvBn::new(vs / "conv1" / "0", vs / "conv1" / "1", k3.stride(2), 3, cin);
        let blocks = SETTING
            .iter()
            .enumerate()
            .map(|(i, &(t, c, n, s))| {
                let t = if t == 0 { expansion } else { t };
                let cout = scale(c);
                (0..n)
                    .map(|j| {
                        let stride = if j == 0 { s } else { 1 };
                        let p = vs / "blocks" / i / j;
                        let block = InvertedResidual::new(&p, cin, cout, stride, t);
                        cin = cout;
                        block
                    })
                    .collect()
            })
            .collect();
        let last = if width > 1.0 {
            scale(LAST_CHANNELS)
        } else {
            LAST_CHANNELS
        };
        let k1 = ConvSpec::k1(KAIMING_FAN_OUT);
        let conv2 = ConvBn::new(vs / "conv2" / "0", vs / "conv2" / "1", k1, cin, last);
        let spec = HeadSpec {
            kind: head,
            fc_name: "classifier.0",
            fc_init: LinearInit::Normal001,
            cam_init: KAIMING_FAN_OUT,
        };
        let head = Head::new(vs, spec, last, classes);
        CifarMobileNetV2 {
            conv1,
            blocks,
            conv2,
            head,
        }
    }
}

/// The reference's `AvgPool2d(2, ceil_mode=True)` (2 = input_size // 16 for 32x32 inputs).
fn pool(xs: &Tensor) -> Tensor {
    xs.avg_pool2d([2, 2], [2, 2], [0, 0], true, true, None::<i64>)
        .flatten(1, -1)
}

impl Model for CifarMobileNetV2 {
    fn forward_t(&self, xs: &Tensor, train: bool) -> ModelOutput {
        let mut out = self.conv1.forward_relu_t(xs, train);
        let mut feats = vec![out.shallow_clone()];
        for (i, stage) in self.blocks.iter().enumerate() {
            for block in stage {
                out = block.forward_t(&out, train);
            }
            if FEATURE_STAGES.contains(&i) {
                feats.push(out.shallow_clone());
            }
        }
        let out = self.conv2.forward_relu_t(&out, train);
        let head = self.head.forward(&out, pool);
        // The CAM follows the five features; the reference returns no pre-activations.
        head.into_model_output(feats, Vec::new(), CamPlacement::Append)
    }
}
