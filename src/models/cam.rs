//! Convert a plain model's weights to its CAM (`*_test`) variant the reference's way.
//!
//! Stub written in the checkpoint branch so it compiles; the model zoo's version replaces it.

use std::collections::BTreeMap;

use anyhow::{anyhow, bail, Result};
use tch::Tensor;

/// Every key but the FC layer's copied; `conv_test.weight` = FC weight viewed as (K, C, 1, 1);
/// the FC bias dropped.
pub fn convert_to_cam(plain: &BTreeMap<String, Tensor>, fc_key: &str) -> Result<BTreeMap<String, Tensor>> {
    let w = plain
        .get(&format!("{fc_key}.weight"))
        .ok_or_else(|| anyhow!("the checkpoint has no {fc_key}.weight to convert to conv_test"))?;
    if w.dim() != 2 {
        bail!("{fc_key}.weight has shape {:?}, not a fully connected layer's", w.size());
    }
    let (k, c) = (w.size()[0], w.size()[1]);
    let fc_prefix = format!("{fc_key}.");
    let mut out: BTreeMap<String, Tensor> =
        plain.iter().filter(|(n, _)| !n.starts_with(&fc_prefix)).map(|(n, t)| (n.clone(), t.shallow_clone())).collect();
    out.insert("conv_test.weight".into(), w.reshape([k, c, 1, 1]));
    Ok(out)
}
