"""A smoke test for every headless command (python main.py --help lists them): each runs
in-process through main.main(argv) on tiny inputs (bundled photos, the fewest steps and
epochs), exits 0, ends stdout with one JSON line holding the expected keys, and writes
its files where --out says. (`screenshots` opens the window: tests/gui/test_screenshots.py.)"""
from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

import main
from engine.cli import COMMANDS

TINY_SPEC = {"name": "tiny", "input_shape": [1, 8, 8], "num_classes": 10, "layers": [
    {"kind": "conv", "out_channels": 4, "kernel": 3, "padding": 1}, {"kind": "relu"},
    {"kind": "maxpool", "kernel": 2, "stride": 2}, {"kind": "flatten"}, {"kind": "linear", "units": 10}]}


def run_cli(argv: list[str], capsys) -> tuple[int, dict, str]:
    capsys.readouterr()
    code = main.main(argv)
    captured = capsys.readouterr()
    lines = captured.out.strip().splitlines()
    assert lines, captured.err[-2000:]
    return code, json.loads(lines[-1]), captured.err


def is_png(path) -> bool:
    with Image.open(path) as image:
        return image.format == "PNG" and image.width > 0


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    """A tiny digits run written by `train --out`, shared by inspect and embed."""
    folder = tmp_path_factory.mktemp("run")
    spec = folder / "tiny.json"
    spec.write_text(json.dumps(TINY_SPEC))
    code = main.main(["train", "--dataset", "digits", "--spec", str(spec), "--epochs", "1", "--batch-size", "256",
                      "--seed", "0", "--quiet", "--out", str(folder / "run")])
    assert code == 0
    return folder / "run"


def test_every_command_has_a_smoke_test():
    tested = {"predict", "saliency", "fool", "classviz", "embed", "inspect", "train", "dogfood", "lesson", "live"}
    assert set(COMMANDS) == tested


def test_live_on_a_folder_of_frames(tmp_path, capsys):
    from engine.images import load_bundled_photo, save_png

    frames = tmp_path / "frames"
    frames.mkdir()
    for i, name in enumerate(("coffee", "chelsea", "coffee")):
        save_png(frames / f"{i}.png", load_bundled_photo(name))
    code, summary, _ = run_cli(["live", "--source", str(frames), "--every-frame"], capsys)
    assert code == 0 and summary["frames"] == 3 and summary["dropped"] == 0
    code = main.main(["live", "--source", str(frames), "--every-frame", "--frames", "2"])
    per_frame = [json.loads(line) for line in capsys.readouterr().out.strip().splitlines()][:-1]
    assert code == 0 and [f["frame"] for f in per_frame] == [0, 1] and per_frame[0]["top1"] == "espresso"
    assert {"probability", "ms", "dog", "food"} <= set(per_frame[0])
    assert main.main(["live", "--source", str(tmp_path / "missing")]) != 0
    assert "No camera, video or frame folder" in capsys.readouterr().err


def test_train(tmp_path, capsys):
    spec = tmp_path / "tiny.json"
    spec.write_text(json.dumps(TINY_SPEC))
    code, summary, _ = run_cli(["train", "--dataset", "digits", "--spec", str(spec), "--epochs", "1",
                                "--batch-size", "256", "--quiet", "--out", str(tmp_path / "run")], capsys)
    assert code == 0
    assert {"train_loss", "train_acc", "val_acc", "epochs", "seconds", "device"} <= set(summary)
    assert summary["epochs"] == 1 and (tmp_path / "run").is_dir() and any((tmp_path / "run").iterdir())


def test_inspect(trained_run, tmp_path, capsys):
    out = tmp_path / "pngs"
    code, summary, _ = run_cli(["inspect", "--run", str(trained_run), "--out", str(out), "--top-k", "2",
                                "--limit", "64"], capsys)
    assert code == 0 and summary["ok"] is True
    assert {"out", "files", "val_accuracy"} <= set(summary) and summary["files"]
    assert str(out / "layer_stats.png") in summary["files"] and str(out / "confusion_matrix.png") in summary["files"]
    for path in summary["files"]:
        assert path.startswith(str(out)) and is_png(path), path


def test_inspect_the_users_own_model_over_a_folder(tmp_path, capsys, monkeypatch):
    import numpy as np
    import torch
    import torchvision

    from engine.images import save_png

    monkeypatch.setenv("CONVSCOPE_CACHE_DIR", str(tmp_path / "cache"))
    weights = tmp_path / "resnet18.pt"
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), weights)
    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(3):
        save_png(photos / f"{i}.png", (np.random.default_rng(i).random((80, 90, 3)) * 255).astype(np.uint8))
    out = tmp_path / "inside"
    argv = ["inspect", "--model", str(weights), "--arch", "resnet18", "--images", str(photos), "--layer", "layer1",
            "--channels", "2", "--top-k", "2", "--out", str(out)]
    code, summary, _ = run_cli(argv, capsys)
    assert code == 0 and summary["ok"] is True, summary
    assert summary["layers"]["layer1"]["images"] == 3 and not summary["layers"]["layer1"]["cached"]
    assert {str(out / name) for name in ("filters_first_layer.png", "top_patches_layer1.png", "layer_stats.png")} \
        == set(summary["files"]) and all(is_png(path) for path in summary["files"])
    code, again, _ = run_cli(argv, capsys)  # the second look reuses the folder's index
    assert code == 0 and again["layers"]["layer1"]["cached"]
    assert main.main(["inspect", "--model", str(weights), "--arch", "resnet18", "--layer", "layer9",
                      "--out", str(tmp_path / "x")]) != 0
    assert "no feature-map layer 'layer9'" in capsys.readouterr().err


