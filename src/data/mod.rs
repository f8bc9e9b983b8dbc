//! Data sets, batching and augmentation.
//!
//! A [`BatchSource`] yields the batches of one epoch, already normalised and on the training
//! device. CIFAR-100 lives in device memory as one u8 tensor and is augmented there in batches
//! ([`memory`], [`augment`]); ImageNet is decoded from JPEG files on a pool of threads
//! ([`imagenet`]).

use std::path::Path;

use anyhow::{bail, Result};
use tch::{Device, Tensor};

use crate::config::Config;
use crate::models::DatasetKind;

pub mod augment;
pub mod cifar100;
pub mod download;
pub mod imagenet;
pub mod memory;
pub mod prefetch;
pub mod rng;
pub mod synthetic;

/// One batch, ready for the model.
pub struct Batch {
    /// N x 3 x H x W, f32, normalised, on the loader's device.
    pub images: Tensor,
    /// N, i64, same device.
    pub labels: Tensor,
}

/// The batches of a data split, one epoch at a time.
pub trait BatchSource: Send {
    fn num_images(&self) -> usize;
    fn num_batches(&self) -> usize;
    fn num_classes(&self) -> i64;
    /// All batches of one epoch. Training sources shuffle and augment with randomness derived
    /// only from `seed` (same seed, same batches bit for bit, whatever torch's global RNG did).
    /// Test sources ignore the seed and go in file order.
    fn epoch<'a>(&'a self, seed: u64) -> Box<dyn Iterator<Item = Result<Batch>> + 'a>;
}

/// Training loader for the configured data set (DATASET.TYPE/ROOT/DOWNLOAD/REDUCTION...,
/// SOLVER.BATCH_SIZE, DATASET.NUM_WORKERS).
pub fn train_loader(cfg: &Config, device: Device) -> Result<Box<dyn BatchSource>> {
    let d = &cfg.DATASET;
    let root = Path::new(&d.ROOT);
    let batch_size = positive(cfg.SOLVER.BATCH_SIZE, "SOLVER.BATCH_SIZE")?;
    match d.TYPE.as_str() {
        "cifar100" => {
            let mut split = cifar100::load_split(root, true, d.DOWNLOAD)?;
            if d.REDUCTION {
                let keep = cifar100::reduction_indices(&split.labels, d.RESERVED_CLASS_NUM, d.RESERVED_RATE);
                tracing::info!(
                    "data reduction: {} of {} training images kept (classes 0..{}, rate {})",
                    keep.len(),
                    split.len(),
                    d.RESERVED_CLASS_NUM,
                    d.RESERVED_RATE
                );
                split = split.select(&keep);
            }
            let src = memory::InMemorySource::new(
                &split.images,
                &split.labels,
                batch_size,
                true,
                cifar100::NUM_CLASSES,
                device,
            )?;
            Ok(Box::new(src))
        }
        "imagenet" => {
            let workers = usize::try_from(d.NUM_WORKERS).unwrap_or(0);
            Ok(Box::new(imagenet::ImageFolderSource::open(
                &root.join("imagenet").join("train"),
                true,
                batch_size,
                workers,
                device,
            )?))
        }
        other => bail!("DATASET.TYPE {other:?} is not supported; use \"cifar100\" or \"imagenet\""),
    }
}

/// Test loader (file order, no augmentation).
pub fn test_loader(
    kind: DatasetKind,
    root: &Path,
    batch_size: usize,
    num_workers: usize,
    device: Device,
) -> Result<Box<dyn BatchSource>> {
    if batch_size == 0 {
        bail!("the test batch size must be at least 1");
    }
    match kind {
        DatasetKind::Cifar100 => {
            let split = cifar100::load_split(root, false, false)?;
            Ok(Box::new(memory::InMemorySource::new(
                &split.images,
                &split.labels,
                batch_size,
                false,
                cifar100::NUM_CLASSES,
                device,
            )?))
        }
        DatasetKind::Imagenet => Ok(Box::new(imagenet::ImageFolderSource::open(
            &root.join("imagenet").join("val"),
            false,
            batch_size,
            num_workers,
            device,
        )?)),
    }
}

fn positive(v: i64, key: &str) -> Result<usize> {
    match usize::try_from(v) {
        Ok(n) if n > 0 => Ok(n),
        _ => bail!("{key} must be at least 1, found {v}"),
    }
}
