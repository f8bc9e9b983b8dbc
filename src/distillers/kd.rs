//! `KD` (Hinton et al.): CE_WEIGHT * CE + KD_WEIGHT * T^2 * batch-mean of summed
//! KL(softmax(teacher / T) || softmax(student / T)).

use anyhow::Result;
use tch::{Kind, Reduction, Tensor};

use super::{Distiller, Losses};
use crate::config::Config;
use crate::models::Model;

pub struct Kd {
    student: Box<dyn Model>,
    teacher: Box<dyn Model>,
    temperature: f64,
    ce_weight: f64,
    kd_weight: f64,
}

impl Kd {
    pub fn new(student: Box<dyn Model>, teacher: Box<dyn Model>, cfg: &Config) -> Self {
        Kd {
            student,
            teacher,
            temperature: cfg.KD.TEMPERATURE,
            ce_weight: cfg.KD.LOSS.CE_WEIGHT,
            kd_weight: cfg.KD.LOSS.KD_WEIGHT,
        }
    }
}

/// The unweighted KD term, temperature-squared scaled, as the reference's `kd_loss`.
pub fn kd_loss(student_logits: &Tensor, teacher_logits: &Tensor, temperature: f64) -> Tensor {
    let log_student = (student_logits / temperature).log_softmax(1, Kind::Float);
    // log-space target: the same value as kl_div(log q, p) without 0 * log 0 trouble.
    let log_teacher = (teacher_logits / temperature).log_softmax(1, Kind::Float);
    let per_sample = log_student
        .kl_div(&log_teacher, Reduction::None, true)
        .sum_dim_intlist(1, false, Kind::Float);
    per_sample.mean(Kind::Float) * (temperature * temperature)
}

impl Distiller for Kd {
    fn forward_train(&self, images: &Tensor, targets: &Tensor) -> Result<(Tensor, Losses)> {
        let logits = self.student.forward_t(images, true).logits;
        let teacher_logits = tch::no_grad(|| self.teacher.forward_t(images, false).logits);
        let ce = logits.cross_entropy_for_logits(targets) * self.ce_weight;
        let kd = kd_loss(&logits, &teacher_logits, self.temperature) * self.kd_weight;
        Ok((logits, vec![("loss_ce", ce), ("loss_kd", kd)]))
    }

    fn student(&self) -> &dyn Model {
        self.student.as_ref()
    }
}
