"""The engine + CLI validation layer: hostile flags, output paths, settings and
architecture files, checkpoints, images, class groups and dataset folders.

Each CLI case runs main.main(argv) in-process and asserts: a non-zero exit, exactly one
readable error line on stderr, no traceback, and nothing written or deleted in the test's
folder. Engine cases assert the typed error and its message. Nothing here writes outside
tmp_path (the suite may run as root: FIFOs and links are made inside tmp_path, never
/dev/null as an output)."""
from __future__ import annotations

import json
import os
import time

import numpy as np
import pytest
import torch
from PIL import Image

import main
from engine.errors import CheckpointError, ConvScopeError, DataError, SpecError

TINY_SPEC = {"name": "tiny", "input_shape": [1, 8, 8], "num_classes": 10, "layers": [
    {"kind": "conv", "out_channels": 4, "kernel": 3, "padding": 1}, {"kind": "relu"},
    {"kind": "flatten"}, {"kind": "linear", "units": 10}]}


def deny_opening(monkeypatch, name: str) -> None:
    """PIL refuses to open files called `name`, as it does for an unreadable file (the suite runs
    as root, which chmod cannot lock out)."""
    import PIL.Image

    real_open = PIL.Image.open

    def refuse(fp, *args, **kwargs):
        if str(fp).endswith(name):
            raise PermissionError(13, "Permission denied", str(fp))
        return real_open(fp, *args, **kwargs)

    monkeypatch.setattr(PIL.Image, "open", refuse)


