# catkd: everything a fresh machine needs goes through these targets.
# `make setup` installs libtorch (PyPI torch==2.11.0 in .venv/) unless LIBTORCH is set, and points
# cargo at it through a git-ignored .cargo/config.toml, so plain `cargo run` works afterwards.

PYTHON ?= python3
TORCH_VERSION := 2.11.0
VENV := .venv
CARGO_CONFIG := .cargo/config.toml
CFG ?= configs/cifar100/CAT_KD/res32x4_shuv1.yaml

.PHONY: setup demo test train eval bench clean-setup

setup:
	@bash scripts/setup.sh "$(PYTHON)" "$(TORCH_VERSION)" "$(VENV)" "$(CARGO_CONFIG)"

demo: setup
	@bash scripts/demo.sh

test: setup
	cargo test --release

train: setup
	cargo run --release --bin train -- --cfg $(CFG) $(ARGS)

# make eval MODEL=resnet8x4 CKPT=output/.../student_best.safetensors [ARGS="--json"]
eval: setup
	cargo run --release --bin catkd -- eval --model $(MODEL) --ckpt $(CKPT) $(ARGS)

bench: setup
	cargo bench

clean-setup:
	rm -rf $(VENV) $(CARGO_CONFIG)
