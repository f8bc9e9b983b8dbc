//! Teacher checkpoints: locate, unpack (`--from`), download (`--download`).

use anyhow::Result;

/// The reference's CIFAR-100 teacher archive.
pub const DEFAULT_TEACHERS_URL: &str =
    "https://github.com/megvii-research/mdistiller/releases/download/checkpoints/cifar_teachers.tar";

/// `catkd teachers [--from FILE.tar] [--download]`.
pub fn run_cli(args: &crate::cli::TeachersArgs) -> Result<()> {
    let _ = args;
    anyhow::bail!("`catkd teachers` is not available yet: checkpoints (issue 4) have not landed")
}
