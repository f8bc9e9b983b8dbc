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

/// `ToTensor` + `Normalize` for u8 images, as a per-channel lookup table.
///
/// Entry `c * 256 + v` is `(v / 255 - mean[c]) / std[c]` evaluated in f32 in the same order as
/// torchvision (divide, subtract, divide), so the result equals the reference bit for bit, and
/// one gather replaces three passes over the batch.
pub struct Normalizer {
    lut: Tensor,
    /// `c * 256` shaped (1, 3, 1, 1), added to the pixel values to pick the channel's table.
    channel_offset: Tensor,
}

impl Normalizer {
    pub fn new(mean: [f32; 3], std: [f32; 3], device: Device) -> Self {
        let table = normalize_table(mean, std);
        let lut = Tensor::from_slice(&table).to_device(device);
        let channel_offset = Tensor::from_slice(&[0i64, 256, 512]).view([1, 3, 1, 1]).to_device(device);
        Normalizer { lut, channel_offset }
    }

    pub fn cifar100(device: Device) -> Self {
        Normalizer::new(CIFAR100_MEAN, CIFAR100_STD, device)
    }

    pub fn imagenet(device: Device) -> Self {
        Normalizer::new(IMAGENET_MEAN, IMAGENET_STD, device)
    }

    /// Another handle on the same tables (for a batch-preparation thread).
    pub fn shallow_clone(&self) -> Self {
        Normalizer { lut: self.lut.shallow_clone(), channel_offset: self.channel_offset.shallow_clone() }
    }

    /// N x 3 x H x W u8 -> N x 3 x H x W f32, normalised.
    pub fn apply(&self, images: &Tensor) -> Tensor {
        let index = images.to_kind(Kind::Int64) + &self.channel_offset;
        self.lut.take(&index).contiguous()
    }
}

/// The normalisation table `(v / 255 - mean) / std` for v in 0..=255, channel-major.
pub fn normalize_table(mean: [f32; 3], std: [f32; 3]) -> Vec<f32> {
    let mut t = Vec::with_capacity(3 * 256);
    for c in 0..3 {
        for v in 0..256u32 {
            t.push((v as f32 / 255.0 - mean[c]) / std[c]);
        }
    }
    t
}

/// Random crop with zero padding and horizontal flip for a batch of N x 3 x 32 x 32 u8 images.
///
/// Image `b` is padded with `CIFAR_PAD` zero pixels on each side, cropped to 32 x 32 at rows
/// `dy[b]..dy[b]+32` and columns `dx[b]..dx[b]+32` of the padded image (offsets in
/// `0..=CIFAR_MAX_OFFSET`), then mirrored left-right when `flip[b]`. Crop and flip are one gather
/// with a computed index, so the whole batch costs a pad and a `take`.
pub fn crop_flip(images: &Tensor, dy: &[i64], dx: &[i64], flip: &[bool]) -> Tensor {
    let n = dy.len() as i64;
    debug_assert_eq!(images.size(), vec![n, 3, CIFAR_SIDE, CIFAR_SIDE]);
    let device = images.device();
    let side = CIFAR_SIDE;
    let padded_side = side + 2 * CIFAR_PAD;
    let padded = images.constant_pad_nd([CIFAR_PAD, CIFAR_PAD, CIFAR_PAD, CIFAR_PAD]);

    let opts = (Kind::Int64, device);
    let ar = Tensor::arange(side, opts);
    let dy = Tensor::from_slice(dy).to_device(device).view([n, 1, 1, 1]);
    let dx = Tensor::from_slice(dx).to_device(device).view([n, 1, 1, 1]);
    let flip: Vec<i64> = flip.iter().map(|&f| i64::from(f)).collect();
    let flip = Tensor::from_slice(&flip).to_device(device).view([n, 1, 1, 1]);
    // Column j of the output reads column j (or 31 - j when flipped) of the crop window.
    let col_in_crop = ar.view([1, 1, 1, side]) + flip * (ar.view([1, 1, 1, side]) * -2 + (side - 1));
    let rows = dy + ar.view([1, 1, side, 1]);
    let cols = dx + col_in_crop;
    let plane = padded_side * padded_side;
    let base = Tensor::arange(n, opts).view([n, 1, 1, 1]) * (3 * plane) + Tensor::arange(3, opts).view([1, 3, 1, 1]) * plane;
    let index = base + rows * padded_side + cols;
    padded.reshape([-1]).take(&index)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_matches_formula() {
        let t = normalize_table(CIFAR100_MEAN, CIFAR100_STD);
        assert_eq!(t[0], (0.0 - 0.5071f32) / 0.2675);
        assert_eq!(t[256 + 255], (1.0 - 0.4867f32) / 0.2565);
    }
}
