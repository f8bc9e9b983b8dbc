//! Running averages and top-k accuracy, as the reference's AverageMeter and accuracy().

use tch::{Kind, Tensor};

/// Sum and count of a per-sample quantity, averaged weighted by batch size.
#[derive(Debug, Default, Clone, Copy)]
pub struct Average {
    sum: f64,
    count: f64,
}

impl Average {
    pub fn update(&mut self, value: f64, n: usize) {
        self.sum += value * n as f64;
        self.count += n as f64;
    }

    pub fn avg(&self) -> f64 {
        if self.count == 0.0 {
            0.0
        } else {
            self.sum / self.count
        }
    }
}

/// Number of samples whose label is the top-1 and among the top-5 predictions.
pub fn correct_top1_top5(logits: &Tensor, labels: &Tensor) -> (i64, i64) {
    let k = 5.min(logits.size()[1]);
    let (_, pred) = logits.topk(k, 1, true, true);
    let hits = pred.eq_tensor(&labels.view([-1, 1]));
    let top1 = hits.narrow(1, 0, 1).sum(Kind::Int64).int64_value(&[]);
    let top5 = hits.sum(Kind::Int64).int64_value(&[]);
    (top1, top5)
}
