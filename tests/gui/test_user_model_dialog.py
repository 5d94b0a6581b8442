"""'Add your own model…': the dialog loads the model in a job; a bad weights file shows the
engine's message and leaves every chooser as it was; a good one appears in every ModelChooser
of the window (through the AppContext)."""
from __future__ import annotations

import pytest
import torch

from gui.widgets.model_chooser import ADD_ENTRY, ModelChooser


@pytest.fixture(scope="module")
def resnet_file(tmp_path_factory):
    import torchvision

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("weights") / "my_resnet.pt"
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), path)
    return path


def _items(chooser):
    return [chooser.itemData(i) for i in range(chooser.count())]


def test_bad_weights_show_the_message_and_change_nothing(qtbot, ctx, tmp_path):
    first, second = ModelChooser(ctx=ctx), ModelChooser(ctx=ctx)
    qtbot.addWidget(first)
    qtbot.addWidget(second)
    before = (_items(first), _items(second), first.model_name())
    assert _items(first)[-1] == ADD_ENTRY
    dialog = first.open_add_dialog()
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"this is not a state_dict")
    dialog.set_entries("resnet18", str(junk))
    with qtbot.waitSignal(dialog.jobs.failed, timeout=60_000):
        dialog.load_button.click()
    assert "junk.pt" in dialog.status_label.text() and dialog.error
    assert "Traceback" not in dialog.status_label.text()
    assert dialog.isVisible()  # stays open to fix the entry
    dialog.set_entries("resnet18", str(tmp_path / "missing.pt"))
    with qtbot.waitSignal(dialog.jobs.failed, timeout=60_000):
        dialog.load_button.click()
    assert "No weights file" in dialog.status_label.text()
    assert (_items(first), _items(second), first.model_name()) == before
    assert ctx.user_models == {}
    dialog.reject()


def test_a_good_model_reaches_every_chooser(qtbot, ctx, resnet_file):
    first, second = ModelChooser(ctx=ctx), ModelChooser(ctx=ctx)
    qtbot.addWidget(first)
    qtbot.addWidget(second)
    dialog = first.open_add_dialog()
    dialog.set_entries("resnet18", str(resnet_file))
    with qtbot.waitSignal(dialog.model_registered, timeout=120_000) as blocker:
        dialog.load_button.click()
    name, label = blocker.args
    assert name.startswith("user:") and "my_resnet.pt" in label
    assert first.model_name() == name  # the new model is chosen where it was added
    assert name in second.user_model_names()  # ... and listed everywhere else
    assert second.model_name() != name
    assert ctx.user_models[name] == label
    third = ModelChooser(ctx=ctx)  # a chooser made later lists it too
    qtbot.addWidget(third)
    assert name in third.user_model_names()
    assert _items(third)[-1] == ADD_ENTRY
    from engine.pretrained import as_classifier

    assert as_classifier(name).class_names()[0] == "tench"  # 1000 outputs: ImageNet's names


def test_the_chooser_default_is_the_engine_default():
    from engine.pretrained import DEFAULT_MODEL
    from gui.widgets import model_chooser

    assert model_chooser.DEFAULT_MODEL == DEFAULT_MODEL
