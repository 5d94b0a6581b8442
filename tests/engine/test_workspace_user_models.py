"""Models the user added ('user:N') travel with a workspace: saved as architecture + file paths,
registered again when it is opened (renamed where this session already uses the name), and a
missing weights file is one clear problem while the rest still opens."""
from __future__ import annotations

import shutil

import pytest
import torch

from engine import pretrained, user_model
from engine.workspace import Workspace, load_workspace, register_workspace_models, save_workspace


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory):
    import torchvision

    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("weights")
    path = folder / "pets.pt"
    torch.save(torchvision.models.resnet18(weights=None, num_classes=3).state_dict(), path)
    names = folder / "pets.txt"
    names.write_text("cat\ndog\nfood\n")
    return path, names


@pytest.fixture
def new_session(monkeypatch):
    """Forget this process's registered models and loaded classifiers: as after a restart."""
    def restart():
        monkeypatch.setattr(user_model, "_registry", {})
        monkeypatch.setattr(pretrained, "_cache", {})
    return restart


def _saved_with(tmp_path, weights, names):
    name = user_model.register_user_model("resnet18", weights, names, input_size=96)
    entries = [dict(spec, name=n) for n, _label, spec in user_model.registered_user_models()]
    ws = Workspace(dataset="mnist5k", panel_states={"Saliency": {"model": name, "opacity": 40},
                                                    "Predict": {"model": "efficientnet_lite0"}},
                   user_models=entries)
    return save_workspace(tmp_path / "lesson.convscope", ws), name


def test_a_user_model_is_registered_again_after_a_restart(tmp_path, saved_model, new_session):
    new_session()
    folder, name = _saved_with(tmp_path, *saved_model)
    new_session()
    ws = load_workspace(folder)
    assert register_workspace_models(ws) == []
    assert ws.panel_states["Saliency"]["model"] == name == "user:1"
    assert [entry["name"] for entry in ws.user_models] == [name]
    classifier = pretrained.load_classifier(name)
    assert classifier.class_names() == ["cat", "dog", "food"] and classifier.input_size == 96


def test_a_name_taken_in_this_session_is_renamed_in_the_panel_states(tmp_path, saved_model, new_session):
    weights, names = saved_model
    new_session()
    folder, name = _saved_with(tmp_path, weights, names)
    new_session()
    other = tmp_path / "other.pt"
    shutil.copy(weights, other)
    taken = user_model.register_user_model("resnet18", other, names)  # this session's 'user:1'
    assert taken == name
    ws = load_workspace(folder)
    assert register_workspace_models(ws) == []
    renamed = ws.panel_states["Saliency"]["model"]
    assert renamed != taken and user_model.user_model_spec(renamed)["weights"] == str(weights.resolve())
    assert ws.panel_states["Predict"] == {"model": "efficientnet_lite0"} and ws.user_models[0]["name"] == renamed


def test_a_missing_weights_file_is_one_problem_and_the_rest_opens(tmp_path, saved_model, new_session):
    weights, names = saved_model
    copy = tmp_path / "moved_away.pt"
    shutil.copy(weights, copy)
    new_session()
    folder, _name = _saved_with(tmp_path, copy, names)
    copy.unlink()
    new_session()
    ws = load_workspace(folder)
    problems = register_workspace_models(ws)
    assert len(problems) == 1 and str(copy.resolve()) in problems[0] and "missing" in problems[0]
    assert ws.panel_states["Saliency"] == {"model": pretrained.DEFAULT_MODEL, "opacity": 40}
    assert ws.user_models == [] and user_model.registered_user_models() == []
    assert ws.dataset == "mnist5k"


def test_a_damaged_entry_is_reported_not_raised(tmp_path, new_session):
    new_session()
    ws = Workspace(user_models=[{"name": "user:1", "arch": "", "weights": "x.pt"}, {"name": ["user:2"]}],
                   panel_states={"Saliency": {"model": "user:1"}})
    folder = save_workspace(tmp_path / "ws", ws)
    back = load_workspace(folder)
    problems = register_workspace_models(back)
    assert len(problems) == 2 and all("damaged" in p for p in problems)
    assert back.user_models == [] and back.panel_states == {"Saliency": {"model": pretrained.DEFAULT_MODEL}}


def test_a_panel_naming_a_model_the_workspace_does_not_describe_shows_the_embedded_one(tmp_path, new_session):
    new_session()
    folder = save_workspace(tmp_path / "old", Workspace(panel_states={"Saliency": {"model": "user:7"},
                                                                      "Data": {"caption": "user: me"}}))
    back = load_workspace(folder)
    problems = register_workspace_models(back)
    assert len(problems) == 1 and "user:7" in problems[0]
    assert back.panel_states == {"Saliency": {"model": pretrained.DEFAULT_MODEL}, "Data": {"caption": "user: me"}}


def test_models_whose_files_were_missing_are_kept_with_a_free_name():
    from engine.workspace import user_models_to_save

    registered = [{"name": "user:1", "arch": "resnet18", "weights": "/a.pt"}]
    missing = [{"name": "user:1", "arch": "resnet18", "weights": "/gone.pt"},
               {"name": "user:7", "arch": "resnet18", "weights": "/gone2.pt"}]
    kept = user_models_to_save(registered, missing)
    assert [(e["name"], e["weights"]) for e in kept] == [("user:1", "/a.pt"), ("user:2", "/gone.pt"),
                                                          ("user:7", "/gone2.pt")]
