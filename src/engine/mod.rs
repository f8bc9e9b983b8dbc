//! Training and evaluation.

pub mod eval;
pub mod trainer;