def listing(folder) -> dict[str, tuple]:
    """Every path under folder with its type, size and content hash (files) or link target."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(folder):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            info = os.lstat(path)
            if os.path.islink(path):
                out[path] = ("link", os.readlink(path))
            elif os.path.isfile(path):
                with open(path, "rb") as handle:
                    out[path] = ("file", info.st_size, hash(handle.read()))
            else:
                out[path] = ("other", info.st_mode)
    return out


def run_cli(argv: list[str], capsys) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main.main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_refused(code: int, err: str, *needles: str) -> None:
    assert code != 0, err
    assert "Traceback" not in err
    error_lines = [line for line in err.splitlines() if "error:" in line]
    assert len(error_lines) == 1, err  # one readable message (argparse adds its usage line above it)
    for needle in needles:
        assert needle in error_lines[0], (needle, err)


@pytest.fixture
def box(tmp_path):
    """A folder with the hostile files every case may point at."""
    (tmp_path / "photo.png").write_bytes(b"")  # replaced below by a real image
    Image.fromarray(np.full((40, 60, 3), 120, np.uint8)).save(tmp_path / "photo.png")
    (tmp_path / "notes.txt").write_text("the user's notes")
    (tmp_path / "folder").mkdir()
    os.mkfifo(tmp_path / "fifo")
    os.symlink(tmp_path / "notes.txt", tmp_path / "link.png")
    (tmp_path / "spec.json").write_text(json.dumps(TINY_SPEC))
    return tmp_path


# ---------------------------------------------------------------- numeric flags

FLAG_CASES = [
    (["train", "--warmup", "nan"], "--warmup must be a finite number"),
    (["train", "--warmup", "inf"], "--warmup must be a finite number"),
    (["train", "--cycle-epochs", "nan"], "--cycle-epochs must be a finite number"),
    (["train", "--cycle-epochs", "inf"], "--cycle-epochs must be a finite number"),
    (["train", "--cycle-mult", "inf"], "--cycle-mult must be a finite number"),
    (["train", "--seed", "1180591620717411303424"], "--seed must be at most"),
    (["train", "--seed", "-1"], "--seed must be at least 0"),
    (["train", "--epochs", "100000000"], "--epochs must be at most 10,000"),
    (["train", "--lr", "nan"], "--lr must be a finite number"),
    (["train", "--batch-size", "abc"], "--batch-size must be a whole number"),
    (["classviz", "1", "--seed", "1180591620717411303424", "--out", "OUT/x.png"], "--seed must be at most"),
    (["classviz", "1", "--steps", "1e9", "--out", "OUT/x.png"], "--steps must be a whole number"),
    (["screenshots", "--size", "abc", "--out", "OUT/shots"], "--size must look like"),
    (["screenshots", "--size", "60000x60000", "--out", "OUT/shots"], "between 64 and 8192"),
    (["screenshots", "--scale", "nan", "--out", "OUT/shots"], "--scale must be a finite number"),
    (["fool", "x.png", "--epsilon", "inf", "--out", "OUT/x.png"], "--epsilon must be a finite number"),
    (["embed", "--run", "r", "--out", "OUT/e.csv", "--perplexity", "nan"], "--perplexity must be a finite"),
    (["dogfood", "d", "--lr=-inf"], "--lr must be a finite number"),
    (["embed", "--run", "r", "--out", "OUT/e.csv", "--seed", "4294967296"], "--seed must be at most 4,294,967,295"),
    (["predict", "x.png", "-k", "100000"], "-k must be at most 1,000"),
]


@pytest.mark.parametrize("argv,message", FLAG_CASES, ids=[" ".join(a[:3]) for a, _ in FLAG_CASES])
def test_numeric_flags_are_refused_while_parsing(argv, message, box, capsys):
    before = listing(box)
    argv = [a.replace("OUT", str(box)) for a in argv]
    code, _, err = run_cli(argv, capsys)
    assert_refused(code, err, message)
    assert listing(box) == before


def test_absurd_plans_are_refused_before_the_first_step(box, capsys):
    started = time.perf_counter()
    code, _, err = run_cli(["train", "--dataset", "digits", "--schedule", "sgdr", "--cycle-epochs", "1e-7",
                            "--epochs", "3", "--quiet"], capsys)
    assert_refused(code, err, "shorter than one optimizer step")
    code, _, err = run_cli(["train", "--dataset", "digits", "--epochs", "10000", "--batch-size", "1", "--quiet"],
                           capsys)
    assert_refused(code, err, "optimizer steps; ConvScope plans at most 5,000,000")
    assert time.perf_counter() - started < 20


def test_schedules_are_closed_form_and_bounded():
    from engine.schedules import (ScheduleError, learning_rate_curve, learning_rate_plan, sgdr_cycle_ends)
    from engine.train import TrainSettings

    started = time.perf_counter()
    with pytest.raises(ScheduleError, match="plans at most"):
        learning_rate_curve(TrainSettings(epochs=100_000_000), 79)
    with pytest.raises(ScheduleError, match="shorter than one optimizer step"):
        sgdr_cycle_ends(TrainSettings(epochs=5, schedule="sgdr", sgdr_cycle_epochs=1e-7), 79)
    # 10,000 epochs of 0.02-epoch cycles: 500,000 cycles, planned in well under a second
    epochs, rates = learning_rate_plan(TrainSettings(epochs=10_000, schedule="sgdr", sgdr_cycle_epochs=0.02), 79)
    assert len(epochs) == len(rates) <= 2000 and np.all(np.isfinite(rates))
    assert time.perf_counter() - started < 5


# ---------------------------------------------------------------- output paths

def out_cases(box):
    image = str(box / "photo.png")
    return [
        (["saliency", image, "--out", str(box / "folder")], "is a folder"),
        (["saliency", image, "--out", ""], "name is empty"),
        (["saliency", image, "--out", str(box / "fifo")], "not an ordinary file"),
        (["saliency", image, "--out", str(box / "link.png")], "symbolic link"),
        (["saliency", image, "--out", str(box / "notes.txt" / "x.png")], "is a file, not a folder"),
        (["fool", image, "--target", "1", "--out", str(box / "folder")], "is a folder"),
        (["fool", image, "--target", "1", "--out", image], "is also the input"),
        (["classviz", "1", "--out", str(box / "fifo")], "not an ordinary file"),
        (["train", "--out", str(box / "notes.txt")], "is not a folder"),
        (["train", "--out", str(box / "fifo")], "is not a folder"),
        (["train", "--out", str(box / "link.png")], "symbolic link"),
        (["embed", "--run", "r", "--out", str(box / "fifo")], "not an ordinary file"),
        (["embed", "--run", "r", "--out", str(box / "photo.csv")], "photo.png already exists"),
        (["embed", "--run", "r", "--out", str(box / "e.csv"), "--png", str(box / "e.csv")], "same file"),
        (["screenshots", "--out", str(box / "notes.txt")], "is not a folder"),
        (["bench", "--out", str(box / "fifo")], "not an ordinary file"),
    ]


def test_every_out_is_checked_before_any_work(box, capsys):
    for argv, message in out_cases(box):
        before = listing(box)
        started = time.perf_counter()
        code, _, err = run_cli(argv, capsys)
        assert_refused(code, err, message)
        assert listing(box) == before, argv
        assert time.perf_counter() - started < 5, argv  # refused before any model is loaded


def test_train_checks_every_run_file_before_training(box, capsys):
    (box / "run").mkdir()
    os.mkfifo(box / "run" / "checkpoint.pt")
    (box / "ens").mkdir()
    (box / "ens" / "member_2").write_text("not a folder")
    before = listing(box)
    started = time.perf_counter()
    code, _, err = run_cli(["train", "--dataset", "digits", "--out", str(box / "run"), "--quiet"], capsys)
    assert_refused(code, err, "checkpoint.pt is not an ordinary file")
    code, _, err = run_cli(["train", "--dataset", "digits", "--ensemble", "3", "--out", str(box / "ens"),
                            "--quiet"], capsys)
    assert_refused(code, err, "member_2 exists and is not a folder")
    assert listing(box) == before
    assert time.perf_counter() - started < 5  # refused before any training


def test_inspect_refuses_a_file_as_its_output_folder(box, capsys):
    before = listing(box)
    code, out, err = run_cli(["inspect", "--run", "r", "--out", str(box / "notes.txt")], capsys)
    assert code != 0 and "Traceback" not in err and "is not a folder" in err
    assert json.loads(out.strip().splitlines()[-1])["ok"] is False
    assert listing(box) == before


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write into read-only folders")
def test_read_only_output_folder_is_refused(box, capsys):
    locked = box / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        code, _, err = run_cli(["saliency", str(box / "photo.png"), "--out", str(locked / "x.png")], capsys)
        assert_refused(code, err, "read-only")
    finally:
        locked.chmod(0o755)


# ---------------------------------------------------------------- settings files

SETTINGS_CASES = [
    ("list.json", "[1, 2]", "must hold a JSON object"),
    ("lr.json", '{"lr": "0.1"}', "'lr' must be a number, not the text '0.1'"),
    ("seed.json", '{"seed": "7"}', "'seed' must be a whole number"),
    ("bool.json", '{"epochs": true}', "'epochs' must be a whole number, not true"),
    ("frac.json", '{"epochs": 2.5}', "'epochs' must be a whole number, not 2.5"),
    ("nan.json", '{"warmup_epochs": NaN}', "'warmup_epochs' must be a finite number"),
    ("deep.json", "[" * 100_000 + "]" * 100_000, "nested too deeply"),
    ("deep2.json", '{"a":' * 200 + "1" + "}" * 200, "nested"),
    ("text.json", '{"optimizer": 5}', "'optimizer' must be text"),
    ("bad.json", "{not json", "not valid JSON"),
    ("huge_seed.json", '{"seed": 1180591620717411303424}', "'seed' is 1180591620717411303424"),
]


@pytest.mark.parametrize("name,text,message", SETTINGS_CASES, ids=[c[0] for c in SETTINGS_CASES])
def test_settings_files(name, text, message, box, capsys):
    path = box / name
    path.write_text(text)
    before = listing(box)
    code, _, err = run_cli(["train", "--settings", str(path), "--quiet"], capsys)
    assert_refused(code, err, message)
    assert listing(box) == before


def test_settings_files_that_are_not_files(box, capsys):
    (box / "binary.json").write_bytes(bytes(range(256)) * 4)
    os.symlink("/dev/zero", box / "zero.json")
    for name, message in [("binary.json", "not text"), ("fifo", "not an ordinary file"),
                          ("zero.json", "not an ordinary file"), ("folder", "is a folder"),
                          ("missing.json", "does not exist")]:
        started = time.perf_counter()
        code, _, err = run_cli(["train", "--settings", str(box / name), "--quiet"], capsys)
        assert_refused(code, err, message)
        assert time.perf_counter() - started < 5  # a FIFO never blocks, /dev/zero is never read


def test_settings_types_are_checked_by_from_dict():
    from engine.train import TrainSettings, TrainSettingsError

    assert TrainSettings.from_dict({"epochs": 3.0, "lr": 1, "dropout": None}).epochs == 3
    for data, message in [({"lr": "0.1"}, "'lr'"), ({"nesterov": 1}, "true or false"),
                          ({"dropout": "x"}, "'dropout'"), ([], "JSON object"), ({"seed": 2**70}, "'seed'"),
                          ({"dataset": 5}, "'dataset' must be text")]:
        with pytest.raises(TrainSettingsError, match=message):
            TrainSettings.from_dict(data)
    problems = TrainSettings(warmup_epochs=float("nan"), epochs=100_000_000).problems()
    assert any("warmup_epochs" in p for p in problems)
    assert any("at most 10,000" in p for p in TrainSettings(epochs=100_000_000).problems())


# ---------------------------------------------------------------- architecture files

def spec_with(layers, input_shape=(1, 28, 28)):
    return {"name": "x", "input_shape": list(input_shape), "num_classes": 10, "layers": layers}


SPEC_CASES = [
    ("list", "[1, 2]", "'layers' list"),
    ("deep", "[" * 100_000 + "]" * 100_000, "nested too deeply"),
    ("units_inf", json.dumps(spec_with([{"kind": "flatten"}, {"kind": "linear", "units": float("inf")}])),
     "'units' must be a finite number"),
    ("units_nan", json.dumps(spec_with([{"kind": "flatten"}, {"kind": "linear", "units": float("nan")}])),
     "'units' must be a finite number"),
    ("units_frac", json.dumps(spec_with([{"kind": "flatten"}, {"kind": "linear", "units": 10.5}])),
     "whole number"),
    ("units_text", json.dumps(spec_with([{"kind": "flatten"}, {"kind": "linear", "units": "10"}])),
     "must be a number"),
    ("linear_1e9", json.dumps(spec_with([{"kind": "flatten"}, {"kind": "linear", "units": 10**9}])),
     "at most 65,536"),
    ("conv_1e6", json.dumps(spec_with([{"kind": "conv", "out_channels": 10**6}] * 2)), "at most 4,096"),
    ("kernel_huge", json.dumps(spec_with([{"kind": "conv", "kernel": 100000}])), "at most 64"),
    ("input_11k", json.dumps(spec_with([{"kind": "flatten"}], (3, 11000, 11000))), "too large"),
    ("shape_text", json.dumps({"input_shape": "abc", "layers": []}), "'input_shape' must be a list"),
]


@pytest.mark.parametrize("name,text,message", SPEC_CASES, ids=[c[0] for c in SPEC_CASES])
def test_architecture_files(name, text, message, box, capsys):
    path = box / f"{name}.json"
    path.write_text(text)
    with pytest.raises(SpecError, match=message):
        from engine.spec import NetworkSpec

        NetworkSpec.load(path)
    before = listing(box)
    code, _, err = run_cli(["train", "--dataset", "digits", "--spec", str(path), "--quiet"], capsys)
    assert_refused(code, err, message)
    assert listing(box) == before


def test_architecture_over_the_memory_budget_names_the_figures(box, capsys, monkeypatch):
    from engine.spec import NetworkSpec, analyze, validate

    monkeypatch.setenv("CONVSCOPE_MEMORY_BUDGET_GB", "6")
    spec = NetworkSpec.from_dict(spec_with([{"kind": "flatten"}, {"kind": "linear", "units": 65536},
                                            {"kind": "linear", "units": 65536}, {"kind": "linear", "units": 10}]))
    infos = analyze(spec)  # never raises: the row says why
    assert "this machine allows 6.0 GB" in infos[2].error and "69.5 GB" in infos[2].error
    with pytest.raises(SpecError, match="this machine allows 6.0 GB"):
        validate(spec)
    big_maps = NetworkSpec.from_dict(spec_with([{"kind": "conv", "out_channels": 4096}] * 2, (3, 2048, 2048)))
    assert "activations" in analyze(big_maps)[0].error
    (box / "big.json").write_text(json.dumps(spec.to_dict()))
    code, _, err = run_cli(["train", "--dataset", "digits", "--spec", str(box / "big.json"), "--quiet"], capsys)
    assert_refused(code, err, "this machine allows 6.0 GB")


def test_architecture_file_that_is_a_fifo_or_dev_zero(box, capsys):
    os.symlink("/dev/zero", box / "zero.json")
    for name in ("fifo", "zero.json"):
        started = time.perf_counter()
        code, _, err = run_cli(["train", "--dataset", "digits", "--spec", str(box / name), "--quiet"], capsys)
        assert_refused(code, err, "not an ordinary file")
        assert time.perf_counter() - started < 10


# ---------------------------------------------------------------- checkpoints and runs

@pytest.fixture(scope="module")
def saved_run(tmp_path_factory):
    from engine.checkpoint import TrainedRun, save_run
    from engine.model import ConvNet
    from engine.spec import NetworkSpec

    folder = tmp_path_factory.mktemp("run")
    save_run(folder / "ok", TrainedRun(ConvNet(NetworkSpec.from_dict(TINY_SPEC)), "digits", {"lr": 0.1},
                                       {"loss": [1.0]}, "tiny"))
    return folder / "ok"


def checkpoint_variants(good: dict) -> list[tuple[str, dict, str]]:
    big = dict(TINY_SPEC, layers=TINY_SPEC["layers"][:-1] + [{"kind": "linear", "units": 65536},
                                                              {"kind": "linear", "units": 8000},
                                                              {"kind": "linear", "units": 10}])
    state = good["state_dict"]
    return [
        ("version_none", {"version": None}, "format version is 'None'"),
        ("version_text", {"version": "abc"}, "format version is 'abc'"),
        ("settings_dict", {"settings": {"lr": 0.1}}, "'settings' entry should be text"),
        ("history_list", {"history": "[1, 2]"}, "must be JSON objects"),
        ("spec_none", {"spec": None}, "'spec' entry should be text"),
        ("state_ints", {"state_dict": {k: 1 for k in state}}, "is not a tensor"),
        ("state_list", {"state_dict": [1, 2]}, "no weights"),
        ("huge_layer", {"spec": json.dumps(big)}, "do not match its architecture"),
        ("settings_deep", {"settings": "[" * 100_000 + "]" * 100_000}, "nested too deeply"),
    ]


def test_checkpoints_with_wrong_field_types(saved_run, tmp_path, capsys):
    from engine.checkpoint import load_run

    good = torch.load(saved_run / "checkpoint.pt", weights_only=True)
    for name, change, message in checkpoint_variants(good):
        folder = tmp_path / name
        folder.mkdir()
        torch.save({**good, **change}, folder / "checkpoint.pt")
        with pytest.raises(CheckpointError, match=message):
            load_run(folder)
    # the CLI: one message, no traceback, nothing written
    before = listing(tmp_path)
    code, _, err = run_cli(["embed", "--run", str(tmp_path / "version_none"), "--out", str(tmp_path / "e.csv"),
                            "--method", "pca"], capsys)
    assert_refused(code, err, "format version")
    assert listing(tmp_path) == before


def test_huge_layer_checkpoint_is_refused_without_building_the_model(saved_run, tmp_path, monkeypatch):
    from engine import checkpoint

    good = torch.load(saved_run / "checkpoint.pt", weights_only=True)
    built = []
    monkeypatch.setattr(checkpoint, "ConvNet", lambda spec: built.append(spec))
    _, change, message = checkpoint_variants(good)[7]
    torch.save({**good, **change}, tmp_path / "big.pt")
    with pytest.raises(CheckpointError, match=message):
        checkpoint.load_checkpoint(tmp_path / "big.pt")
    assert built == []  # the shapes were compared before any model existed


def test_full_disk_while_saving_keeps_the_old_files(saved_run, tmp_path, monkeypatch):
    from engine import checkpoint, images
    from engine.fileio import OutputPathError

    run = checkpoint.load_run(saved_run)
    target = tmp_path / "checkpoint.pt"
    target.write_bytes(b"old checkpoint")

    def full_disk(*args, **kwargs):
        raise RuntimeError("[enforce fail at inline_container.cc:778] . PytorchStreamWriter failed writing file "
                           "data/0: file write failed")

    monkeypatch.setattr(torch, "save", full_disk)
    with pytest.raises(CheckpointError, match="the disk is full"):
        checkpoint.save_checkpoint(target, run)
    assert target.read_bytes() == b"old checkpoint"
    (tmp_path / "old.png").write_bytes(b"old picture")

    def no_space(self, fp, *args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Image.Image, "save", no_space)
    with pytest.raises(OutputPathError, match="the disk is full"):
        images.save_png(tmp_path / "old.png", np.zeros((4, 4, 3), np.uint8))
    assert (tmp_path / "old.png").read_bytes() == b"old picture"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint.pt", "old.png"]  # no temporary left


def test_checkpoint_that_is_not_a_regular_file(tmp_path):
    from engine.checkpoint import load_run

    (tmp_path / "run").mkdir()
    os.mkfifo(tmp_path / "run" / "checkpoint.pt")
    started = time.perf_counter()
    with pytest.raises(CheckpointError, match="not an ordinary file"):
        load_run(tmp_path / "run")
    assert time.perf_counter() - started < 2


# ---------------------------------------------------------------- images

def test_images_outside_the_accepted_formats_are_never_decoded(tmp_path):
    from engine.images import image_from_bytes, load_image

    eps = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nshowpage\n"
    (tmp_path / "eps.png").write_bytes(eps)
    with pytest.raises(DataError, match="not an image file"):
        load_image(tmp_path / "eps.png")
    with pytest.raises(DataError, match="not an image file"):
        image_from_bytes(eps, "pasted")
    Image.new("RGB", (4, 4)).save(tmp_path / "icon.ico")  # a real image, but not a format ConvScope opens
    (tmp_path / "icon.png").write_bytes((tmp_path / "icon.ico").read_bytes())
    with pytest.raises(DataError, match="not an image file"):
        load_image(tmp_path / "icon.png")


def test_pixel_budget_is_checked_before_decoding(tmp_path, monkeypatch):
    from engine import images

    deep = np.zeros((1500, 2000), np.uint16)
    deep[::3] = 40000
    Image.fromarray(deep).save(tmp_path / "deep16.png")  # 3 MP, 16-bit
    Image.new("RGBA", (2000, 1500), (1, 2, 3, 4)).save(tmp_path / "rgba.png")
    monkeypatch.setattr(images, "DECODE_BUDGET_BYTES", 20_000_000)  # as if the files were 40x larger
    for name, mode in [("deep16.png", "I;16"), ("rgba.png", "RGBA")]:
        with pytest.raises(DataError, match=rf"2000x1500 pixels .*\({mode}\); decoding it needs about"):
            images.load_image(tmp_path / name)
        with pytest.raises(DataError, match="decoding it needs about"):
            images.image_from_bytes((tmp_path / name).read_bytes(), "pasted image")
    # when only a small image is needed (a 32 px dataset), the same file loads reduced
    small = images.load_image(tmp_path / "deep16.png", max_side=32)
    assert min(small.shape[:2]) >= 32 and max(small.shape[:2]) < 200 and small.dtype == np.uint8


def test_pasted_image_gets_the_pixel_limit(monkeypatch, tmp_path):
    from engine import images

    Image.new("L", (3000, 3000)).save(tmp_path / "paste.png")
    monkeypatch.setattr(images, "MAX_PIXELS", 5_000_000)
    with pytest.raises(DataError, match="too large to open safely"):
        images.image_from_bytes((tmp_path / "paste.png").read_bytes(), "clipboard image")


def test_large_jpeg_is_decoded_at_reduced_size(tmp_path, monkeypatch):
    from engine import images

    Image.new("RGB", (2400, 1600), (10, 20, 30)).save(tmp_path / "big.jpg", quality=60)
    monkeypatch.setattr(images, "DECODE_BUDGET_BYTES", 20_000_000)
    image = images.load_image(tmp_path / "big.jpg")  # JPEG's draft mode: 1/2 or 1/4 size, no refusal
    assert image.shape[0] < 1600 and image.shape[0] * image.shape[1] * 12 <= 20_000_000


def test_unreadable_image_is_a_data_error(tmp_path, monkeypatch):
    from engine.images import load_image

    Image.new("RGB", (4, 4)).save(tmp_path / "locked.png")
    deny_opening(monkeypatch, "locked.png")
    with pytest.raises(DataError, match="permission denied"):
        load_image(tmp_path / "locked.png")


def test_predict_reports_each_bad_image_and_still_predicts_the_good_ones(tmp_path, capsys):
    Image.new("RGB", (1, 1)).save(tmp_path / "tiny.png")
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"x" * 20)
    (tmp_path / "eps.png").write_bytes(b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n")
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(
        tmp_path / "good.png")
    before = listing(tmp_path)
    names = ["tiny.png", "broken.png", "eps.png", "good.png"]
    code, out, err = run_cli(["predict", *[str(tmp_path / n) for n in names], "-k", "1"], capsys)
    assert code == 0 and "Traceback" not in err
    results = json.loads(out.strip().splitlines()[-1])["results"]
    assert [("error" in r) for r in results] == [True, True, True, False]
    assert "too small" in results[0]["error"] and "not an image file" in results[2]["error"]
    assert len(results[3]["top5"]) == 1
    assert listing(tmp_path) == before


# ---------------------------------------------------------------- class groups

def test_class_group_ranges_are_checked_before_expanding(tmp_path, capsys):
    from engine.transfer import ClassGroups

    huge = {"groups": [{"name": "dog", "ranges": [[0, 20_000_000]]}, {"name": "food", "classes": [924]}]}
    started = time.perf_counter()
    with pytest.raises(DataError, match="lists class 20,000,000; the model's classes are 0-999"):
        ClassGroups.from_dict(huge, "panels.json")
    for data, message in [
        ({"groups": [{"name": "a", "ranges": [[5, 3]]}]}, "must not exceed"),
        ({"groups": [{"name": "a", "ranges": [[1, 2, 3]]}]}, r"\[first, last\]"),
        ({"groups": [{"name": "a", "classes": ["x"]}]}, "not a class index"),
        ({"groups": [{"name": "a", "classes": [1.5]}]}, "not a class index"),
        ({"groups": [{"name": "a", "classes": [-1]}]}, "0-999"),
        ({"groups": "dog"}, "'groups' list"),
        ([1], "'groups' list"),
    ]:
        with pytest.raises(DataError, match=message):
            ClassGroups.from_dict(data, "panels.json")
    assert time.perf_counter() - started < 1
    path = tmp_path / "groups.json"
    path.write_text(json.dumps(huge))
    (tmp_path / "test").mkdir()
    before = listing(tmp_path)
    code, _, err = run_cli(["dogfood", str(tmp_path / "test"), "--groups", str(path)], capsys)
    assert_refused(code, err, "20,000,000")
    assert listing(tmp_path) == before
    code, _, err = run_cli(["dogfood", str(tmp_path / "test"), "--groups", str(tmp_path / "fifo-missing")], capsys)
    assert_refused(code, err, "No class-group file")


# ---------------------------------------------------------------- dataset folders

def test_image_folder_skips_links_and_unreadable_files_and_reduces_big_images(tmp_path, monkeypatch):

    from engine.data import load_dataset
    from engine.folders import DAMAGED, LINK

    root = tmp_path / "data"
    outside = tmp_path / "outside"
    for name in ("cat", "dog"):
        (root / name).mkdir(parents=True)
        for i in range(3):
            Image.new("RGB", (20, 20), (i * 40, 10, 10)).save(root / name / f"{i}.png")
    outside.mkdir()
    for i in range(5):
        Image.new("RGB", (20, 20)).save(outside / f"secret{i}.png")
    os.symlink(outside, root / "linked_class")  # a class folder that is a link: not followed
    os.symlink(outside / "secret0.png", root / "cat" / "link.png")  # a file link: not followed
    Image.new("L", (3000, 2000), 200).save(root / "dog" / "huge.png")  # reduced on load, not 6 MB per array
    Image.new("RGB", (4, 4)).save(root / "dog" / "locked.png")
    deny_opening(monkeypatch, "locked.png")
    data = load_dataset("image_folder", root=str(root), size=8)
    assert data.class_names == ["cat", "dog"]
    assert len(data.train_x) + len(data.val_x) == 7  # 3 cats, 3 dogs + the huge one
    reasons = data.extra["skipped_reasons"]
    assert reasons.get(LINK) == 2
    assert reasons.get(DAMAGED) == 1
    skipped = dict(data.extra["skipped"])
    assert "permission denied" in skipped[os.path.join("dog", "locked.png")]


def test_folder_scan_does_not_follow_links(tmp_path):
    from engine.folders import LINK, scan_image_folder

    root = tmp_path / "test"
    for name in ("dog", "food"):
        (root / name).mkdir(parents=True)
        Image.new("RGB", (8, 8)).save(root / name / "a.png")
    (tmp_path / "elsewhere").mkdir()
    Image.new("RGB", (8, 8)).save(tmp_path / "elsewhere" / "b.png")
    os.symlink(tmp_path / "elsewhere", root / "cat")
    os.symlink(tmp_path / "elsewhere" / "b.png", root / "dog" / "b.png")
    scan = scan_image_folder(root)
    assert scan.class_names == ["dog", "food"] and len(scan.files) == 2
    assert scan.skipped_counts() == {LINK: 2}


def test_typed_errors_are_convscope_errors():
    from engine.fileio import InputFileError, OutputPathError
    from engine.schedules import ScheduleError

    for cls in (InputFileError, OutputPathError, ScheduleError):
        assert issubclass(cls, ConvScopeError)


def test_real_process_prints_one_line_and_no_traceback(box):
    """Two cases through a real interpreter (the rest run in-process)."""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(main.__file__).resolve().parent
    before = listing(box)
    for argv, message in [(["train", "--seed", "1180591620717411303424"], "--seed must be at most"),
                          (["saliency", str(box / "photo.png"), "--out", str(box / "fifo")], "not an ordinary file")]:
        result = subprocess.run([sys.executable, str(root / "main.py"), *argv], capture_output=True, text=True,
                                timeout=120, cwd=root, env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
        assert_refused(result.returncode, result.stderr, message)
        assert result.stdout == ""
    assert listing(box) == before
