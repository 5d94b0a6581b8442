"""ConvScope engine: PyTorch + numpy only. Never imports Qt (a test checks it)."""

__version__ = "0.1.0"
