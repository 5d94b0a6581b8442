"""Convolution arithmetic in plain integers (no tensors): output size and the
positions a sliding window visits, for the lesson widget and the CLI.

Follows the PyTorch definition (Dumoulin & Visin, "A guide to convolution
arithmetic"): out = floor((in + 2*padding - dilation*(kernel - 1) - 1) / stride) + 1.
"""
from __future__ import annotations

from dataclasses import dataclass

from .errors import SpecError


@dataclass(frozen=True)
class ConvGeometry:
    """One spatial dimension (square inputs and kernels) of a convolution."""

    input_size: int
    kernel: int
    padding: int = 0
    stride: int = 1
    dilation: int = 1

    @property
    def effective_kernel(self) -> int:
        """The span the dilated kernel covers: dilation * (kernel - 1) + 1."""
        return self.dilation * (self.kernel - 1) + 1

    @property
    def padded_size(self) -> int:
        return self.input_size + 2 * self.padding

    def output_size(self) -> int:
        check(self)
        return (self.padded_size - self.effective_kernel) // self.stride + 1

    def formula(self) -> str:
        """The formula with the numbers filled in, for display."""
        dil = f"{self.dilation}*({self.kernel} - 1)"
        return (f"floor(({self.input_size} + 2*{self.padding} - {dil} - 1) / {self.stride}) + 1"
                f" = {self.output_size()}")

    def leftover(self) -> int:
        """Padded cells on the right/bottom that no window reaches (stride does not divide evenly)."""
        last_start = (self.output_size() - 1) * self.stride
        return self.padded_size - (last_start + self.effective_kernel)

    def window_positions(self) -> list[tuple[int, int]]:
        """Top-left corners (row, col) in padded coordinates, in raster order."""
        n = self.output_size()
        return [(r * self.stride, c * self.stride) for r in range(n) for c in range(n)]

    def window_cells(self, top: int, left: int) -> list[tuple[int, int]]:
        """The padded-grid cells (row, col) the kernel taps at one position (dilation spreads them)."""
        return [(top + i * self.dilation, left + j * self.dilation)
                for i in range(self.kernel) for j in range(self.kernel)]


def check(geometry: ConvGeometry) -> None:
    """Raise SpecError with a student-readable reason when the convolution is impossible."""
    g = geometry
    for name, value, minimum in (("Input size", g.input_size, 1), ("Kernel", g.kernel, 1),
                                 ("Padding", g.padding, 0), ("Stride", g.stride, 1), ("Dilation", g.dilation, 1)):
        if int(value) != value or value < minimum:
            raise SpecError(f"{name} must be a whole number of at least {minimum}, got {value}.")
    if g.effective_kernel > g.padded_size:
        raise SpecError(
            f"The kernel spans {g.effective_kernel} pixels (kernel {g.kernel}, dilation {g.dilation}) but the "
            f"padded input is only {g.padded_size} wide ({g.input_size} + 2*{g.padding}): no position fits.")


def output_size(input_size: int, kernel: int, padding: int = 0, stride: int = 1, dilation: int = 1) -> int:
    return ConvGeometry(input_size, kernel, padding, stride, dilation).output_size()
