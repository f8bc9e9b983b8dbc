//! Data sets, batching and augmentation.

pub mod cifar100;
pub mod synthetic;
