//! Evaluation on the test set, as the reference's `validate`: top-1 and top-5 in percent over
//! all test images and the mean cross-entropy.

use anyhow::{Context, Result};
use serde::Serialize;
use tch::{nn, Device};

use crate::cli::{DatasetArg, EvalArgs};
use crate::data::BatchSource;
use crate::engine::metrics::{correct_top1_top5, Average};
use crate::models::{self, DatasetKind, Model};

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct EvalResult {
    pub top1: f64,
    pub top5: f64,
    pub loss: f64,
    pub num_images: usize,
}

/// Run `model` in eval mode over every batch of `loader`.
pub fn evaluate(model: &dyn Model, loader: &dyn BatchSource) -> Result<EvalResult> {
    let mut loss = Average::default();
    let (mut top1, mut top5, mut n) = (0i64, 0i64, 0usize);
    tch::no_grad(|| -> Result<()> {
        for batch in loader.epoch(0) {
            let batch = batch?;
            let logits = model.forward_t(&batch.images, false).logits;
            let b = batch.labels.size()[0] as usize;
            let ce = logits.cross_entropy_for_logits(&batch.labels).double_value(&[]);
            loss.update(ce, b);
            let (c1, c5) = correct_top1_top5(&logits, &batch.labels);
            top1 += c1;
            top5 += c5;
            n += b;
        }
        Ok(())
    })?;
    let pct = |c: i64| if n == 0 { 0.0 } else { 100.0 * c as f64 / n as f64 };
    Ok(EvalResult {
        top1: pct(top1),
        top5: pct(top5),
        loss: loss.avg(),
        num_images: n,
    })
}

/// `catkd eval`: build the model, load the checkpoint (converting a plain one for a `*_test`
/// model), evaluate on the test split, print the numbers.
pub fn run_cli(args: &EvalArgs) -> Result<()> {
    let kind = match args.dataset {
        DatasetArg::Cifar100 => DatasetKind::Cifar100,
        DatasetArg::Imagenet => DatasetKind::Imagenet,
    };
    if args.batch_size < 1 {
        anyhow::bail!("--batch-size must be at least 1, found {}", args.batch_size);
    }
    let info = models::lookup(&args.model, kind)?;
    let device = crate::device::select(0);
    let vs = nn::VarStore::new(device);
    let model = models::build(info.name, kind, &vs.root())?;
    crate::checkpoint::load_model_weights(&vs, &info, &args.ckpt)
        .with_context(|| format!("cannot load {} into {}", args.ckpt.display(), info.name))?;
    let loader = crate::data::test_loader(kind, &args.data_dir, args.batch_size as usize, 2, device)?;
    let r = evaluate(model.as_ref(), loader.as_ref())?;
    if args.json {
        // Field order as documented: model, top1, top5, loss, num_images.
        #[derive(Serialize)]
        struct Line<'a> {
            model: &'a str,
            top1: f64,
            top5: f64,
            loss: f64,
            num_images: usize,
        }
        let line = Line {
            model: info.name,
            top1: r.top1,
            top5: r.top5,
            loss: r.loss,
            num_images: r.num_images,
        };
        println!("{}", serde_json::to_string(&line)?);
    } else {
        println!(
            "{}: top-1 {:.2}%  top-5 {:.2}%  loss {:.4}  on {} {} test images ({})",
            info.name,
            r.top1,
            r.top5,
            r.loss,
            r.num_images,
            kind.as_str(),
            if device == Device::Cpu { "CPU" } else { "GPU" }
        );
    }
    Ok(())
}
