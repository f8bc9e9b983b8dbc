//! A data set held in memory as one u8 tensor on the training device (CIFAR-100), batched and
//! augmented there.

use anyhow::{bail, Result};
use tch::{Device, Tensor};

use super::augment::{crop_flip_index, Normalizer, CIFAR_MAX_OFFSET, CIFAR_SIDE};
use super::prefetch::Prefetch;
use super::rng::SplitMix64;
use super::{Batch, BatchSource};

/// The random choices of one training epoch: image order and, per position in that order, the
/// crop offsets and the flip.
#[derive(Debug, Clone, PartialEq)]
pub struct EpochPlan {
    pub order: Vec<i64>,
    pub dy: Vec<i64>,
    pub dx: Vec<i64>,
    pub flip: Vec<bool>,
}

impl EpochPlan {
    /// Draw the plan for `n` images from `seed` alone: permutation first, then per position the
    /// column offset, the row offset and the flip.
    pub fn draw(n: usize, seed: u64) -> Self {
        let mut rng = SplitMix64::new(seed);
        let order = rng.permutation(n);
        let (mut dy, mut dx, mut flip) = (Vec::with_capacity(n), Vec::with_capacity(n), Vec::with_capacity(n));
        let span = CIFAR_MAX_OFFSET as u64 + 1;
        for _ in 0..n {
            dx.push(rng.below(span) as i64);
            dy.push(rng.below(span) as i64);
            flip.push(rng.coin());
        }
        EpochPlan { order, dy, dx, flip }
    }
}

/// 32 x 32 RGB images and labels in device memory.
pub struct InMemorySource {
    /// All images as one flat u8 tensor (N x 3 x 32 x 32 bytes) followed by one 0 byte that the
    /// augmentation's padding pixels read.
    images: Tensor,
    labels: Tensor,
    n: usize,
    batch_size: usize,
    augment: bool,
    num_classes: i64,
    normalizer: Normalizer,
}

impl InMemorySource {
    /// `images`: N x 3072 bytes (channel-major 3 x 32 x 32), `labels`: N. With `augment`, epochs
    /// are shuffled and augmented (training); without, they go in order, normalised only (test).
    pub fn new(
        images: &[u8],
        labels: &[i64],
        batch_size: usize,
        augment: bool,
        num_classes: i64,
        device: Device,
    ) -> Result<Self> {
        let n = labels.len();
        if images.len() != n * per_image() {
            bail!("internal: {} image bytes for {n} labels", images.len());
        }
        if n == 0 {
            bail!("the data set has no images (after DATASET.REDUCTION, if set); nothing to train or test on");
        }
        if batch_size == 0 {
            bail!("the batch size must be at least 1");
        }
        let mut flat = Vec::with_capacity(images.len() + 1);
        flat.extend_from_slice(images);
        flat.push(0);
        let images = Tensor::f_from_slice(&flat)?.f_to_device(device)?;
        let labels = Tensor::f_from_slice(labels)?.f_to_device(device)?;
        Ok(InMemorySource {
            images,
            labels,
            n,
            batch_size,
            augment,
            num_classes,
            normalizer: Normalizer::cifar100(device),
        })
    }

    /// The plan `epoch(seed)` follows (training sources).
    pub fn plan(&self, seed: u64) -> EpochPlan {
        EpochPlan::draw(self.n, seed)
    }
}

impl BatchSource for InMemorySource {
    fn num_images(&self) -> usize {
        self.n
    }

    fn num_batches(&self) -> usize {
        self.n.div_ceil(self.batch_size)
    }

    fn num_classes(&self) -> i64 {
        self.num_classes
    }

    fn epoch<'a>(&'a self, seed: u64) -> Box<dyn Iterator<Item = Result<Batch>> + 'a> {
        // Shallow clones share storage with `self`; the producer thread owns these handles.
        let images = self.images.shallow_clone();
        let labels = self.labels.shallow_clone();
        let norm = self.normalizer.shallow_clone();
        let (n, bs) = (self.n, self.batch_size);
        let batches = (0..n).step_by(bs).map(move |s| (s, (s + bs).min(n)));
        if self.augment {
            let plan = EpochPlan::draw(n, seed);
            let device = images.device();
            let zero_at = (n * per_image()) as i64;
            Box::new(Prefetch::new(
                batches.map(move |(s, e)| {
                    let pixels = crop_flip_index(
                        &plan.order[s..e],
                        &plan.dy[s..e],
                        &plan.dx[s..e],
                        &plan.flip[s..e],
                        zero_at,
                    );
                    let pixels = Tensor::f_from_slice(&pixels)?.f_to_device(device)?;
                    let x = images
                        .f_index_select(0, &pixels)?
                        .view([(e - s) as i64, 3, CIFAR_SIDE, CIFAR_SIDE]);
                    let idx = Tensor::f_from_slice(&plan.order[s..e])?.f_to_device(device)?;
                    Ok(Batch {
                        images: norm.apply(&x),
                        labels: labels.f_index_select(0, &idx)?,
                    })
                }),
                2,
            ))
        } else {
            Box::new(Prefetch::new(
                batches.map(move |(s, e)| {
                    let len = (e - s) as i64;
                    let per = per_image() as i64;
                    let x = images
                        .f_narrow(0, s as i64 * per, len * per)?
                        .view([len, 3, CIFAR_SIDE, CIFAR_SIDE]);
                    Ok(Batch {
                        images: norm.apply(&x),
                        labels: labels.f_narrow(0, s as i64, len)?,
                    })
                }),
                2,
            ))
        }
    }
}

fn per_image() -> usize {
    (3 * CIFAR_SIDE * CIFAR_SIDE) as usize
}
