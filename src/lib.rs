//! catkd: knowledge distillation with Class Attention Transfer (CAT-KD) on libtorch.
//!
//! Data flows one way: [`config`] -> ([`data`], [`models`], [`distillers`]) -> [`engine`] ->
//! logs and [`checkpoint`]s. [`pickle`] reads Python pickles for both CIFAR's python files and
//! PyTorch checkpoints.

pub mod checkpoint;
pub mod cli;
pub mod config;
pub mod data;
pub mod device;
pub mod distillers;
pub mod engine;
pub mod models;
pub mod pickle;
