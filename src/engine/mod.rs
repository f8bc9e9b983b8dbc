//! Training and evaluation.

pub mod eval;
pub mod log;
pub mod metrics;
pub mod optim;
pub mod trainer;
