//! The model registry: reference names -> builders, default teacher checkpoints and FC names,
//! plus `catkd models`.

use anyhow::{bail, Result};
use tch::{nn, Device, Kind, Tensor};

use super::cifar::{mobilenetv2, resnet, resnetv2, shufflenetv1, shufflenetv2, vgg, wrn};
use super::imagenet::{mobilenetv1, resnet as imagenet_resnet};
use super::residual::BlockKind;
use super::{DatasetKind, HeadKind, Model, ModelInfo};

/// CIFAR-100 names in the reference's registry order (teachers first).
const CIFAR_NAMES: [&str; 38] = [
    "resnet32x4_test",
    "resnet56",
    "resnet56_test",
    "resnet110",
    "resnet110_test",
    "resnet32x4",
    "ResNet50",
    "ResNet50_test",
    "wrn_40_2",
    "wrn_40_2_test",
    "vgg13",
    "vgg13_test",
    "resnet8",
    "resnet14",
    "resnet20",
    "resnet20_test",
    "resnet32",
    "resnet32_test",
    "resnet44",
    "resnet8x4",
    "resnet8x4_test",
    "ResNet18",
    "wrn_16_1",
    "wrn_16_2",
    "wrn_16_2_test",
    "wrn_40_1",
    "wrn_40_1_test",
    "vgg8",
    "vgg8_test",
    "vgg11",
    "vgg16",
    "vgg19",
    "MobileNetV2",
    "MobileNetV2_test",
    "ShuffleV1",
    "ShuffleV1_test",
    "ShuffleV2",
    "ShuffleV2_test",
];

/// ImageNet names in the reference's registry order.
const IMAGENET_NAMES: [&str; 10] = [
    "ResNet18",
    "ResNet34",
    "ResNet50",
    "ResNet101",
    "MobileNetV2",
    "ResNet18_test",
    "ResNet34_test",
    "ResNet50_test",
    "ResNet101_test",
    "MobileNetV2_test",
];

const CAM_SUFFIX: &str = "_test";

fn names(dataset: DatasetKind) -> &'static [&'static str] {
    match dataset {
        DatasetKind::Cifar100 => &CIFAR_NAMES,
        DatasetKind::Imagenet => &IMAGENET_NAMES,
    }
}

/// The CAM variant's name of a plain model (`resnet32x4` -> `resnet32x4_test`).
pub fn cam_variant_name(name: &str) -> String {
    format!("{name}{CAM_SUFFIX}")
}

/// Where the reference expects a pretrained CIFAR-100 teacher.
fn teacher_checkpoint(name: &str, dataset: DatasetKind) -> Option<&'static str> {
    if dataset != DatasetKind::Cifar100 {
        return None;
    }
    match name {
        "resnet56" => Some("download_ckpts/cifar_teachers/resnet56_vanilla/ckpt_epoch_240.pth"),
        "resnet110" => Some("download_ckpts/cifar_teachers/resnet110_vanilla/ckpt_epoch_240.pth"),
        "resnet32x4" => Some("download_ckpts/cifar_teachers/resnet32x4_vanilla/ckpt_epoch_240.pth"),
        "ResNet50" => Some("download_ckpts/cifar_teachers/ResNet50_vanilla/ckpt_epoch_240.pth"),
        "wrn_40_2" => Some("download_ckpts/cifar_teachers/wrn_40_2_vanilla/ckpt_epoch_240.pth"),
        "vgg13" => Some("download_ckpts/cifar_teachers/vgg13_vanilla/ckpt_epoch_240.pth"),
        _ => None,
    }
}

/// The FC layer's variable prefix of a plain model.
fn fc_key(name: &str, dataset: DatasetKind) -> &'static str {
    match (dataset, name) {
        (DatasetKind::Cifar100, "ResNet18" | "ResNet50" | "ShuffleV1" | "ShuffleV2") => "linear",
        (DatasetKind::Cifar100, "MobileNetV2") => "classifier.0",
        (DatasetKind::Cifar100, n) if n.starts_with("vgg") => "classifier",
        _ => "fc",
    }
}

/// Reference state-dict keys this port leaves out of a model (besides `num_batches_tracked`):
/// importing a reference checkpoint should skip them, exporting cannot produce them. Only CIFAR
/// `MobileNetV2_test`'s unused `classifier.0` layer (see [`super::cifar::mobilenetv2`]).
pub fn ignored_reference_keys(info: &ModelInfo) -> &'static [&'static str] {
    match (info.dataset, info.name) {
        (DatasetKind::Cifar100, "MobileNetV2_test") => &["classifier.0.weight", "classifier.0.bias"],
        _ => &[],
    }
}

