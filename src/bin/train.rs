//! `train --cfg FILE [--resume] [KEY VALUE]...`, the same as `catkd train`.

use std::process::ExitCode;

use clap::Parser;

#[derive(Parser)]
#[command(name = "train", version, about = "Train with a preset (same as `catkd train`)")]
struct TrainCli {
    /// More log output (-v debug, -vv trace); RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count)]
    verbose: u8,
    #[command(flatten)]
    args: catkd::cli::TrainArgs,
}

fn main() -> ExitCode {
    let cli = TrainCli::parse();
    catkd::cli::init_logging(cli.verbose);
    catkd::cli::finish(catkd::cli::run_train(cli.args))
}
