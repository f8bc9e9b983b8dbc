//! Synthetic CIFAR-100 look-alikes written in the real file formats.

use anyhow::Result;

/// `catkd data synth`.
pub fn run_cli(args: &crate::cli::SynthArgs) -> Result<()> {
    let _ = args;
    anyhow::bail!("`catkd data synth` is not available yet: data (issue 5) has not landed")
}
