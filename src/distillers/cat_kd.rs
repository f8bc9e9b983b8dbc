//! `CAT_KD`, the Class Attention Transfer family (CAT-KD, CAT, binarised CAMs, partial CAMs).
//!
//! loss_CAT = beta * MSE(pool(CAM_student), pool(CAM_teacher)), each pooled to
//! CAM_RESOLUTION x CAM_RESOLUTION by adaptive average pooling and, with IF_NORMALIZE,
//! L2-normalised over the spatial dimensions per (sample, class). Options, in the reference's
//! order: binarise the teacher's CAMs, then keep only some classes' CAMs. loss_CE is dropped
//! with onlyCAT. With `if_test` the CAMs come from the `*_test` models; without it the last
//! feature maps are compared as they are, like the reference.

use anyhow::{bail, Result};
use tch::{Kind, Reduction, Tensor};

use super::{Distiller, Losses};
use crate::config::Config;
use crate::models::Model;

/// Which classes' CAMs to transfer, chosen per sample from the teacher's logits.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum PartialCams {
    /// Strategy 0: classes whose logit is strictly above the `n`-th largest (n - 1 classes
    /// without ties).
    Top(i64),
    /// Strategy 1: the complement of "strictly above the (classes - n)-th largest" (n + 1
    /// classes without ties).
    Low(i64),
}

/// The CAT loss settings of one run.
#[derive(Debug, Clone, PartialEq)]
pub struct CatLoss {
    pub beta: f64,
    pub resolution: i64,
    pub normalize: bool,
    pub binarize: bool,
    pub partial: Option<PartialCams>,
    /// None with onlyCAT: no cross-entropy term at all.
    pub ce_weight: Option<f64>,
}

impl CatLoss {
    pub fn from_config(cfg: &Config) -> Self {
        let c = &cfg.CAT_KD;
        CatLoss {
            beta: c.LOSS.CAT_loss_weight,
            resolution: c.LOSS.CAM_RESOLUTION,
            normalize: c.IF_NORMALIZE,
            binarize: c.IF_BINARIZE,
            partial: c.IF_OnlyTransferPartialCAMs.then_some(if c.Strategy == 0 {
                PartialCams::Top(c.CAMs_Nums)
            } else {
                PartialCams::Low(c.CAMs_Nums)
            }),
            ce_weight: (!c.onlyCAT).then_some(c.LOSS.CE_WEIGHT),
        }
    }

    /// The named losses of one step from the student's logits and CAM and the teacher's.
    pub fn losses(
        &self,
        student_logits: &Tensor,
        student_cam: &Tensor,
        teacher_logits: &Tensor,
        teacher_cam: &Tensor,
        targets: &Tensor,
    ) -> Result<Losses> {
        let (sn, sc) = (student_cam.size()[0], student_cam.size()[1]);
        let (tn, tc) = (teacher_cam.size()[0], teacher_cam.size()[1]);
        if student_cam.dim() != 4 || teacher_cam.dim() != 4 || sn != tn || sc != tc {
            bail!(
                "CAT needs maps of equal batch and channel counts, but the student gives {:?} and the teacher {:?}; \
                 with if_test False the last feature maps are compared as they are, so set if_test True to compare CAMs",
                student_cam.size(),
                teacher_cam.size()
            );
        }
        let mut teacher_cam = tch::no_grad(|| teacher_cam.detach());
        if self.binarize {
            teacher_cam = binarize(&teacher_cam);
        }
        let mut student_cam = student_cam.shallow_clone();
        if let Some(partial) = self.partial {
            let mask = tch::no_grad(|| partial_mask(teacher_logits, partial));
            if let Some((t, s)) = select_classes(&teacher_cam, &student_cam, &mask) {
                teacher_cam = t;
                student_cam = s;
            }
        }
        let cat = cat_loss(&student_cam, &teacher_cam, self.resolution, self.normalize) * self.beta;
        let mut out: Losses = Vec::with_capacity(2);
        if let Some(w) = self.ce_weight {
            out.push(("loss_CE", student_logits.cross_entropy_for_logits(targets) * w));
        }
        out.push(("loss_CAT", cat));
        Ok(out)
    }
}

