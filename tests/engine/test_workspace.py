import json

import numpy as np
import pytest
import torch

from engine.checkpoint import TrainedRun
from engine.model import ConvNet
from engine.spec import load_preset
from engine.workspace import Workspace, WorkspaceError, load_workspace, save_workspace


def _run(name="lenet-a", seed=0):
    torch.manual_seed(seed)
    model = ConvNet(load_preset("lenet5"))
    history = {"train_loss": [2.3, 1.1, 0.4], "val_acc": [0.3, 0.81, 0.93]}
    return TrainedRun(model, "mnist5k", {"epochs": 3, "lr": 0.05}, history, name)


def _workspace():
    rng = np.random.default_rng(0)
    photo = rng.integers(0, 256, (20, 30, 3), dtype=np.uint8)
    digit = rng.integers(0, 256, (28, 28), dtype=np.uint8)
    return Workspace(
        spec=load_preset("lenet5"), dataset="mnist5k", runs=[_run("a", 0), _run("b", 1)], current_run=1,
        images={"input": (photo, "coffee"), "digit": (digit, "a seven")},
        panel_states={"Training": {"epochs": 5, "curve": np.linspace(0, 1, 4)},
                      "Saliency": {"map": digit, "target": np.int64(3)}},
        settings={"theme": "dark", "scale": 1.5})


def test_round_trip_keeps_architecture_runs_images_and_states(tmp_path):
    ws = _workspace()
    save_workspace(tmp_path / "lesson.convscope", ws)
    back = load_workspace(tmp_path / "lesson.convscope")
    assert back.spec.to_dict() == ws.spec.to_dict()
    assert back.dataset == "mnist5k" and back.current_run == 1
    assert [r.name for r in back.runs] == ["a", "b"]
    assert back.runs[1].history == ws.runs[1].history
    for key, value in ws.runs[1].model.state_dict().items():
        assert torch.equal(back.runs[1].model.state_dict()[key], value)
    assert np.array_equal(back.images["input"][0], ws.images["input"][0])
    assert back.images["input"][1] == "coffee"
    assert back.images["digit"][0].shape == (28, 28)
    assert np.array_equal(back.images["digit"][0], ws.images["digit"][0])
    assert np.allclose(back.panel_states["Training"]["curve"], np.linspace(0, 1, 4))
    assert np.array_equal(back.panel_states["Saliency"]["map"], ws.images["digit"][0])
    assert back.panel_states["Saliency"]["target"] == 3
    assert back.settings == {"theme": "dark", "scale": 1.5}
    manifest = json.loads((tmp_path / "lesson.convscope" / "manifest.json").read_text())
    assert manifest["format"] == "convscope-workspace" and len(manifest["runs"]) == 2


def test_saving_again_replaces_the_old_workspace(tmp_path):
    folder = tmp_path / "ws"
    save_workspace(folder, _workspace())
    save_workspace(folder, Workspace(spec=load_preset("alexnet_small"), dataset="shapes"))
    back = load_workspace(folder)
    assert back.runs == [] and back.dataset == "shapes"
    assert not (folder / "runs").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["ws"]  # no staging leftovers


def test_refuses_to_overwrite_a_folder_of_other_files(tmp_path):
    (tmp_path / "thesis.txt").write_text("mine")
    with pytest.raises(WorkspaceError, match="already holds other files"):
        save_workspace(tmp_path, _workspace())
    assert (tmp_path / "thesis.txt").read_text() == "mine"


def test_unsaveable_panel_state_is_a_clear_error(tmp_path):
    ws = Workspace(panel_states={"Predict": {"widget": object()}})
    with pytest.raises(WorkspaceError, match="Predict.widget"):
        save_workspace(tmp_path / "ws", ws)
    assert not (tmp_path / "ws").exists()


def test_loading_errors_name_the_problem(tmp_path):
    with pytest.raises(WorkspaceError, match="No workspace"):
        load_workspace(tmp_path / "missing")
    (tmp_path / "plain").mkdir()
    with pytest.raises(WorkspaceError, match="not a ConvScope workspace"):
        load_workspace(tmp_path / "plain")
    folder = save_workspace(tmp_path / "ws", _workspace())
    (folder / "runs" / "00_a" / "checkpoint.pt").write_bytes(b"")
    with pytest.raises(WorkspaceError, match="Run 'a' cannot be opened.*empty"):
        load_workspace(folder)
    folder = save_workspace(tmp_path / "ws2", _workspace())
    (folder / "spec.json").write_text('{"layers": [{"kind": "warp"}]}')
    with pytest.raises(WorkspaceError, match="spec.json is invalid"):
        load_workspace(folder)
    folder = save_workspace(tmp_path / "ws3", _workspace())
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["images"][0]["file"] = "../../etc/passwd"
    (folder / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(WorkspaceError, match="outside the workspace"):
        load_workspace(folder)
    manifest["version"] = 99
    (folder / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(WorkspaceError, match="newer ConvScope"):
        load_workspace(folder)
    (folder / "manifest.json").write_text("{not json")
    with pytest.raises(WorkspaceError, match="damaged"):
        load_workspace(folder)
