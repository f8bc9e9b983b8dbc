//! Distillers: how a training step turns images and labels into named losses.
//!
//! The registry is keyed by the reference's names (`NONE`, `KD`, `CAT_KD`). A distiller owns
//! the student and (for KD and CAT-KD) the teacher; the teacher always runs in eval mode under
//! `no_grad` and is never updated.

use anyhow::{bail, Result};
use tch::Tensor;

use crate::config::{Config, KNOWN_DISTILLERS};
use crate::models::Model;

pub mod cat_kd;
pub mod kd;
pub mod vanilla;

/// Named loss terms of one step; the trainer sums them.
pub type Losses = Vec<(&'static str, Tensor)>;

pub trait Distiller {
    /// One training forward: the student's logits and its named losses.
    fn forward_train(&self, images: &Tensor, targets: &Tensor) -> Result<(Tensor, Losses)>;

    /// The student network (evaluation runs it in eval mode).
    fn student(&self) -> &dyn Model;
}

/// Build the distiller named by `DISTILLER.TYPE`.
pub fn build(cfg: &Config, student: Box<dyn Model>, teacher: Option<Box<dyn Model>>) -> Result<Box<dyn Distiller>> {
    let kind = cfg.DISTILLER.TYPE.as_str();
    let need_teacher = |t: Option<Box<dyn Model>>| match t {
        Some(t) => Ok(t),
        None => bail!("distiller {kind} needs a teacher model"),
    };
    Ok(match kind {
        "NONE" => Box::new(vanilla::Vanilla::new(student)),
        "KD" => Box::new(kd::Kd::new(student, need_teacher(teacher)?, cfg)),
        "CAT_KD" => Box::new(cat_kd::CatKd::new(student, need_teacher(teacher)?, cfg)),
        other => bail!(
            "unknown DISTILLER.TYPE {other:?}; known: {}",
            KNOWN_DISTILLERS.join(", ")
        ),
    })
}

/// Whether a distiller type uses a teacher.
pub fn needs_teacher(kind: &str) -> bool {
    kind != "NONE"
}
