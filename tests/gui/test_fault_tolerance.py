"""Bad inputs each give a clear message and leave the window usable;
stopping or closing during every kind of job exits cleanly."""
from __future__ import annotations

import os
import pickle
import time

import numpy as np
import pytest
import torch
from PIL import Image

from engine.checkpoint import TrainedRun, save_checkpoint
from engine.model import ConvNet
from engine.spec import LayerSpec, NetworkSpec, load_preset
from gui.workers import registry


def _still_usable(window) -> None:
    """The window answers: panels switch and the current panel is the one asked for."""
    for title in ("Network", "Predict", "Training"):
        assert window.show_panel(title) is window.current_panel()


def _error_after(window, qtbot, action, timeout=20000):
    window.ctx.last_error = None
    action()
    qtbot.waitUntil(lambda: window.ctx.last_error is not None, timeout=timeout)
    title, message = window.ctx.last_error
    assert message and "Traceback" not in message
    return title, message


@pytest.fixture
def bad_images(tmp_path):
    folder = tmp_path / "images"
    folder.mkdir()
    Image.new("RGB", (40, 30), (200, 30, 30)).save(folder / "good.png")
    (folder / "zero.png").write_bytes(b"")
    data = (folder / "good.png").read_bytes()
    (folder / "truncated.png").write_bytes(data[: len(data) // 2])
    (folder / "notes.png").write_text("this is a text file, not a picture")
    Image.new("RGB", (32, 32), (0, 90, 200)).save(folder / "really_a_png.jpg", format="PNG")  # mislabelled
    Image.new("RGB", (1, 1), (9, 9, 9)).save(folder / "one_pixel.png")
    Image.new("CMYK", (50, 40), (0, 128, 255, 0)).save(folder / "cmyk.jpg")
    Image.fromarray(np.linspace(0, 65535, 64 * 48, dtype=np.uint16).reshape(48, 64)).save(folder / "deep16.png")
    Image.new("P", (30, 30), 3).save(folder / "palette.png")
    Image.new("L", (10000, 10000), 128).save(folder / "huge.png")
    return folder


def test_broken_image_files_give_messages_and_good_odd_ones_load(window, qtbot, bad_images):
    panel = window.show_panel("Predict")
    for name, reason in [("zero.png", "empty"), ("truncated.png", "damaged or truncated"),
                         ("notes.png", "not an image")]:
        title, message = _error_after(window, qtbot, lambda n=name: panel.source.load_path(str(bad_images / n)))
        assert reason in message, (name, message)
    chosen = []
    panel.source.image_chosen.connect(lambda image, caption: chosen.append(image.shape))
    for name in ("really_a_png.jpg", "one_pixel.png", "cmyk.jpg", "deep16.png", "palette.png", "huge.png"):
        window.ctx.last_error = None
        panel.source.load_path(str(bad_images / name))
        assert window.ctx.last_error is None, (name, window.ctx.last_error)
    assert chosen[:5] == [(32, 32, 3), (1, 1, 3), (40, 50, 3), (48, 64, 3), (30, 30, 3)]
    # A 10000 px photo is reduced while loading (the ImageNet tools need 224 px; 1024 is plenty to show).
    height, width, channels = chosen[5]
    assert height == width and 1024 <= width < 2048 and channels == 3
    _still_usable(window)


def test_empty_folder_and_one_class_folder_are_refused_clearly(window, qtbot, tmp_path):
    data_panel = window.show_panel("Data")
    empty = tmp_path / "empty"
    empty.mkdir()
    _, message = _error_after(window, qtbot, lambda: data_panel.load_dataset("image_folder", {"root": str(empty)}),
                              timeout=60000)
    assert "empty" in message.lower() or "no " in message.lower()
    one = tmp_path / "one_class" / "cats"
    one.mkdir(parents=True)
    for i in range(3):
        Image.new("RGB", (16, 16), (i * 40, 0, 0)).save(one / f"{i}.png")
    _, message = _error_after(window, qtbot, lambda: data_panel.load_dataset("image_folder",
                                                                             {"root": str(one.parent)}),
                              timeout=60000)
    assert "one class" in message.lower() or "two" in message.lower()
    qtbot.waitUntil(lambda: not data_panel.jobs.running, timeout=10000)
    _still_usable(window)


def test_impossible_architecture_is_marked_before_training(window, qtbot):
    builder = window.show_panel("Network")
    builder.set_spec(NetworkSpec("bad", (1, 8, 8), 10, [LayerSpec("conv", {"kernel": 11, "padding": 0}),
                                                        LayerSpec("flatten"), LayerSpec("linear", {"units": 10})]))
    assert "larger than its padded input" in builder.table.item(0, builder.table.columnCount() - 1).text() or any(
        "larger than its padded input" in (builder.table.item(0, c).toolTip() + builder.table.item(0, c).text())
        for c in range(builder.table.columnCount()) if builder.table.item(0, c) is not None)
    training = window.show_panel("Training")
    _, message = _error_after(window, qtbot, training.start_training)
    assert "larger than its padded input" in message
    qtbot.waitUntil(lambda: not training.jobs.running, timeout=10000)
    _still_usable(window)


def test_diverging_learning_rate_stops_with_a_message(window, qtbot):
    window.panel("Network").set_spec(load_preset("lenet5"))
    training = window.show_panel("Training")
    training.set_settings({"epochs": 1, "lr": 1e6, "momentum": 0.9, "seed": 0, "snapshot_every_steps": 0})
    title, message = _error_after(window, qtbot, training.start_training, timeout=120000)
    assert title == "Training diverged" and "learning rate" in message.lower()
    qtbot.waitUntil(lambda: not training.jobs.running, timeout=10000)
    _still_usable(window)


class _Exploit:
    def __reduce__(self):
        return (os.system, ("touch PWNED_BY_CHECKPOINT",))


def test_bad_checkpoints_are_refused_and_nothing_runs(window, qtbot, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    training = window.show_panel("Training")
    good = TrainedRun(ConvNet(load_preset("lenet5")), "mnist5k", {}, {}, "good")
    save_checkpoint(tmp_path / "good.pt", good)
    data = (tmp_path / "good.pt").read_bytes()
    (tmp_path / "truncated.pt").write_bytes(data[: len(data) // 3])
    # Another architecture: LeNet-5's spec with an MLP's weights inside.
    foreign = torch.load(tmp_path / "good.pt", weights_only=True)
    foreign["state_dict"] = ConvNet(load_preset("mlp")).state_dict()
    torch.save(foreign, tmp_path / "other_arch.pt")
    torch.save({"format": "convscope-checkpoint", "payload": _Exploit()}, tmp_path / "evil.pt")
    (tmp_path / "evil_raw.pt").write_bytes(pickle.dumps(_Exploit()))
    expected = {"truncated.pt": "corrupt or truncated", "other_arch.pt": "do not match its architecture",
                "evil.pt": "could run code", "evil_raw.pt": ""}
    for name, reason in expected.items():
        window.ctx.last_error = None
        assert training.load_checkpoint(tmp_path / name) is False
        assert window.ctx.last_error is not None and reason in window.ctx.last_error[1], (name, window.ctx.last_error)
    assert not (tmp_path / "PWNED_BY_CHECKPOINT").exists()
    assert training.load_checkpoint(tmp_path / "good.pt") is True
    _still_usable(window)


def _start_training(window):
    window.panel("Network").set_spec(load_preset("lenet5"))
    panel = window.show_panel("Training")
    panel.set_settings({"epochs": 50, "seed": 0})
    panel.start_training()
    return panel


def _start_tsne(window):
    panel = window.show_panel("Feature space")
    panel.start()
    return panel


def _start_attack(window):
    from engine.images import load_bundled_photo

    panel = window.show_panel("Adversarial")
    panel.set_image(load_bundled_photo("coffee"), "coffee")
    panel.start_attack()
    return panel


def _start_classviz(window):
    panel = window.show_panel("Class visualization")
    panel.start()
    return panel


def _start_top_patches(window):
    panel = window.show_panel("Top patches")
    panel.find()
    return panel


@pytest.mark.parametrize("start", [_start_training, _start_tsne, _start_attack, _start_classviz, _start_top_patches],
                         ids=["training", "tsne", "attack", "classviz", "top_patches"])
@pytest.mark.parametrize("how", ["stop", "close"])
def test_stop_or_close_during_every_kind_of_job(window, qtbot, trained_lenet, start, how):
    window.ctx.set_run(trained_lenet)
    panel = start(window)
    qtbot.waitUntil(lambda: panel.jobs.running, timeout=10000)
    # "During the job": once it is past loading (a model load is one long step)
    # and yielding events, stop and close must act within their bound.
    events = []
    panel.jobs.event.connect(events.append)
    qtbot.waitUntil(lambda: len(events) >= 2, timeout=120000)
    began = time.monotonic()
    if how == "stop":
        panel.jobs.stop()
        qtbot.waitUntil(lambda: not registry.live(), timeout=10000)
        assert window.ctx.last_error is None, window.ctx.last_error
        _still_usable(window)
    else:
        window.close()
        assert time.monotonic() - began < 2.5
        assert not registry.live()