/// Look a model up by its reference name within a data set.
pub fn lookup(name: &str, dataset: DatasetKind) -> Result<ModelInfo> {
    let known = names(dataset);
    let Some(&name) = known.iter().find(|&&n| n == name) else {
        let hint = match crate::config::closest(name, known.iter().copied()) {
            Some(c) => format!(" Did you mean `{c}`?"),
            None => String::new(),
        };
        bail!(
            "unknown model `{name}` for {}.{hint} Known models: {}.",
            dataset.as_str(),
            known.join(", ")
        );
    };
    let is_cam = name.ends_with(CAM_SUFFIX);
    Ok(ModelInfo {
        name,
        dataset,
        teacher_checkpoint: teacher_checkpoint(name, dataset),
        fc_key: (!is_cam).then(|| fc_key(name, dataset)),
        is_cam,
    })
}

/// Every registered model, CIFAR-100 first, in a stable order.
pub fn registry() -> Vec<ModelInfo> {
    [DatasetKind::Cifar100, DatasetKind::Imagenet]
        .into_iter()
        .flat_map(|d| names(d).iter().filter_map(move |n| lookup(n, d).ok()))
        .collect()
}

/// Build a model into `vs` (its variables get the reference's state-dict names).
pub fn build(name: &str, dataset: DatasetKind, vs: &nn::Path) -> Result<Box<dyn Model>> {
    let info = lookup(name, dataset)?;
    let head = if info.is_cam { HeadKind::Cam } else { HeadKind::Fc };
    let base = info.name.strip_suffix(CAM_SUFFIX).unwrap_or(info.name);
    let k = dataset.num_classes();
    let model: Box<dyn Model> = match dataset {
        DatasetKind::Cifar100 => match base {
            "resnet8" => Box::new(resnet::CifarResNet::new(vs, 8, resnet::NARROW, k, head)),
            "resnet14" => Box::new(resnet::CifarResNet::new(vs, 14, resnet::NARROW, k, head)),
            "resnet20" => Box::new(resnet::CifarResNet::new(vs, 20, resnet::NARROW, k, head)),
            "resnet32" => Box::new(resnet::CifarResNet::new(vs, 32, resnet::NARROW, k, head)),
            "resnet44" => Box::new(resnet::CifarResNet::new(vs, 44, resnet::NARROW, k, head)),
            "resnet56" => Box::new(resnet::CifarResNet::new(vs, 56, resnet::NARROW, k, head)),
            "resnet110" => Box::new(resnet::CifarResNet::new(vs, 110, resnet::NARROW, k, head)),
            "resnet8x4" => Box::new(resnet::CifarResNet::new(vs, 8, resnet::WIDE, k, head)),
            "resnet32x4" => Box::new(resnet::CifarResNet::new(vs, 32, resnet::WIDE, k, head)),
            "ResNet18" => Box::new(resnetv2::CifarResNetV2::new(
                vs,
                BlockKind::Basic,
                [2, 2, 2, 2],
                k,
                head,
            )),
            "ResNet50" => Box::new(resnetv2::CifarResNetV2::new(
                vs,
                BlockKind::Bottleneck,
                [3, 4, 6, 3],
                k,
                head,
            )),
            "wrn_16_1" => Box::new(wrn::WideResNet::new(vs, 16, 1, k, head)),
            "wrn_16_2" => Box::new(wrn::WideResNet::new(vs, 16, 2, k, head)),
            "wrn_40_1" => Box::new(wrn::WideResNet::new(vs, 40, 1, k, head)),
            "wrn_40_2" => Box::new(wrn::WideResNet::new(vs, 40, 2, k, head)),
            "vgg8" | "vgg11" | "vgg13" | "vgg16" | "vgg19" => {
                let depth: i64 = base[3..].parse()?;
                let Some(convs) = vgg::convs_per_block(depth) else {
                    bail!("no VGG of depth {depth}")
                };
                Box::new(vgg::Vgg::new(vs, convs, k, head))
            }
            "MobileNetV2" => Box::new(mobilenetv2::CifarMobileNetV2::new(vs, 6, 0.5, k, head)),
            "ShuffleV1" => Box::new(shufflenetv1::ShuffleNetV1::new(vs, &shufflenetv1::SHUFFLE_V1, k, head)),
            "ShuffleV2" => Box::new(shufflenetv2::ShuffleNetV2::new(vs, &shufflenetv2::SHUFFLE_V2, k, head)),
            _ => bail!("model `{name}` is registered for cifar100 but has no builder"),
        },
        DatasetKind::Imagenet => {
            let resnet = |kind, blocks| -> Box<dyn Model> {
                Box::new(imagenet_resnet::ImagenetResNet::new(vs, kind, blocks, k, head))
            };
            match base {
                "ResNet18" => resnet(BlockKind::Basic, [2, 2, 2, 2]),
                "ResNet34" => resnet(BlockKind::Basic, [3, 4, 6, 3]),
                "ResNet50" => resnet(BlockKind::Bottleneck, [3, 4, 6, 3]),
                "ResNet101" => resnet(BlockKind::Bottleneck, [3, 4, 23, 3]),
                // The reference's name for a MobileNetV1 (kept for config compatibility).
                "MobileNetV2" => Box::new(mobilenetv1::MobileNetV1::new(vs, k, head)),
                _ => bail!("model `{name}` is registered for imagenet but has no builder"),
            }
        }
    };
    Ok(model)
}

