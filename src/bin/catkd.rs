use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = catkd::cli::Cli::parse();
    catkd::cli::init_logging(cli.verbose);
    catkd::cli::finish(catkd::cli::run(cli))
}
