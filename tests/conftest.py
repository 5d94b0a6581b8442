"""Shared fixtures: offscreen Qt, isolated settings, and a guard that fails any
test leaving a worker thread running."""
from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def no_leftover_workers(request):
    """Fail the test if it leaves a GUI worker thread running."""
    yield
    workers_module = sys.modules.get("gui.workers")
    if workers_module is None:
        return
    live = workers_module.registry.live()
    if live:
        workers_module.registry.stop_all(5000)
        pytest.fail(f"test left {len(live)} worker thread(s) running")
