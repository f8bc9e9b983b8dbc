//! `NONE`: plain training with cross-entropy on the student.

use anyhow::Result;
use tch::Tensor;

use super::{Distiller, Losses};
use crate::models::Model;

pub struct Vanilla {
    student: Box<dyn Model>,
}

impl Vanilla {
    pub fn new(student: Box<dyn Model>) -> Self {
        Vanilla { student }
    }
}

impl Distiller for Vanilla {
    fn forward_train(&self, images: &Tensor, targets: &Tensor) -> Result<(Tensor, Losses)> {
        let logits = self.student.forward_t(images, true).logits;
        let ce = logits.cross_entropy_for_logits(targets);
        // The reference names this term "ce".
        Ok((logits, vec![("ce", ce)]))
    }

    fn student(&self) -> &dyn Model {
        self.student.as_ref()
    }
}
