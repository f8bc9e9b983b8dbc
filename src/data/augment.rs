//! Batched image transforms on the device: the reference's CIFAR training augmentation
//! (zero-pad 4, random 32x32 crop, horizontal flip) and ToTensor + Normalize.
//!
//! The random draws come from the CPU ([`super::rng`]); the pixels never leave the device.

use tch::{Device, Kind, Tensor};

/// CIFAR-100 channel statistics used by the reference.
pub const CIFAR100_MEAN: [f32; 3] = [0.5071, 0.4867, 0.4408];
pub const CIFAR100_STD: [f32; 3] = [0.2675, 0.2565, 0.2761];
/// ImageNet channel statistics used by the reference.
pub const IMAGENET_MEAN: [f32; 3] = [0.485, 0.456, 0.406];
pub const IMAGENET_STD: [f32; 3] = [0.229, 0.224, 0.225];

/// Zero padding on each side before the random crop (torchvision `RandomCrop(32, padding=4)`).
pub const CIFAR_PAD: i64 = 4;
/// CIFAR image side.
pub const CIFAR_SIDE: i64 = 32;
/// Largest crop offset on each axis: offsets are uniform in `0..=CIFAR_MAX_OFFSET`.
pub const CIFAR_MAX_OFFSET: i64 = 2 * CIFAR_PAD;

/// `ToTensor` + `Normalize` for u8 images: `(x / 255 - mean) / std` per channel, in f32, with the
/// same operations in the same order as torchvision, so the result equals the reference's.
pub struct Normalizer {
    mean: Tensor,
    std: Tensor,
}

impl Normalizer {
    pub fn new(mean: [f32; 3], std: [f32; 3], device: Device) -> Self {
        let mean = Tensor::from_slice(&mean).view([1, 3, 1, 1]).to_device(device);
        let std = Tensor::from_slice(&std).view([1, 3, 1, 1]).to_device(device);
        Normalizer { mean, std }
    }

    pub fn cifar100(device: Device) -> Self {
        Normalizer::new(CIFAR100_MEAN, CIFAR100_STD, device)
    }

    pub fn imagenet(device: Device) -> Self {
        Normalizer::new(IMAGENET_MEAN, IMAGENET_STD, device)
    }

    /// Another handle on the same statistics (for a batch-preparation thread).
    pub fn shallow_clone(&self) -> Self {
        Normalizer {
            mean: self.mean.shallow_clone(),
            std: self.std.shallow_clone(),
        }
    }

    /// N x 3 x H x W u8 -> N x 3 x H x W f32, normalised, contiguous.
    pub fn apply(&self, images: &Tensor) -> Tensor {
        let x = images.to_kind(Kind::Float).contiguous();
        ((x / 255.0 - &self.mean) / &self.std).contiguous()
    }
}

/// The normalisation `(v / 255 - mean) / std` for v in 0..=255, channel-major (entry c * 256 + v),
/// computed on the CPU in f32: what every normalised pixel must equal.
pub fn normalize_table(mean: [f32; 3], std: [f32; 3]) -> Vec<f32> {
    let mut t = Vec::with_capacity(3 * 256);
    for c in 0..3 {
        for v in 0..256u32 {
            t.push((v as f32 / 255.0 - mean[c]) / std[c]);
        }
    }
    t
}

/// Gather index for random crops with zero padding and horizontal flips, computed on the CPU.
///
/// `images[k]` is the position (image number) in a flat u8 tensor of 3 x 32 x 32 channel-major
/// images whose element `zero_at` is 0. Output image `k` is that image padded with `CIFAR_PAD`
/// zero pixels on each side, cropped to 32 x 32 at rows `dy[k]..dy[k]+32` and columns
/// `dx[k]..dx[k]+32` of the padded image (offsets in `0..=CIFAR_MAX_OFFSET`), then mirrored
/// left-right when `flip[k]`; padding pixels read element `zero_at`. One `index_select` with
/// this index on the device does crop, pad and flip for the whole batch without touching
/// other pixels.
pub fn crop_flip_index(images: &[i64], dy: &[i64], dx: &[i64], flip: &[bool], zero_at: i64) -> Vec<i64> {
    let side = CIFAR_SIDE;
    let plane = side * side;
    let mut index = Vec::with_capacity(images.len() * 3 * plane as usize);
    let mut row = [0i64; CIFAR_SIDE as usize];
    for k in 0..images.len() {
        let base = images[k] * 3 * plane;
        for c in 0..3 {
            for i in 0..side {
                let y = dy[k] + i - CIFAR_PAD;
                for (j, r) in row.iter_mut().enumerate() {
                    let j = j as i64;
                    let x = dx[k] + if flip[k] { side - 1 - j } else { j } - CIFAR_PAD;
                    *r = if (0..side).contains(&y) && (0..side).contains(&x) {
                        base + c * plane + y * side + x
                    } else {
                        zero_at
                    };
                }
                index.extend_from_slice(&row);
            }
        }
    }
    index
}

/// Random crop with zero padding and horizontal flip of a batch of N x 3 x 32 x 32 u8 images
/// (see [`crop_flip_index`]); the loaders use the index on the whole data set directly.
pub fn crop_flip(images: &Tensor, dy: &[i64], dx: &[i64], flip: &[bool]) -> Tensor {
    let n = dy.len() as i64;
    let device = images.device();
    let flat = Tensor::cat(&[images.reshape([-1]), Tensor::zeros([1], (Kind::Uint8, device))], 0);
    let order: Vec<i64> = (0..n).collect();
    let index = crop_flip_index(&order, dy, dx, flip, n * 3 * CIFAR_SIDE * CIFAR_SIDE);
    let index = Tensor::from_slice(&index).to_device(device);
    flat.index_select(0, &index).view([n, 3, CIFAR_SIDE, CIFAR_SIDE])
}
