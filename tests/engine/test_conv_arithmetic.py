import pytest
import torch

from engine.conv_arithmetic import ConvGeometry, output_size
from engine.errors import SpecError


@pytest.mark.parametrize("size,kernel,padding,stride,dilation", [
    (5, 3, 0, 1, 1), (5, 3, 1, 1, 1), (5, 3, 1, 2, 1), (7, 3, 0, 2, 2), (28, 5, 2, 1, 1),
    (6, 3, 1, 2, 1), (32, 4, 3, 3, 2), (4, 4, 0, 1, 1),
])
def test_output_size_matches_torch_conv2d(size, kernel, padding, stride, dilation):
    conv = torch.nn.Conv2d(1, 1, kernel, stride=stride, padding=padding, dilation=dilation)
    expected = conv(torch.zeros(1, 1, size, size)).shape[-1]
    assert output_size(size, kernel, padding, stride, dilation) == expected


def test_positions_cells_and_formula_for_a_strided_dilated_case():
    g = ConvGeometry(input_size=7, kernel=3, padding=0, stride=2, dilation=2)
    assert g.effective_kernel == 5
    assert g.output_size() == 2
    assert g.window_positions() == [(0, 0), (0, 2), (2, 0), (2, 2)]
    assert g.window_cells(0, 2)[:3] == [(0, 2), (0, 4), (0, 6)]
    assert g.formula().endswith("= 2")
    assert g.leftover() == 0
    assert ConvGeometry(6, 3, 0, 2).leftover() == 1  # (6-3)//2 = 1 -> windows at 0 and 2, column 5 unused


def test_impossible_geometry_gives_a_readable_error():
    with pytest.raises(SpecError, match="no position fits"):
        output_size(3, 3, 0, 1, 2)
    with pytest.raises(SpecError, match="Stride must be"):
        output_size(5, 3, 0, 0)
