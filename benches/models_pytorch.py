"""PyTorch twin of benches/models.rs: CPU images/second at batch 64 for resnet32x4, resnet8x4
and ShuffleV1, forward (eval, no_grad) and forward+backward (train mode, cross-entropy).

Training steps run first so that BatchNorm running statistics are realistic before the eval
forwards. Small re-implementations of the reference architectures (same layers and shapes), so the
comparison measures the frameworks, not the model code. Run with the project's venv:
    .venv/bin/python benches/models_pytorch.py
"""

import time

import torch
import torch.nn as nn
import torch.nn.functional as F

BATCH = 64
WARMUP = 1
MIN_ITERS, MAX_ITERS, MIN_TIME = 2, 10, 3.0


def conv_bn(cin, cout, k, stride=1, groups=1):
    return nn.Sequential(
        nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False), nn.BatchNorm2d(cout)
    )


class Basic(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.a = conv_bn(cin, cout, 3, stride)
        self.b = conv_bn(cout, cout, 3)
        self.short = conv_bn(cin, cout, 1, stride) if stride != 1 or cin != cout else None

    def forward(self, x):
        out = self.b(F.relu(self.a(x)))
        return F.relu(out + (self.short(x) if self.short is not None else x))


class CifarResNet(nn.Module):
    def __init__(self, depth, widths, classes=100):
        super().__init__()
        n = (depth - 2) // 6
        self.stem = conv_bn(3, widths[0], 3)
        layers, cin = [], widths[0]
        for i, w in enumerate(widths[1:]):
            for j in range(n):
                layers.append(Basic(cin, w, 2 if (i > 0 and j == 0) else 1))
                cin = w
        self.layers = nn.Sequential(*layers)
        self.fc = nn.Linear(cin, classes)

    def forward(self, x):
        x = self.layers(F.relu(self.stem(x)))
        return self.fc(F.avg_pool2d(x, 8).flatten(1))


def shuffle(x, g):
    n, c, h, w = x.shape
    return x.view(n, g, c // g, h, w).transpose(1, 2).reshape(n, c, h, w)


class ShuffleBottleneck(nn.Module):
    def __init__(self, cin, cout, stride, groups):
        super().__init__()
        mid = cout // 4
        self.g = 1 if cin == 24 else groups
        self.c1 = conv_bn(cin, mid, 1, groups=self.g)
        self.c2 = conv_bn(mid, mid, 3, stride, groups=mid)
        self.c3 = conv_bn(mid, cout, 1, groups=groups)
        self.stride = stride

    def forward(self, x):
        out = shuffle(F.relu(self.c1(x)), self.g)
        out = self.c3(F.relu(self.c2(out)))
        if self.stride == 2:
            return F.relu(torch.cat([out, F.avg_pool2d(x, 3, 2, 1)], 1))
        return F.relu(out + x)


class ShuffleV1(nn.Module):
    def __init__(self, classes=100):
        super().__init__()
        self.stem = conv_bn(3, 24, 1)
        blocks, cin = [], 24
        for planes, count in zip([240, 480, 960], [4, 8, 4]):
            for i in range(count):
                blocks.append(ShuffleBottleneck(cin, planes - (cin if i == 0 else 0), 2 if i == 0 else 1, 3))
                cin = planes
        self.blocks = nn.Sequential(*blocks)
        self.linear = nn.Linear(960, classes)

    def forward(self, x):
        x = self.blocks(F.relu(self.stem(x)))
        return self.linear(F.avg_pool2d(x, 4).flatten(1))


def images_per_second(step):
    for _ in range(WARMUP):
        step()
    start, iters = time.perf_counter(), 0
    while iters < MIN_ITERS or (time.perf_counter() - start < MIN_TIME and iters < MAX_ITERS):
        step()
        iters += 1
    return iters * BATCH / (time.perf_counter() - start)


def main():
    torch.manual_seed(0)
    models = {
        "resnet32x4": lambda: CifarResNet(32, [32, 64, 128, 256]),
        "resnet8x4": lambda: CifarResNet(8, [32, 64, 128, 256]),
        "ShuffleV1": ShuffleV1,
    }
    print(f"PyTorch {torch.__version__} CPU, batch {BATCH}, {torch.get_num_threads()} threads")
    print(f"{'model':<12} {'forward img/s':>14} {'fwd+bwd img/s':>18}")
    for name, make in models.items():
        model = make()
        images = torch.randn(BATCH, 3, 32, 32)
        targets = torch.randint(0, 100, (BATCH,))

        def forward():
            model.eval()
            with torch.no_grad():
                model(images)

        def train():
            model.train()
            model.zero_grad(set_to_none=False)
            F.cross_entropy(model(images), targets).backward()

        # Train first so BatchNorm running statistics are realistic for the eval forwards.
        bwd = images_per_second(train)
        fwd = images_per_second(forward)
        print(f"{name:<12} {fwd:>14.1f} {bwd:>18.1f}")


if __name__ == "__main__":
    main()
