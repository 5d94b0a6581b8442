"""`python main.py train`: flags reach the trainer, the last stdout line is JSON,
--out writes a loadable run folder, bad input is a plain error."""
import json

import pytest

import main

TINY = {"name": "tiny", "input_shape": [1, 8, 8], "num_classes": 10, "layers": [
    {"kind": "conv", "out_channels": 4, "kernel": 3, "padding": 1}, {"kind": "relu"},
    {"kind": "maxpool", "kernel": 2, "stride": 2}, {"kind": "flatten"}, {"kind": "dropout", "p": 0.2},
    {"kind": "linear", "units": 10}]}


@pytest.fixture
def spec_file(tmp_path):
    path = tmp_path / "tiny.json"
    path.write_text(json.dumps(TINY))
    return path


def last_json(capsys):
    out = capsys.readouterr()
    return json.loads(out.out.strip().splitlines()[-1]), out.err


def test_train_prints_json_summary_and_saves_the_run(tmp_path, spec_file, capsys):
    from engine.checkpoint import load_run

    code = main.main(["train", "--dataset", "digits", "--spec", str(spec_file), "--epochs", "2",
                      "--batch-size", "128", "--seed", "0", "--schedule", "step", "--step-size", "1",
                      "--weight-decay", "1e-4", "--l1", "1e-5", "--dropout", "0.3", "--init", "he",
                      "--batchnorm", "--augment", "crop=1", "--normalize", "per_channel",
                      "--out", str(tmp_path / "run")])
    assert code == 0
    summary, err = last_json(capsys)
    for key in ("train_loss", "train_acc", "val_acc", "epochs", "images_per_sec", "seconds", "device"):
        assert key in summary
    assert summary["epochs"] == 2 and summary["device"] == "cpu"
    assert 0.0 <= summary["val_acc"] <= 1.0
    assert "epoch 2/2" in err
    run = load_run(tmp_path / "run")
    assert run.settings["dropout"] == 0.3 and run.settings["schedule"] == "step"
    assert run.settings["normalization"] == "per_channel" and run.settings["crop"] == 1
    assert run.settings["init"] == "he" and run.settings["batchnorm"] is True
    assert [layer.kind for layer in run.spec.layers][:2] == ["conv", "batchnorm"]


def test_snapshot_ensemble_flag_uses_sgdr_and_reports_ensemble_accuracy(spec_file, capsys):
    code = main.main(["train", "--dataset", "digits", "--spec", str(spec_file), "--epochs", "2",
                      "--batch-size", "256", "--snapshot-ensemble", "2", "--quiet"])
    assert code == 0
    summary, err = last_json(capsys)
    assert err == ""
    assert summary["ensemble_kind"] == "snapshot" and len(summary["member_val_accs"]) == 2
    assert 0.0 <= summary["ensemble_val_acc"] <= 1.0


def test_bad_input_is_a_plain_error_not_a_traceback(spec_file, capsys):
    code = main.main(["train", "--dataset", "digits", "--spec", str(spec_file), "--lr", "-1"])
    assert code == 2
    assert "--lr must be greater than 0" in capsys.readouterr().err  # refused while parsing the flags
    code = main.main(["train", "--dataset", "nope", "--spec", str(spec_file)])
    assert code == 2
    assert "Unknown dataset 'nope'" in capsys.readouterr().err
