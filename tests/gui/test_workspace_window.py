import numpy as np
import torch

from engine.checkpoint import TrainedRun
from engine.images import load_bundled_photo
from engine.model import ConvNet
from engine.spec import load_preset
from gui.main_window import MainWindow
from gui.workers import registry


def _fresh_window(qtbot):
    window = MainWindow(restore_settings=False)
    qtbot.addWidget(window)
    window.show()
    return window


def test_saved_workspace_reopens_in_a_fresh_window_with_architecture_curves_and_images(window, qtbot, tmp_path):
    spec = load_preset("lenet5")
    spec.layers[0].params["out_channels"] = 8  # not the preset: the architecture must really travel
    window.ctx.set_spec(spec)
    torch.manual_seed(3)
    model = ConvNet(spec)
    history = {"train_loss": [2.2, 0.9, 0.41], "val_loss": [2.0, 1.0, 0.52], "val_acc": [0.31, 0.78, 0.9]}
    window.ctx.set_run(TrainedRun(model, "mnist5k", {"epochs": 3, "lr": 0.05}, history, "lesson-run"))
    photo = load_bundled_photo("coffee")[::4, ::4].copy()
    window.ctx.set_input_image(photo, "coffee")
    window.show_panel("Filters")
    network_state = window.panel("Network").save_state()
    folder = window.classroom.workspaces.save_to(tmp_path / "class.convscope")
    assert folder is not None and window.ctx.last_error is None
    window.close()

    fresh = _fresh_window(qtbot)
    try:
        assert fresh.ctx.run is None
        assert fresh.classroom.workspaces.open_from(folder)
        assert fresh.ctx.last_error is None, fresh.ctx.last_error
        assert fresh.ctx.spec.to_dict() == spec.to_dict()
        run = fresh.ctx.run
        assert run.name == "lesson-run" and run.history == history and run.settings["lr"] == 0.05
        for key, value in model.state_dict().items():
            assert torch.equal(run.model.state_dict()[key], value), key
        assert np.array_equal(fresh.ctx.input_image, photo) and fresh.ctx.input_caption == "coffee"
        assert fresh.current_panel().title == "Filters"
        assert fresh.panel("Network").save_state() == network_state  # the panel shows what it showed
        recent = [a.data() for a in fresh.classroom.workspaces.recent_menu.actions() if a.data()]
        assert recent[0] == str(folder.resolve())
    finally:
        qtbot.waitUntil(lambda: not registry.live(), timeout=20000)  # jobs the restore started
        fresh.close()


def test_opening_a_broken_workspace_says_why_and_keeps_the_window_usable(window, tmp_path):
    (tmp_path / "notes").mkdir()
    assert not window.classroom.workspaces.open_from(tmp_path / "notes")
    assert window.ctx.last_error[0] == "Workspace problem"
    assert "not a ConvScope workspace" in window.ctx.last_error[1]
    assert window.show_panel("Data") is window.current_panel()


def test_a_recent_workspace_that_vanished_is_dropped_from_the_menu(window, tmp_path):
    from gui import settings

    settings.add_recent_workspace(tmp_path / "gone")
    workspaces = window.classroom.workspaces
    workspaces.rebuild_recent_menu()
    action = next(a for a in workspaces.recent_menu.actions() if a.data())
    action.trigger()
    assert "no longer exists" in window.ctx.last_error[1]
    assert settings.recent_workspaces() == []


def _restart(monkeypatch):
    """Forget this process's registered models and loaded classifiers, as after a restart."""
    from engine import pretrained, user_model

    monkeypatch.setattr(user_model, "_registry", {})
    monkeypatch.setattr(pretrained, "_cache", {})


def _save_with_own_model(window, tmp_path, weights_name):
    import torchvision

    from engine.user_model import register_user_model

    torch.manual_seed(0)
    weights = tmp_path / weights_name
    torch.save(torchvision.models.resnet18(weights=None, num_classes=3).state_dict(), weights)
    name = register_user_model("resnet18", weights, input_size=96)
    window.ctx.add_user_model(name, f"resnet18 ({weights_name})")
    window.show_panel("Saliency").model_choice.set_model_name(name)
    assert window.panel("Saliency").model_choice.model_name() == name
    window.ctx.set_spec(load_preset("lenet5"))
    folder = window.classroom.workspaces.save_to(tmp_path / "own.convscope")
    assert folder is not None and window.ctx.last_error is None
    window.close()
    return folder, weights, name


def test_a_model_the_user_added_is_listed_and_selected_again(window, qtbot, tmp_path, monkeypatch):
    _restart(monkeypatch)
    folder, _weights, name = _save_with_own_model(window, tmp_path, "pets.pt")
    _restart(monkeypatch)
    fresh = _fresh_window(qtbot)
    try:
        assert fresh.classroom.workspaces.open_from(folder)
        assert fresh.ctx.last_error is None, fresh.ctx.last_error
        chooser = fresh.panel("Saliency").model_choice
        assert chooser.model_name() == name and chooser.user_model_names() == [name]
        assert "pets.pt" in chooser.currentText()
        assert name in fresh.panel("Predict").model_choice.user_model_names()  # every chooser lists it
        assert list(fresh.ctx.user_models) == [name]
    finally:
        qtbot.waitUntil(lambda: not registry.live(), timeout=20000)
        fresh.close()


def test_a_missing_weights_file_names_it_and_the_rest_opens(window, qtbot, tmp_path, monkeypatch):
    _restart(monkeypatch)
    folder, weights, _name = _save_with_own_model(window, tmp_path, "gone.pt")
    weights.unlink()
    _restart(monkeypatch)
    fresh = _fresh_window(qtbot)
    try:
        assert fresh.classroom.workspaces.open_from(folder)
        title, message = fresh.ctx.last_error
        assert title == "Workspace partly restored" and str(weights) in message and message.count("\n") == 0
        assert fresh.panel("Saliency").model_choice.model_name() == "efficientnet_lite0"
        assert fresh.panel("Saliency").model_choice.user_model_names() == []
        assert fresh.ctx.spec.to_dict() == load_preset("lenet5").to_dict()  # the rest of the workspace
        assert fresh.current_panel().title == "Saliency"
        # Saved again meanwhile, the workspace still describes the model: once its file is back, it opens.
        again = fresh.classroom.workspaces.save_to(tmp_path / "again.convscope")
        assert again is not None
    finally:
        qtbot.waitUntil(lambda: not registry.live(), timeout=20000)
        fresh.close()
    import torchvision

    torch.save(torchvision.models.resnet18(weights=None, num_classes=3).state_dict(), weights)
    _restart(monkeypatch)
    back = _fresh_window(qtbot)
    try:
        assert back.classroom.workspaces.open_from(again)
        assert back.ctx.last_error is None, back.ctx.last_error
        assert ["gone.pt" in label for label in back.ctx.user_models.values()] == [True]
    finally:
        qtbot.waitUntil(lambda: not registry.live(), timeout=20000)
        back.close()
