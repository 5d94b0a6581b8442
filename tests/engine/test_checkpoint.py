import os
import pickle

import pytest
import torch

from engine.checkpoint import TrainedRun, load_checkpoint, load_run, load_weights_into, save_checkpoint, save_run
from engine.errors import CheckpointError
from engine.model import ConvNet
from engine.spec import load_preset


def _run():
    torch.manual_seed(0)
    model = ConvNet(load_preset("lenet5"))
    model.normalize.fit(torch.rand(10, 1, 28, 28), "mean_image")
    return TrainedRun(model, "mnist5k", {"lr": 0.1}, {"val_acc": [0.5, 0.9]}, "demo")


def test_round_trip_keeps_weights_spec_settings_and_history(tmp_path):
    run = _run()
    save_run(tmp_path / "run", run)
    loaded = load_run(tmp_path / "run")
    x = torch.rand(3, 1, 28, 28)
    assert torch.equal(loaded.model(x), run.model(x))
    assert loaded.settings == {"lr": 0.1} and loaded.history == {"val_acc": [0.5, 0.9]}
    assert loaded.spec.to_dict() == run.spec.to_dict() and loaded.dataset == "mnist5k"


def test_truncated_and_empty_files_give_clear_errors(tmp_path):
    path = tmp_path / "c.pt"
    save_checkpoint(path, _run())
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="corrupt or truncated"):
        load_checkpoint(path)
    path.write_bytes(b"")
    with pytest.raises(CheckpointError, match="empty"):
        load_checkpoint(path)


class _Exploit:
    def __reduce__(self):
        return (os.system, ("touch PWNED_BY_CHECKPOINT",))


def test_pickle_payload_is_refused_and_never_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "evil.pt"
    torch.save({"format": "convscope-checkpoint", "payload": _Exploit()}, path)
    with pytest.raises(CheckpointError, match="could run code"):
        load_checkpoint(path)
    assert not (tmp_path / "PWNED_BY_CHECKPOINT").exists()
    path.write_bytes(pickle.dumps(_Exploit()))
    with pytest.raises(CheckpointError):
        load_checkpoint(path)
    assert not (tmp_path / "PWNED_BY_CHECKPOINT").exists()


def test_checkpoint_from_another_architecture(tmp_path):
    path = tmp_path / "c.pt"
    save_checkpoint(path, _run())
    other = ConvNet(load_preset("mlp"))
    with pytest.raises(CheckpointError, match="another architecture"):
        load_weights_into(other, path)


def test_foreign_file_is_not_a_checkpoint(tmp_path):
    path = tmp_path / "foreign.pt"
    torch.save({"weights": torch.zeros(3)}, path)
    with pytest.raises(CheckpointError, match="not a ConvScope checkpoint"):
        load_checkpoint(path)
    with pytest.raises(CheckpointError, match="not a ConvScope run folder"):
        load_run(tmp_path)


@pytest.mark.parametrize("history,message", [
    ({"val_acc": "abc"}, "not a list"),
    ({"val_acc": [0.5, "x"]}, "not numbers"),
    ({"summary": [1, 2]}, "summary is not a list of objects"),
])
def test_a_history_of_the_wrong_shape_is_refused_on_load(tmp_path, history, message):
    save_checkpoint(tmp_path / "c.pt", TrainedRun(ConvNet(load_preset("mlp")), "digits", {}, history, "r"))
    with pytest.raises(CheckpointError, match=message):
        load_checkpoint(tmp_path / "c.pt")
    assert torch.load(tmp_path / "c.pt", weights_only=True)["format"] == "convscope-checkpoint"
