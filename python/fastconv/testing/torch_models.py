"""Torch models for the fastconv.torch tests and benchmarks (defined here: no downloads). Needs torch."""

import torch
from torch import nn


class BasicBlock(nn.Module):
    """torchvision's ResNet BasicBlock: two 3x3 convs, batch norm, a 1x1 strided shortcut when the
    shape changes."""

    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None
        if stride != 1 or c_in != c_out:
            self.downsample = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out))

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class ResNet18(nn.Module):
    """ResNet-18's structure (7x7/2 stem, 3x3/2 max pool, four stages of two BasicBlocks, global
    average pool, linear head) at a chosen width: ``width=64`` is the real model."""

    def __init__(self, width: int = 8, num_classes: int = 10, head_pool: str = "adaptive"):
        super().__init__()
        widths = [width, 2 * width, 4 * width, 8 * width]
        self.conv1 = nn.Conv2d(3, width, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        layers, c_in = [], width
        for i, c in enumerate(widths):
            stride = 1 if i == 0 else 2
            layers.append(nn.Sequential(BasicBlock(c_in, c, stride), BasicBlock(c, c, 1)))
            c_in = c
        self.layer1, self.layer2, self.layer3, self.layer4 = layers
        # AvgPool2d over the final map where the input size is known (convert replaces it too).
        self.avgpool = nn.AdaptiveAvgPool2d(1) if head_pool == "adaptive" else nn.AvgPool2d(2)
        self.fc = nn.Linear(widths[-1], num_classes)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


class SmallCNN(nn.Module):
    """conv - relu - max pool - conv - relu - avg pool - linear, for training and distributed tests."""

    def __init__(self, conv=nn.Conv2d, max_pool=nn.MaxPool2d, avg_pool=nn.AvgPool2d):
        super().__init__()
        self.conv1 = conv(3, 6, 3, padding=1)
        self.pool1 = max_pool(2)
        self.conv2 = conv(6, 8, 3, stride=1, padding=1, groups=2)
        self.pool2 = avg_pool(2)
        self.fc = nn.Linear(8 * 2 * 2, 4)

    def forward(self, x):
        x = self.pool1(torch.relu(self.conv1(x)))
        x = self.pool2(torch.relu(self.conv2(x)))
        return self.fc(torch.flatten(x, 1))
