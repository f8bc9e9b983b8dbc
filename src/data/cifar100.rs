//! CIFAR-100 in both official layouts (python pickles and binary records).

use anyhow::Result;

/// Where torchvision fetches the python version from.
pub const CIFAR100_URL: &str = "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz";

/// `catkd data download`.
pub fn download_cli(args: &crate::cli::DownloadArgs) -> Result<()> {
    let _ = args;
    anyhow::bail!("`catkd data download` is not available yet: data (issue 5) has not landed")
}