/// A registered model's size and output shapes, from a CPU forward pass on zeros.
#[derive(Debug, Clone)]
pub struct ModelSummary {
    pub info: ModelInfo,
    /// Trainable parameters.
    pub params: i64,
    pub logits: Vec<i64>,
    /// Shape of the CAM (the last feature) for CAM variants.
    pub cam: Option<Vec<i64>>,
}

/// Build `info`'s model on the CPU and run one eval forward on zeros (2x3x32x32 for CIFAR,
/// 1x3x224x224 for ImageNet).
pub fn summarize(info: &ModelInfo) -> Result<ModelSummary> {
    let vs = nn::VarStore::new(Device::Cpu);
    let model = build(info.name, info.dataset, &vs.root())?;
    let params = vs.trainable_variables().iter().map(Tensor::numel).sum::<usize>() as i64;
    let input_shape: [i64; 4] = match info.dataset {
        DatasetKind::Cifar100 => [2, 3, 32, 32],
        DatasetKind::Imagenet => [1, 3, 224, 224],
    };
    let out = tch::no_grad(|| model.forward_t(&Tensor::zeros(input_shape, (Kind::Float, Device::Cpu)), false));
    let cam = if info.is_cam {
        out.feats.last().map(Tensor::size)
    } else {
        None
    };
    Ok(ModelSummary {
        info: info.clone(),
        params,
        logits: out.logits.size(),
        cam,
    })
}

fn shape_text(shape: &[i64]) -> String {
    shape.iter().map(i64::to_string).collect::<Vec<_>>().join("x")
}

/// `catkd models [--json]`: one row per registered model. The JSON form is an array with one
/// object per line (keys `name`, `dataset`, `params`, `logits`, `cam`, `teacher_checkpoint`).
pub fn print_registry(json: bool) -> Result<()> {
    let summaries = registry().iter().map(summarize).collect::<Result<Vec<_>>>()?;
    write_stdout(&format_registry(&summaries, json)?)
}

/// The text `catkd models` prints for `summaries`: a table, or JSON with `json`.
pub fn format_registry(summaries: &[ModelSummary], json: bool) -> Result<String> {
    if json {
        registry_json(summaries)
    } else {
        Ok(registry_table(summaries))
    }
}

fn registry_json(summaries: &[ModelSummary]) -> Result<String> {
    let rows = summaries
        .iter()
        .map(|s| {
            serde_json::to_string(&serde_json::json!({
                "name": s.info.name,
                "dataset": s.info.dataset.as_str(),
                "params": s.params,
                "logits": s.logits,
                "cam": s.cam,
                "teacher_checkpoint": s.info.teacher_checkpoint,
            }))
        })
        .collect::<serde_json::Result<Vec<_>>>()?;
    Ok(format!("[\n{}\n]\n", rows.join(",\n")))
}

fn registry_table(summaries: &[ModelSummary]) -> String {
    let mut text = format!(
        "{:<18} {:<9} {:>11} {:<9} {:<12} teacher checkpoint\n",
        "name", "dataset", "params", "logits", "cam"
    );
    for s in summaries {
        text += &format!(
            "{:<18} {:<9} {:>11} {:<9} {:<12} {}\n",
            s.info.name,
            s.info.dataset.as_str(),
            s.params,
            shape_text(&s.logits),
            s.cam.as_deref().map(shape_text).unwrap_or_else(|| "-".into()),
            s.info.teacher_checkpoint.unwrap_or("-"),
        );
    }
    text
}

/// Writes to stdout; a closed pipe (`catkd models | head`) is not an error.
fn write_stdout(text: &str) -> Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}
