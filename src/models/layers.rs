//! Small layer constructors shared by the model families: convolutions, BatchNorm and linear
//! layers built with PyTorch's conventions (names, defaults, initialisations).

use tch::nn::init::{FanInOut, NonLinearity, NormalOrUniform};
use tch::nn::{self, Init};
use tch::Tensor;

/// `kaiming_normal_(mode="fan_out", nonlinearity="relu")`, i.e. N(0, sqrt(2 / (k*k*out))); also
/// what the reference's hand-written `normal_(0, sqrt(2 / n))` loops compute.
pub const KAIMING_FAN_OUT: Init = Init::Kaiming {
    dist: NormalOrUniform::Normal,
    fan: FanInOut::FanOut,
    non_linearity: NonLinearity::ReLU,
};

/// PyTorch's default for `Conv2d`/`Linear` weights: `kaiming_uniform_(a=sqrt(5))`, which is
/// U(-1/sqrt(fan_in), 1/sqrt(fan_in)). tch's own default uses the ReLU gain (sqrt(6) times wider),
/// so every layer the reference leaves at PyTorch's default uses this instead.
pub const TORCH_DEFAULT: Init = Init::Kaiming {
    dist: NormalOrUniform::Uniform,
    fan: FanInOut::FanIn,
    non_linearity: NonLinearity::ExplicitGain(0.577_350_269_189_625_8), // 1/sqrt(3)
};

/// A 2-D convolution's hyper-parameters; `build` creates `<path>.weight` (and `<path>.bias`).
#[derive(Debug, Clone, Copy)]
pub struct ConvSpec {
    kernel: i64,
    stride: i64,
    padding: i64,
    groups: i64,
    bias: bool,
    init: Init,
}

impl ConvSpec {
    /// A `kernel` x `kernel` convolution, stride 1, no padding, no groups, no bias.
    pub fn new(kernel: i64, init: Init) -> Self {
        ConvSpec {
            kernel,
            stride: 1,
            padding: 0,
            groups: 1,
            bias: false,
            init,
        }
    }

    /// 3x3, padding 1 (the usual "same" convolution).
    pub fn k3(init: Init) -> Self {
        Self::new(3, init).padding(1)
    }

    /// 1x1 (pointwise).
    pub fn k1(init: Init) -> Self {
        Self::new(1, init)
    }

    pub fn stride(self, stride: i64) -> Self {
        ConvSpec { stride, ..self }
    }

    pub fn padding(self, padding: i64) -> Self {
        ConvSpec { padding, ..self }
    }

    pub fn groups(self, groups: i64) -> Self {
        ConvSpec { groups, ..self }
    }

    /// With a bias initialised to zero (every biased convolution in the reference zeroes it).
    pub fn with_bias(self) -> Self {
        ConvSpec { bias: true, ..self }
    }

    pub fn build(self, path: nn::Path, in_channels: i64, out_channels: i64) -> nn::Conv2D {
        let config = nn::ConvConfig {
            stride: self.stride,
            padding: self.padding,
            groups: self.groups,
            bias: self.bias,
            ws_init: self.init,
            bs_init: Init::Const(0.),
            ..Default::default()
        };
        nn::conv2d(path, in_channels, out_channels, self.kernel, config)
    }
}

/// `nn.BatchNorm2d(channels)`: weight 1, bias 0, eps 1e-5, momentum 0.1 (tch's default weight
/// init is uniform, PyTorch's is 1).
pub fn batch_norm(path: nn::Path, channels: i64) -> nn::BatchNorm {
    let config = nn::BatchNormConfig {
        eps: 1e-5,
        momentum: 0.1,
        ws_init: Init::Const(1.),
        bs_init: Init::Const(0.),
        ..Default::default()
    };
    nn::batch_norm2d(path, channels, config)
}

