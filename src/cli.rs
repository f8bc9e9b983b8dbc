//! Command-line definitions shared by the `catkd` and `train` binaries.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::config::Config;

#[derive(Debug, Parser)]
#[command(
    name = "catkd",
    version,
    about = "Knowledge distillation with Class Attention Transfer (CAT-KD) on libtorch"
)]
pub struct Cli {
    /// More log output (-v debug, -vv trace); RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Train with a preset, like the reference's tools/train.py.
    Train(TrainArgs),
    /// Evaluate a checkpoint on the test set (top-1, top-5, mean cross-entropy).
    Eval(EvalArgs),
    /// Print the resolved configuration of a preset with overrides.
    Config(ConfigArgs),
    /// List the model registry.
    Models(ModelsArgs),
    /// Install or list the reference's CIFAR-100 teacher checkpoints.
    Teachers(TeachersArgs),
    /// Data set tools.
    #[command(subcommand)]
    Data(DataCommand),
}

/// `train --cfg FILE [--resume] [KEY VALUE]...`
#[derive(Debug, Args)]
pub struct TrainArgs {
    /// Preset YAML file (for example configs/cifar100/CAT_KD/res32x4_shuv1.yaml).
    #[arg(long)]
    pub cfg: PathBuf,
    /// Continue from the run's `latest` checkpoint.
    #[arg(long)]
    pub resume: bool,
    /// Overrides as KEY VALUE pairs, KEY a dotted config path (SOLVER.LR 0.1).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, value_name = "KEY VALUE")]
    pub opts: Vec<String>,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum DatasetArg {
    Cifar100,
    Imagenet,
}

#[derive(Debug, Args)]
pub struct EvalArgs {
    /// Registered model name (see `catkd models`).
    #[arg(long)]
    pub model: String,
    /// Checkpoint: a reference .pth (zip or legacy) or a catkd .safetensors file.
    #[arg(long)]
    pub ckpt: PathBuf,
    #[arg(long, value_enum, default_value = "cifar100")]
    pub dataset: DatasetArg,
    /// Folder holding cifar-100-python/, cifar-100-binary/ or imagenet/.
    #[arg(long, default_value = "data")]
    pub data_dir: PathBuf,
    #[arg(long, default_value_t = 64)]
    pub batch_size: i64,
    /// Print one JSON line: {"model","top1","top5","loss","num_images"}.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ConfigArgs {
    #[arg(long)]
    pub cfg: PathBuf,
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, value_name = "KEY VALUE")]
    pub opts: Vec<String>,
}

#[derive(Debug, Args)]
pub struct ModelsArgs {
    /// Print a JSON array instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct TeachersArgs {
    /// Unpack a teacher archive (cifar_teachers.tar) into the checkpoint folder.
    #[arg(long, value_name = "FILE.tar")]
    pub from: Option<PathBuf>,
    /// Download the reference's teacher archive and unpack it.
    #[arg(long)]
    pub download: bool,
    /// Where the archive is fetched from with --download.
    #[arg(long, default_value = crate::checkpoint::teachers::DEFAULT_TEACHERS_URL)]
    pub url: String,
    /// Checkpoint folder (the reference's download_ckpts/).
    #[arg(long, default_value = "download_ckpts")]
    pub dir: PathBuf,
}

#[derive(Debug, Subcommand)]
pub enum DataCommand {
    /// Write a synthetic CIFAR-100 look-alike in the real file formats.
    Synth(SynthArgs),
    /// Download CIFAR-100 (python version) into the data folder and check its MD5.
    Download(DownloadArgs),
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum SynthFormat {
    Python,
    Binary,
}

#[derive(Debug, Args)]
pub struct SynthArgs {
    /// Data folder to write into (cifar-100-python/ or cifar-100-binary/ goes inside).
    #[arg(long)]
    pub out: PathBuf,
    #[arg(long, default_value_t = 5000)]
    pub train: usize,
    #[arg(long, default_value_t = 1000)]
    pub test: usize,
    #[arg(long, value_enum, default_value = "python")]
    pub format: SynthFormat,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

#[derive(Debug, Args)]
pub struct DownloadArgs {
    /// Data folder (cifar-100-python/ goes inside).
    #[arg(long, default_value = "data")]
    pub root: PathBuf,
    #[arg(long, default_value = crate::data::cifar100::CIFAR100_URL)]
    pub url: String,
}

/// Set up logging: `RUST_LOG` when set, else info (debug with -v, trace with -vv), to stderr.
pub fn init_logging(verbose: u8) {
    let default = match verbose {
        0 => "info",
        1 => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .try_init();
}

/// Run a command and turn any error into one line on stderr and a non-zero exit.
pub fn finish(result: Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", one_line(&e));
            ExitCode::from(2)
        }
    }
}

/// The error chain as one sentence: outer context first, causes after a colon.
pub fn one_line(e: &anyhow::Error) -> String {
    let parts: Vec<String> = e.chain().map(|c| c.to_string()).collect();
    parts.join(": ")
}

pub fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Train(args) => run_train(args),
        Command::Eval(args) => crate::engine::eval::run_cli(&args),
        Command::Config(args) => {
            let loaded = Config::load(&args.cfg, &args.opts)?;
            print!("{}", loaded.config.to_yaml());
            Ok(())
        }
        Command::Models(args) => crate::models::print_registry(args.json),
        Command::Teachers(args) => crate::checkpoint::teachers::run_cli(&args),
        Command::Data(DataCommand::Synth(args)) => crate::data::synthetic::run_cli(&args),
        Command::Data(DataCommand::Download(args)) => crate::data::cifar100::download_cli(&args),
    }
}

pub fn run_train(args: TrainArgs) -> Result<()> {
    let loaded = Config::load(&args.cfg, &args.opts)?;
    crate::engine::trainer::run(loaded, args.resume)
}
