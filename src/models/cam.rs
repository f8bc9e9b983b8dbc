//! Convert a plain model's weights to its CAM (`*_test`) variant the reference's way.

use std::collections::BTreeMap;

use anyhow::{bail, Result};
use tch::Tensor;

/// Plain state dict -> CAM-variant state dict, the reference's way: copy every key except the
/// FC's, `conv_test.weight` = FC weight viewed (K, C, 1, 1), drop the FC bias.
///
/// `fc_key` is the FC's prefix (`fc`, `linear`, `classifier`, `classifier.0`; see
/// [`super::ModelInfo::fc_key`]). The logits of the converted model are the plain logits minus the
/// dropped bias.
pub fn convert_to_cam(plain: &BTreeMap<String, Tensor>, fc_key: &str) -> Result<BTreeMap<String, Tensor>> {
    let weight_key = format!("{fc_key}.weight");
    let Some(weight) = plain.get(&weight_key) else {
        bail!("cannot convert to a CAM model: the plain weights have no `{weight_key}` (FC layer)");
    };
    let size = weight.size();
    let &[classes, channels] = size.as_slice() else {
        bail!(
            "cannot convert to a CAM model: `{weight_key}` has shape {size:?}, \
             expected [classes, channels]"
        );
    };
    let prefix = format!("{fc_key}.");
    let mut converted: BTreeMap<String, Tensor> = plain
        .iter()
        .filter(|(k, _)| !k.starts_with(&prefix))
        .map(|(k, v)| (k.clone(), v.shallow_clone()))
        .collect();
    converted.insert(CAM_WEIGHT_KEY.to_string(), weight.view([classes, channels, 1, 1]));
    Ok(converted)
}

/// The variable name a CAM head uses.
pub const CAM_WEIGHT_KEY: &str = "conv_test.weight";
