//! The residual block shared by the CIFAR ResNets (`resnet.py`, `resnetv2.py`) and the ImageNet
//! ResNets: a chain of conv+BN pairs with ReLUs between them, plus an optional 1x1 conv+BN
//! projection shortcut. BasicBlock has two 3x3 pairs, Bottleneck 1x1 -> 3x3 -> 1x1 (x4).

use tch::{nn, Tensor};

use super::layers::{ConvBn, ConvSpec, KAIMING_FAN_OUT};

/// Which residual block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockKind {
    Basic,
    Bottleneck,
}

impl BlockKind {
    pub fn expansion(self) -> i64 {
        match self {
            BlockKind::Basic => 1,
            BlockKind::Bottleneck => 4,
        }
    }
}

#[derive(Debug)]
pub struct ResidualBlock {
    /// `conv1/bn1`, `conv2/bn2`(, `conv3/bn3`).
    branch: Vec<ConvBn>,
    /// `<shortcut_name>.0` (conv) / `<shortcut_name>.1` (BN), when shape or stride changes.
    shortcut: Option<ConvBn>,
}

impl ResidualBlock {
    /// `shortcut_name` is `downsample` (resnet.py, ImageNet) or `shortcut` (resnetv2.py). All
    /// convolutions get the reference's Kaiming fan-out normal initialisation.
    pub fn new(
        path: &nn::Path,
        kind: BlockKind,
        in_planes: i64,
        planes: i64,
        stride: i64,
        shortcut_name: &str,
    ) -> Self {
        let out_planes = planes * kind.expansion();
        let k3 = ConvSpec::k3(KAIMING_FAN_OUT);
        let k1 = ConvSpec::k1(KAIMING_FAN_OUT);
        // (spec, in, out) of each conv in the residual branch.
        let convs = match kind {
            BlockKind::Basic => vec![(k3.stride(stride), in_planes, planes), (k3, planes, planes)],
            BlockKind::Bottleneck => vec![
                (k1, in_planes, planes),
                (k3.stride(stride), planes, planes),
                (k1, planes, out_planes),
            ],
        };
        let branch = convs
            .into_iter()
            .enumerate()
            .map(|(i, (spec, cin, cout))| {
                let n = i + 1;
                ConvBn::new(path / format!("conv{n}"), path / format!("bn{n}"), spec, cin, cout)
            })
            .collect();
        let shortcut = (stride != 1 || in_planes != out_planes).then(|| {
            let sc = path / shortcut_name;
            ConvBn::new(&sc / "0", &sc / "1", k1.stride(stride), in_planes, out_planes)
        });
        ResidualBlock { branch, shortcut }
    }

    /// `branch(x) + shortcut(x)`, before the block's final ReLU (the reference's `preact`).
    pub fn forward_preact(&self, xs: &Tensor, train: bool) -> Tensor {
        let last = self.branch.len() - 1;
        let mut out = xs.shallow_clone();
        for (i, layer) in self.branch.iter().enumerate() {
            out = layer.forward_t(&out, train);
            if i < last {
                out = out.relu_();
            }
        }
        // In place on the fresh BN output, like the reference's `out += residual`.
        match &self.shortcut {
            Some(sc) => out += sc.forward_t(xs, train),
            None => out += xs,
        }
        out
    }
}

/// A stage (`layerN`) of residual blocks: the first one strided, the rest stride 1.
#[derive(Debug)]
pub struct Stage {
    pub blocks: Vec<ResidualBlock>,
}

impl Stage {
    /// Builds `count` blocks under `path` (`layer1.0`, `layer1.1`...), updating `in_planes`.
    pub fn new(
        path: nn::Path,
        kind: BlockKind,
        in_planes: &mut i64,
        planes: i64,
        count: usize,
        stride: i64,
        shortcut_name: &str,
    ) -> Self {
        let blocks = (0..count)
            .map(|i| {
                let s = if i == 0 { stride } else { 1 };
                let block = ResidualBlock::new(&(&path / i), kind, *in_planes, planes, s, shortcut_name);
                *in_planes = planes * kind.expansion();
                block
            })
            .collect();
        Stage { blocks }
    }

    /// CIFAR style (blocks end with a ReLU): returns (output, preact of the last block).
    pub fn forward_post_relu(&self, xs: &Tensor, train: bool) -> (Tensor, Tensor) {
        let mut out = xs.shallow_clone();
        let mut preact = xs.shallow_clone();
        for block in &self.blocks {
            preact = block.forward_preact(&out, train);
            out = preact.relu();
        }
        (out, preact)
    }
}

impl Stage {
    /// ImageNet style (blocks start with a ReLU of their input and end without one): returns the
    /// last block's pre-activation output.
    pub fn forward_pre_relu(&self, xs: &Tensor, train: bool) -> Tensor {
        let mut out = xs.shallow_clone();
        for block in &self.blocks {
            out = block.forward_preact(&out.relu(), train);
        }
        out
    }
}
