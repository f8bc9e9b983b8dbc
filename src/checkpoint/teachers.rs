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

/// Interface stub: replaced when the checkpoint work (issue 4) lands.
pub fn resolve_teacher(cfg: &crate::config::Config, info: &crate::models::ModelInfo) -> Result<std::path::PathBuf> {
    let _ = (cfg, info);
    anyhow::bail!("teachers are not available yet (issue 4)")
}
