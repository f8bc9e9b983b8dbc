//! The training loop.

use anyhow::Result;

use crate::config::LoadedConfig;

/// Train as the resolved configuration says; `resume` continues from `latest`.
pub fn run(loaded: LoadedConfig, resume: bool) -> Result<()> {
    let _ = resume;
    println!("{}", loaded.config.to_yaml());
    anyhow::bail!(
        "training is not available yet (issue 6); above is the resolved config of the run that would go to {}",
        loaded.output_dir().display()
    )
}
