//! Evaluation on the test set, as the reference's `validate`.

use anyhow::Result;

/// `catkd eval`.
pub fn run_cli(args: &crate::cli::EvalArgs) -> Result<()> {
    let _ = args;
    anyhow::bail!("`catkd eval` is not available yet: the trainer (issue 6) has not landed")
}
