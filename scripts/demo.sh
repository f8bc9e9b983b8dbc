#!/usr/bin/env bash
# make demo: the whole path on a synthetic CIFAR-100 look-alike, on whatever device is there.
# 1) write the data set in the real python-pickle layout, 2) train a vanilla resnet32 teacher,
# 3) CAT-KD a resnet20 student from it (teacher converted FC -> conv_test on load), 4) evaluate both.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --release --bins
BIN=target/release
DATA=output/demo/data
TEACHER_DIR=output/demo/teacher_resnet32
STUDENT_DIR=output/demo/cat_kd_resnet32_resnet20

rm -rf output/demo
echo "== 1/4 synthetic CIFAR-100 look-alike (5000 train / 1000 test images) in $DATA"
"$BIN/catkd" data synth --out "$DATA" --train 5000 --test 1000 --seed 0
echo "== 2/4 vanilla teacher: resnet32, 4 epochs"
"$BIN/train" --cfg configs/demo/teacher_resnet32.yaml
echo "== 3/4 CAT-KD student: resnet32 -> resnet20, 4 epochs"
"$BIN/train" --cfg configs/demo/cat_kd_resnet32_resnet20.yaml
echo "== 4/4 evaluation"
"$BIN/catkd" eval --model resnet32 --ckpt "$TEACHER_DIR/student_best.safetensors" --data-dir "$DATA"
"$BIN/catkd" eval --model resnet20_test --ckpt "$STUDENT_DIR/student_best.safetensors" --data-dir "$DATA"
"$BIN/catkd" eval --model resnet20_test --ckpt "$STUDENT_DIR/student_best.safetensors" --data-dir "$DATA" --json

cat <<MSG

Done. What you just saw:
- $TEACHER_DIR/ and $STUDENT_DIR/ hold worklog.txt (the reference's per-epoch fields),
  metrics.jsonl (one JSON line per epoch), config.yaml (the resolved preset), and checkpoints:
  latest/best (full training state, for --resume) and student_latest/student_best (weights only,
  loadable in PyTorch with safetensors).
- top-1/top-5 are percentages of the 1000 synthetic test images classified correctly (among the
  5 best guesses for top-5); loss is the mean cross-entropy. 100 classes, so chance is 1%.
- The student is the CAM variant resnet20_test: its logits are the spatial mean of its class
  activation maps, which CAT-KD matched to the teacher's (loss_CAT in metrics.jsonl).
Real data: put CIFAR-100 in data/ and teachers in download_ckpts/ (see README.md), then
  cargo run --release --bin train -- --cfg configs/cifar100/CAT_KD/res32x4_shuv1.yaml
MSG