def test_embed_pca(trained_run, tmp_path, capsys):
    csv_path = tmp_path / "xy.csv"
    code, summary, _ = run_cli(["embed", "--run", str(trained_run), "--method", "pca", "--samples", "100",
                                "--out", str(csv_path), "--quiet"], capsys)
    assert code == 0
    assert {"csv", "png", "layer"} <= set(summary)
    assert summary["csv"] == str(csv_path) and len(csv_path.read_text().splitlines()) >= 100
    assert is_png(summary["png"])


def test_predict(capsys):
    code, summary, _ = run_cli(["predict", "bundled:coffee", "-k", "3"], capsys)
    assert code == 0 and set(summary) == {"model", "results"}
    (result,) = summary["results"]
    assert result["image"] == "bundled:coffee" and len(result["top5"]) == 3
    assert {"index", "name", "prob"} <= set(result["top5"][0]) and result["top5"][0]["name"] == "espresso"


def test_saliency(tmp_path, capsys):
    out = tmp_path / "map.png"
    code, summary, _ = run_cli(["saliency", "bundled:chelsea", "--method", "vanilla", "--out", str(out)], capsys)
    assert code == 0
    assert {"image", "methods", "target", "target_index", "seconds", "out"} <= set(summary)
    assert summary["methods"] == ["vanilla"] and summary["out"] == str(out) and is_png(out)


def test_fool(tmp_path, capsys):
    out = tmp_path / "adv.png"
    code, summary, _ = run_cli(["fool", "bundled:coffee", "--method", "pgd", "--epsilon", "8", "--steps", "10",
                                "--out", str(out)], capsys)
    assert code == 0, summary
    assert {"reloaded", "reloaded_prob", "out"} <= set(summary) and summary["out"] == str(out) and is_png(out)


def test_classviz(tmp_path, capsys):
    out = tmp_path / "viz.png"
    code, summary, _ = run_cli(["classviz", "goldfish", "--steps", "2", "--seed", "0", "--out", str(out)], capsys)
    assert code == 0 and summary["out"] == str(out) and is_png(out)
    assert {"class", "class_index", "style", "steps", "final_prob", "top1"} <= set(summary)
    assert summary["class_index"] == 1 and summary["steps"] == 2


def test_classviz_of_a_hidden_unit_of_the_users_own_model(tmp_path, capsys):
    import torch
    import torchvision

    weights = tmp_path / "resnet18.pt"
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), weights)
    out = tmp_path / "unit.png"
    code, summary, _ = run_cli(["classviz", "--model", str(weights), "--arch", "resnet18", "--layer", "layer2.0.conv1",
                                "--channel", "3", "--steps", "2", "--out", str(out)], capsys)
    assert code == 0, summary
    assert (summary["layer"], summary["channel"]) == ("net.layer2.0.conv1", 3) and is_png(out)
    for argv, message in ((["--layer", "blocks.1"], "both --layer and --channel"),
                          (["--model", str(weights), "--layer", "layer1", "--channel", "0"], "--arch")):
        assert main.main(["classviz", *argv, "--out", str(tmp_path / "no.png")]) != 0
        assert message in capsys.readouterr().err


def test_dogfood_zero_shot(tmp_path, capsys):
    from engine.images import load_bundled_photo, save_png

    for group, photo in (("dog", "chelsea"), ("food", "coffee")):
        (tmp_path / group).mkdir()
        image = np.asarray(load_bundled_photo(photo))
        save_png(tmp_path / group / f"{photo}.png", image[::2, ::2])
    code, summary, _ = run_cli(["dogfood", str(tmp_path), "--quiet"], capsys)
    assert code == 0
    assert {"per_group", "groups_title", "accuracy", "n", "mode"} <= set(summary)
    assert set(summary["per_group"]) == {"dog", "food"} and summary["n"] == 2


def test_lesson(tmp_path, capsys):
    code, summary, _ = run_cli(["lesson", "--list"], capsys)
    assert code == 0 and len(summary["lessons"]) >= 10
    out = tmp_path / "figures"
    code, summary, _ = run_cli(["lesson", "mean_subtraction", "--quick", "--out", str(out)], capsys)
    assert code == 0
    assert "figures" in summary and summary["figures"]
    for path in summary["figures"]:
        assert is_png(path) and str(path).startswith(str(out))


def test_dogfood_finetune(tmp_path, capsys):
    from engine.images import load_bundled_photo, save_png

    for group, photos in (("dog", ["chelsea", "astronaut", "grace_hopper"]), ("food", ["coffee", "rocket", "china"])):
        (tmp_path / group).mkdir()
        for photo in photos:
            image = np.asarray(load_bundled_photo(photo))
            save_png(tmp_path / group / f"{photo}.png", image[::2, ::2])
    code, summary, _ = run_cli(["dogfood", str(tmp_path), "--finetune", str(tmp_path), "--epochs", "1",
                                "--seed", "0", "--quiet"], capsys)
    assert code == 0
    assert {"train_n", "epochs", "final_train_acc", "per_group", "groups_title"} <= set(summary)
    assert summary["train_n"] == 6 and summary["epochs"] == 1
