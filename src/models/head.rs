//! The classifier head shared by a plain model and its CAM (`*_test`) variant: one builder, one
//! switch. The plain head pools then applies a fully connected layer; the CAM head applies a 1x1
//! convolution without bias (`conv_test`) whose output is the class activation map, then pools it
//! into the logits.

use tch::nn::{self, Init, Module};
use tch::Tensor;

use super::layers::{self, ConvSpec, LinearInit};
use super::ModelOutput;

/// Which head a model is built with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeadKind {
    /// Fully connected layer named by the model family (`fc`, `linear`, `classifier`...).
    Fc,
    /// `conv_test`: a 1x1 convolution producing the CAM.
    Cam,
}

#[derive(Debug)]
pub enum Head {
    Fc(nn::Linear),
    Cam(nn::Conv2D),
}

/// What a head produces.
#[derive(Debug)]
pub struct HeadOutput {
    pub logits: Tensor,
    /// The pooled tensor the reference returns as `pooled_feat`: the pooled features before the
    /// FC for plain models, the pooled CAM (equal to the logits) for CAM variants.
    pub pooled: Tensor,
    /// The class activation map (N x classes x h x w), CAM heads only.
    pub cam: Option<Tensor>,
}

/// Construction details that differ between families.
#[derive(Debug, Clone, Copy)]
pub struct HeadSpec<'a> {
    pub kind: HeadKind,
    /// Variable path of the FC layer (`fc`, `linear`, `classifier`, `classifier.0`).
    pub fc_name: &'a str,
    pub fc_init: LinearInit,
    /// Initialisation of `conv_test.weight` (the reference's init loop, or PyTorch's default where
    /// the layer is created after that loop).
    pub cam_init: Init,
}

impl Head {
    pub fn new(root: &nn::Path, spec: HeadSpec, in_channels: i64, classes: i64) -> Head {
        match spec.kind {
            HeadKind::Fc => {
                let mut path = root.clone();
                for part in spec.fc_name.split('.') {
                    path = path / part;
                }
                Head::Fc(layers::linear(path, in_channels, classes, spec.fc_init))
            }
            HeadKind::Cam => Head::Cam(ConvSpec::k1(spec.cam_init).build(root / "conv_test", in_channels, classes)),
        }
    }

    /// Apply the head to the last feature map; `pool` is the family's pooling + flatten to (N, D).
    pub fn forward(&self, features: &Tensor, pool: impl Fn(&Tensor) -> Tensor) -> HeadOutput {
        match self {
            Head::Fc(fc) => {
                let pooled = pool(features);
                HeadOutput {
                    logits: fc.forward(&pooled),
                    pooled,
                    cam: None,
                }
            }
            Head::Cam(conv) => {
                let cam = conv.forward(features);
                let pooled = pool(&cam);
                HeadOutput {
                    logits: pooled.shallow_clone(),
                    pooled,
                    cam: Some(cam),
                }
            }
        }
    }
}

/// Where a family's reference puts the CAM in its feature list.
#[derive(Debug, Clone, Copy)]
pub enum CamPlacement {
    /// The CAM replaces the last stage's output (CIFAR ResNets, ShuffleV1).
    ReplaceLast,
    /// The CAM follows the other features (ShuffleV2, VGG, CIFAR MobileNetV2).
    Append,
    /// The CAM is the only feature (ImageNet MobileNetV1).
    Only,
}

impl HeadOutput {
    /// The model's output: `feats` with the CAM (CAM heads only) placed as the family's
    /// reference does, and the head's logits and pooled tensor.
    pub fn into_model_output(
        self,
        mut feats: Vec<Tensor>,
        preact_feats: Vec<Tensor>,
        place: CamPlacement,
    ) -> ModelOutput {
        if let Some(cam) = self.cam {
            match place {
                CamPlacement::ReplaceLast => match feats.last_mut() {
                    Some(last) => *last = cam,
                    None => feats.push(cam),
                },
                CamPlacement::Append => feats.push(cam),
                CamPlacement::Only => feats = vec![cam],
            }
        }
        ModelOutput {
            logits: self.logits,
            feats,
            preact_feats,
            pooled: self.pooled,
        }
    }
}
