"""The convolution in numbers (issue 20): every value of the walk-through equals the real
layer's output at that position, with padding, stride and dilation; then ReLU and max pooling."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from engine.conv_numbers import conv_step, pool_step
from engine.errors import SpecError


@pytest.mark.parametrize("kernel,stride,padding,dilation", [(3, 1, 1, 1), (5, 2, 2, 1), (3, 2, 0, 2), (4, 3, 3, 1)])
def test_every_output_value_equals_the_layer(kernel, stride, padding, dilation):
    torch.manual_seed(kernel * 10 + stride)
    conv = nn.Conv2d(3, 4, kernel, stride=stride, padding=padding, dilation=dilation)
    x = torch.randn(3, 13, 11)
    with torch.no_grad():
        out = conv(x[None])[0]
    _, height, width = out.shape
    positions = [(0, 0), (height - 1, width - 1), (height // 2, width // 3), (0, width - 1), (height - 1, 0)]
    for channel in range(4):
        for y, x_pos in positions:
            step = conv_step(conv, x, channel, y, x_pos)
            assert step.output == pytest.approx(float(out[channel, y, x_pos]), abs=1e-5)
            assert step.total == pytest.approx(float(step.products.sum()), abs=1e-5)
            assert step.relu == pytest.approx(float(torch.relu(out[channel, y, x_pos])), abs=1e-5)
            # the taps that hang over the border read zeros (the padding)
            outside = (step.rows[:, None] < 0) | (step.rows[:, None] >= 13) | (step.cols[None, :] < 0) | \
                (step.cols[None, :] >= 11)
            assert (step.patch[:, outside] == 0).all()


def test_max_pool_walkthrough_equals_the_layer():
    torch.manual_seed(3)
    conv = nn.Conv2d(1, 2, 3, padding=1)
    pool = nn.MaxPool2d(2, stride=2)
    x = torch.randn(1, 9, 9)
    with torch.no_grad():
        activated = torch.relu(conv(x[None]))[0]
        pooled = pool(activated[None])[0]
    for channel in range(2):
        for y in range(pooled.shape[1]):
            for x_pos in range(pooled.shape[2]):
                step = pool_step(pool, activated[channel], y, x_pos)
                assert step.output == pytest.approx(float(pooled[channel, y, x_pos]))
                assert activated[channel][step.winner] == pytest.approx(step.output)
    padded = nn.MaxPool2d(3, stride=2, padding=1)
    with torch.no_grad():
        expected = padded(activated[None])[0, 1]
    step = pool_step(padded, activated[1], 0, 0)
    assert step.output == pytest.approx(float(expected[0, 0])) and np.isinf(step.window[0, 0])


def test_positions_outside_the_output_are_refused():
    conv = nn.Conv2d(1, 1, 3)
    with pytest.raises(SpecError, match="outside the 1x3x3 output"):
        conv_step(conv, torch.zeros(1, 5, 5), 0, 3, 0)
    with pytest.raises(SpecError, match="groups = 1"):
        conv_step(nn.Conv2d(2, 2, 3, groups=2), torch.zeros(2, 5, 5), 0, 0, 0)
