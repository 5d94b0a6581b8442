"""Fixtures shared by the engine tests."""
from __future__ import annotations

import pytest


@pytest.fixture(scope="module")  # as each test file had it: no file sees another's changes
def digits():
    """scikit-learn's 8x8 digits as an ImageData (small enough to train in a second)."""
    from engine.data import load_dataset

    return load_dataset("digits")