/// How the reference initialises a final `nn.Linear`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinearInit {
    /// PyTorch's default: weight U(±1/sqrt(in)), bias U(±1/sqrt(in)).
    Torch,
    /// PyTorch's default weight, bias zeroed (WRN).
    TorchZeroBias,
    /// Weight N(0, 0.01), bias zeroed (VGG, CIFAR MobileNetV2).
    Normal001,
}

pub fn linear(path: nn::Path, in_dim: i64, out_dim: i64, init: LinearInit) -> nn::Linear {
    let (ws_init, bs_init) = match init {
        LinearInit::Torch => (TORCH_DEFAULT, None),
        LinearInit::TorchZeroBias => (TORCH_DEFAULT, Some(Init::Const(0.))),
        LinearInit::Normal001 => (Init::Randn { mean: 0., stdev: 0.01 }, Some(Init::Const(0.))),
    };
    nn::linear(
        path,
        in_dim,
        out_dim,
        nn::LinearConfig {
            ws_init,
            bs_init,
            bias: true,
        },
    )
}

/// A convolution followed by its BatchNorm: the `Conv2d, BatchNorm2d` pair every family uses.
#[derive(Debug)]
pub struct ConvBn {
    pub conv: nn::Conv2D,
    pub bn: nn::BatchNorm,
}

impl ConvBn {
    /// `<conv_path>` and `<bn_path>` are given separately because the reference names them
    /// either `conv1`/`bn1` or `0`/`1` inside a Sequential.
    pub fn new(conv_path: nn::Path, bn_path: nn::Path, spec: ConvSpec, cin: i64, cout: i64) -> Self {
        ConvBn {
            conv: spec.build(conv_path, cin, cout),
            bn: batch_norm(bn_path, cout),
        }
    }

    pub fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor {
        use tch::nn::{Module, ModuleT};
        self.bn.forward_t(&self.conv.forward(xs), train)
    }

    /// Conv, BN, then ReLU in place on the fresh BN output (BN's backward does not need its
    /// output, so this saves an allocation like the reference's `ReLU(inplace=True)`).
    pub fn forward_relu_t(&self, xs: &Tensor, train: bool) -> Tensor {
        self.forward_t(xs, train).relu_()
    }
}

/// Global average pooling to (N, C), the reference's `AdaptiveAvgPool2d((1, 1))` + reshape.
pub fn global_avg_pool(xs: &Tensor) -> Tensor {
    xs.adaptive_avg_pool2d([1, 1]).flatten(1, -1)
}

/// `F.avg_pool2d(xs, k)` (stride k, no padding) + reshape to (N, -1): the fixed-size pools the
/// reference uses in its CIFAR heads (8 for ResNet/WRN, 4 for ShuffleNets).
pub fn avg_pool_flat(xs: &Tensor, kernel: i64) -> Tensor {
    xs.avg_pool2d([kernel, kernel], [kernel, kernel], [0, 0], false, true, None::<i64>)
        .flatten(1, -1)
}

/// The body of a staged network and the reference's feature lists: `feats` holds the stem output
/// `f0` and each stage's output, `preact_feats` holds `f0` and each stage's pre-activation.
pub struct StageFeatures {
    pub out: Tensor,
    pub feats: Vec<Tensor>,
    pub preact_feats: Vec<Tensor>,
}

/// Run `stages` on the stem output; `forward` returns a stage's (output, pre-activation).
pub fn run_stages<S>(
    f0: Tensor,
    stages: &[S],
    mut forward: impl FnMut(&S, &Tensor) -> (Tensor, Tensor),
) -> StageFeatures {
    let mut feats = vec![f0.shallow_clone()];
    let mut preact_feats = vec![f0.shallow_clone()];
    let mut out = f0;
    for stage in stages {
        let (o, pre) = forward(stage, &out);
        feats.push(o.shallow_clone());
        preact_feats.push(pre);
        out = o;
    }
    StageFeatures {
        out,
        feats,
        preact_feats,
    }
}
