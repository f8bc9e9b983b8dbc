"""The CAT-KD training step of the PyTorch reference, for a side-by-side speed comparison.

Teacher resnet32x4_test (eval, no_grad) -> student resnet8x4_test, CE + beta * CAT loss,
SGD(momentum 0.9, weight decay 5e-4), batch 64 of 32x32 images, on the CPU. The networks are
compact re-statements of the reference's CIFAR ResNet with its CAM head (same layers, same
compute). Prints one line: `pytorch images_per_second=<float>`.

Usage: python benches/train_step_pytorch.py [steps] [batch] [teacher.safetensors student.safetensors]
(the two files, written by benches/train_step.rs, hold the initial weights under the reference's
state-dict names, so both sides start from identical networks)
"""
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class Block(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        res = x if self.downsample is None else self.downsample(x)
        return F.relu(out + res)


class CifarResNetCam(nn.Module):
    """resnet<depth>x4_test: widths 32, 64, 128, 256; 1x1 conv_test head; logits = CAM mean."""

    def __init__(self, depth, classes=100):
        super().__init__()
        n = (depth - 2) // 6
        widths = [32, 64, 128, 256]
        self.conv_test = nn.Conv2d(widths[-1], classes, 1, bias=False)
        self.conv1 = nn.Conv2d(3, widths[0], 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0])
        cin = widths[0]
        for i, w in enumerate(widths[1:]):
            stride = 1 if i == 0 else 2
            blocks = [Block(cin, w, stride)] + [Block(w, w, 1) for _ in range(n - 1)]
            setattr(self, f"layer{i + 1}", nn.Sequential(*blocks))
            cin = w

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        cam = self.conv_test(x)
        return cam.mean(dim=(2, 3)), cam


def cat_loss(s, t, res, normalize):
    s = F.adaptive_avg_pool2d(s, (res, res))
    t = F.adaptive_avg_pool2d(t, (res, res))
    if normalize:
        s, t = F.normalize(s, dim=(2, 3)), F.normalize(t, dim=(2, 3))
    return F.mse_loss(s, t)


def main():
    steps = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    batch = int(sys.argv[2]) if len(sys.argv) > 2 else 64
    torch.manual_seed(0)
    teacher, student = CifarResNetCam(32).eval(), CifarResNetCam(8).train()
    # Start from exactly the weights the Rust side used (same state-dict names), when given.
    if len(sys.argv) > 4:
        from safetensors.torch import load_file

        teacher.load_state_dict(load_file(sys.argv[3]), strict=True)
        student.load_state_dict(load_file(sys.argv[4]), strict=True)
    opt = torch.optim.SGD(student.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)
    images = torch.randn(batch, 3, 32, 32)
    labels = torch.randint(0, 100, (batch,))

    def step():
        logits, cam_s = student(images)
        with torch.no_grad():
            _, cam_t = teacher(images)
        loss = F.cross_entropy(logits, labels) + 15.0 * cat_loss(cam_s, cam_t, 2, False)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss.item()

    for _ in range(2):
        step()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    secs = time.perf_counter() - start
    print(f"pytorch images_per_second={steps * batch / secs:.1f}")


if __name__ == "__main__":
    main()
