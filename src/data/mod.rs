//! Data sets, batching and augmentation.

pub mod cifar100;
pub mod synthetic;

// Interface stubs: replaced when the data work (issue 5) lands.
use std::path::Path;

use anyhow::Result;
use tch::{Device, Tensor};

use crate::config::Config;
use crate::models::DatasetKind;

pub struct Batch {
    pub images: Tensor,
    pub labels: Tensor,
}

pub trait BatchSource: Send {
    fn num_images(&self) -> usize;
    fn num_batches(&self) -> usize;
    fn num_classes(&self) -> i64;
    fn epoch<'a>(&'a self, seed: u64) -> Box<dyn Iterator<Item = Result<Batch>> + 'a>;
}

pub fn train_loader(cfg: &Config, device: Device) -> Result<Box<dyn BatchSource>> {
    let _ = (cfg, device);
    anyhow::bail!("data loading is not available yet (issue 5)")
}

pub fn test_loader(kind: DatasetKind, root: &Path, batch_size: usize, num_workers: usize, device: Device) -> Result<Box<dyn BatchSource>> {
    let _ = (kind, root, batch_size, num_workers, device);
    anyhow::bail!("data loading is not available yet (issue 5)")
}
