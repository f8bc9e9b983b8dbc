"""Dump every registered model of the reference (CAT-KD, PyTorch) with randomised weights and
BatchNorm statistics, its input and *all* its outputs (logits, every feature, pre-activation
feature and pooled feature, in eval and train mode) and the BatchNorm running statistics after
the train-mode forward, one .npz per model.

Used by the ignored test `all_outputs_match_reference_code` in tests/models.rs, which needs the
reference code and PyTorch, so it does not run in CI:

    .venv/bin/python tests/models_reference_dump.py --repo <CAT-KD git dir> --out /tmp/refdump
    CATKD_REFERENCE_DUMPS=/tmp/refdump cargo test --release --test models -- --ignored
"""

import argparse
import io
import os
import subprocess
import sys
import tarfile
import tempfile
import contextlib

import numpy as np
import torch


def extract_models(repo, dest):
    """`git archive` the reference's mdistiller/models package into dest."""
    data = subprocess.run(
        ["git", "-C", repo, "archive", "HEAD", "mdistiller/models"], check=True, capture_output=True
    ).stdout
    tarfile.open(fileobj=io.BytesIO(data)).extractall(dest)
    return os.path.join(dest, "mdistiller", "models")


def randomise(model, gen):
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5, generator=gen)
                m.bias.normal_(0.0, 0.1, generator=gen)
                m.running_mean.normal_(0.0, 0.1, generator=gen)
                m.running_var.uniform_(0.5, 1.5, generator=gen)


def outputs(model, x, mode, arrays):
    model.train(mode == "train")
    with torch.no_grad():
        logits, feats = model(x)
    arrays[f"{mode}.logits"] = logits.numpy()
    for i, f in enumerate(feats.get("feats", [])):
        arrays[f"{mode}.feats.{i}"] = f.numpy()
    for i, f in enumerate(feats.get("preact_feats", [])):
        arrays[f"{mode}.preact.{i}"] = f.numpy()
    if "pooled_feat" in feats:
        arrays[f"{mode}.pooled"] = feats["pooled_feat"].numpy()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repo", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--only", nargs="*", default=None, help="dataset/name entries to dump")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    tmp = tempfile.mkdtemp()
    sys.path.insert(0, extract_models(args.repo, tmp))
    with contextlib.redirect_stdout(io.StringIO()):  # mobilenetv2.py prints on construction
        import cifar
        import imagenet

    entries = [("cifar100", n, lambda f=f: f(num_classes=100)) for n, (f, _) in cifar.cifar_model_dict.items()]
    entries += [("imagenet", n, lambda f=f: f(num_classes=1000)) for n, f in imagenet.imagenet_model_dict.items()]
    for dataset, name, make in entries:
        if args.only and f"{dataset}/{name}" not in args.only:
            continue
        torch.manual_seed(0)
        gen = torch.Generator().manual_seed(1)
        with contextlib.redirect_stdout(io.StringIO()):
            model = make()
        randomise(model, gen)
        arrays = {f"weights.{k}": v.detach().numpy().copy() for k, v in model.state_dict().items()
                  if not k.endswith("num_batches_tracked")}
        shape = (2, 3, 32, 32) if dataset == "cifar100" else (1, 3, 224, 224)
        x = torch.randn(*shape, generator=gen)
        arrays["input"] = x.numpy()
        outputs(model, x, "eval", arrays)
        outputs(model, x, "train", arrays)
        # BatchNorm running statistics after the one train-mode forward.
        for k, v in model.state_dict().items():
            if k.endswith("running_mean") or k.endswith("running_var"):
                arrays[f"after_train.{k}"] = v.numpy().copy()
        np.savez(os.path.join(args.out, f"{dataset}_{name}.npz"), **arrays)
        print(dataset, name, flush=True)


if __name__ == "__main__":
    main()