/// Unweighted CAT loss: MSE of the pooled (and optionally normalised) CAMs.
pub fn cat_loss(student_cam: &Tensor, teacher_cam: &Tensor, resolution: i64, normalize: bool) -> Tensor {
    let s = student_cam.adaptive_avg_pool2d([resolution, resolution]);
    let t = teacher_cam.adaptive_avg_pool2d([resolution, resolution]);
    let (s, t) = if normalize {
        (spatial_normalize(&s), spatial_normalize(&t))
    } else {
        (s, t)
    };
    s.mse_loss(&t, Reduction::Mean)
}

/// `F.normalize(x, dim=(2, 3))`: divide each (sample, class) map by its L2 norm, at least 1e-12.
fn spatial_normalize(x: &Tensor) -> Tensor {
    let norm = x
        .square()
        .sum_dim_intlist(&[2i64, 3][..], true, Kind::Float)
        .sqrt()
        .clamp_min(1e-12);
    x / norm
}

/// The teacher's binarised CAMs: 1.0 where a value exceeds the mean absolute value of its
/// (sample, class) map, else 0.0.
pub fn binarize(cam: &Tensor) -> Tensor {
    let threshold = cam.abs().mean_dim(&[2i64, 3][..], true, Kind::Float);
    cam.gt_tensor(&threshold).to_kind(cam.kind())
}

/// Boolean N x classes mask of the classes to transfer, per sample.
pub fn partial_mask(teacher_logits: &Tensor, partial: PartialCams) -> Tensor {
    let classes = teacher_logits.size()[1];
    let (sorted, _) = teacher_logits.sort(1, true);
    match partial {
        PartialCams::Top(n) => {
            let nth = sorted.narrow(1, (n - 1).clamp(0, classes - 1), 1);
            teacher_logits.gt_tensor(&nth)
        }
        PartialCams::Low(n) => {
            // The reference indexes 99 - n, assuming 100 classes; classes - 1 - n is the same there.
            let nth = sorted.narrow(1, (classes - 1 - n).clamp(0, classes - 1), 1);
            teacher_logits.gt_tensor(&nth).logical_not()
        }
    }
}

/// Keep the masked classes of both CAM stacks. When samples keep different numbers of classes
/// (only possible with tied logits) every CAM is transferred instead: the reference does that
/// only sometimes and otherwise regroups classes across samples, which is a bug.
pub fn select_classes(teacher_cam: &Tensor, student_cam: &Tensor, mask: &Tensor) -> Option<(Tensor, Tensor)> {
    let counts = mask.sum_dim_intlist(1, false, Kind::Int64);
    let first = counts.int64_value(&[0]);
    let uniform = counts.eq(first).all().int64_value(&[]) == 1;
    if !uniform || first == 0 {
        return None;
    }
    let pick = |cam: &Tensor| {
        let s = cam.size();
        let m = mask.view([s[0], s[1], 1, 1]).expand_as(cam);
        cam.masked_select(&m).view([s[0], first, s[2], s[3]])
    };
    Some((pick(teacher_cam), pick(student_cam)))
}

pub struct CatKd {
    student: Box<dyn Model>,
    teacher: Box<dyn Model>,
    loss: CatLoss,
}

impl CatKd {
    pub fn new(student: Box<dyn Model>, teacher: Box<dyn Model>, cfg: &Config) -> Self {
        CatKd {
            student,
            teacher,
            loss: CatLoss::from_config(cfg),
        }
    }
}

fn last_feature(feats: &[Tensor], who: &str) -> Result<Tensor> {
    match feats.last() {
        Some(t) => Ok(t.shallow_clone()),
        None => bail!("the {who} model returned no feature maps, so there is no CAM to transfer"),
    }
}

impl Distiller for CatKd {
    fn forward_train(&self, images: &Tensor, targets: &Tensor) -> Result<(Tensor, Losses)> {
        let s = self.student.forward_t(images, true);
        let t = tch::no_grad(|| self.teacher.forward_t(images, false));
        let student_cam = last_feature(&s.feats, "student")?;
        let teacher_cam = last_feature(&t.feats, "teacher")?;
        let losses = self
            .loss
            .losses(&s.logits, &student_cam, &t.logits, &teacher_cam, targets)?;
        Ok((s.logits, losses))
    }

    fn student(&self) -> &dyn Model {
        self.student.as_ref()
    }
}
