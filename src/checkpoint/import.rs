//! Copy checkpoint tensors into a model's `VarStore`, converting a plain teacher's checkpoint
//! for its CAM (`*_test`) variant on the way.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{anyhow, bail, Result};
use tch::{nn, Tensor};

use crate::models::{self, ModelInfo};

/// How many names an error or warning lists before "and N more".
const LIST_MAX: usize = 12;

fn list(names: &[&str]) -> String {
    let mut s = names.iter().take(LIST_MAX).copied().collect::<Vec<_>>().join(", ");
    if names.len() > LIST_MAX {
        s.push_str(&format!(" and {} more", names.len() - LIST_MAX));
    }
    s
}

/// Copy tensors into the VarStore (see [`import_into_ignoring`]), with nothing ignored.
pub fn import_into(vs: &nn::VarStore, tensors: &BTreeMap<String, Tensor>) -> Result<()> {
    import_into_ignoring(vs, tensors, &[])
}

/// Copy tensors into the VarStore. Every variable needs a tensor of the same shape (else an
/// error naming the key, the expected and the found shape, or listing the missing keys); nothing
/// is changed unless all match. Checkpoint keys the model lacks are ignored with one warning,
/// silently when they start with one of `ignore_prefixes`; `num_batches_tracked` counters are
/// skipped. Values are converted to each variable's dtype and device, under no_grad.
pub fn import_into_ignoring(
    vs: &nn::VarStore,
    tensors: &BTreeMap<String, Tensor>,
    ignore_prefixes: &[&str],
) -> Result<()> {
    let vars: BTreeMap<String, Tensor> = vs.variables().into_iter().collect();
    let mut missing = Vec::new();
    for (name, var) in &vars {
        match tensors.get(name) {
            None => missing.push(name.as_str()),
            Some(t) if t.size() != var.size() => {
                bail!("checkpoint tensor {name} has shape {:?} but the model expects {:?}; is the checkpoint for another model or number of classes?", t.size(), var.size())
            }
            Some(_) => {}
        }
    }
    if !missing.is_empty() {
        bail!(
            "the checkpoint lacks {} of the model's {} tensors: {}; is it for another model?",
            missing.len(),
            vars.len(),
            list(&missing)
        );
    }
    let unexpected: Vec<&str> = tensors
        .keys()
        .map(String::as_str)
        .filter(|k| {
            !vars.contains_key(*k)
                && !k.ends_with("num_batches_tracked")
                && !ignore_prefixes.iter().any(|p| k.starts_with(p))
        })
        .collect();
    if !unexpected.is_empty() {
        tracing::warn!(
            "ignoring {} checkpoint tensors the model does not have: {}",
            unexpected.len(),
            list(&unexpected)
        );
    }
    tch::no_grad(|| -> Result<()> {
        for (name, var) in &vars {
            let src = &tensors[name];
            let src = src.f_to_kind(var.kind())?.f_to_device(var.device())?;
            let mut dst = var.shallow_clone();
            dst.f_copy_(&src)
                .map_err(|e| anyhow!("cannot copy checkpoint tensor {name} into the model: {e}"))?;
        }
        Ok(())
    })
}

/// When a CAM model (`is_cam`) is given a plain model's checkpoint (it has `<fc_key>.weight` and
/// no `conv_test.weight`), convert it with [`models::cam::convert_to_cam`]. Returns the tensors
/// to import and whether they were converted.
pub fn plain_to_cam(
    tensors: BTreeMap<String, Tensor>,
    is_cam: bool,
    fc_key: Option<&str>,
) -> Result<(BTreeMap<String, Tensor>, bool)> {
    match fc_key {
        Some(fc)
            if is_cam && !tensors.contains_key("conv_test.weight") && tensors.contains_key(&format!("{fc}.weight")) =>
        {
            Ok((models::cam::convert_to_cam(&tensors, fc)?, true))
        }
        _ => Ok((tensors, false)),
    }
}

/// A reference distiller checkpoint (`latest`, `best`, `epoch_N`) holds `student.<key>` and
/// `teacher.<key>`: when none of the model's own keys is there, take the student's.
fn student_of_distiller(
    vs: &nn::VarStore,
    tensors: BTreeMap<String, Tensor>,
    source: &Path,
) -> BTreeMap<String, Tensor> {
    let vars = vs.variables();
    if vars.keys().any(|k| tensors.contains_key(k)) || !tensors.keys().any(|k| k.starts_with("student.")) {
        return tensors;
    }
    tracing::info!(
        "{} is a distiller's checkpoint: loading its student.* weights",
        source.display()
    );
    tensors
        .into_iter()
        .filter_map(|(k, v)| k.strip_prefix("student.").map(|s| (s.to_string(), v)))
        .collect()
}

/// Import checkpoint tensors (read from `source`) into `model`'s VarStore, converting a plain
/// checkpoint for a CAM model (see [`plain_to_cam`]) with one log line saying so.
pub fn load_weights_as(
    vs: &nn::VarStore,
    tensors: BTreeMap<String, Tensor>,
    model: &str,
    is_cam: bool,
    fc_key: Option<&str>,
    source: &Path,
) -> Result<()> {
    let tensors = student_of_distiller(vs, tensors, source);
    let (tensors, converted) = plain_to_cam(tensors, is_cam, fc_key)
        .map_err(|e| anyhow!("cannot convert {} for {model}: {e:#}", source.display()))?;
    if converted {
        tracing::info!(
            "{} holds a plain model's weights: converted its {} layer to conv_test for {model}",
            source.display(),
            fc_key.unwrap_or("fc")
        );
    }
    import_into(vs, &tensors).map_err(|e| anyhow!("cannot load {} into {model}: {e:#}", source.display()))
}

/// Load weights for a registry model from any checkpoint [`super::read_checkpoint`] reads; a
/// `*_test` model given its plain model's checkpoint gets it converted.
pub fn load_model_weights(vs: &nn::VarStore, info: &ModelInfo, path: &Path) -> Result<()> {
    let c = super::read_checkpoint(path)?;
    let fc_key = if info.is_cam && !c.tensors.contains_key("conv_test.weight") {
        let plain = info.name.strip_suffix("_test").unwrap_or(info.name);
        models::lookup(plain, info.dataset).ok().and_then(|p| p.fc_key)
    } else {
        None
    };
    load_weights_as(vs, c.tensors, info.name, info.is_cam, fc_key, path)
}
