"""Every lesson's experiment runs headless and shows the lecture's point
(engine/lessons.py, resources/lesson_experiments.json, `main.py lesson`)."""
from __future__ import annotations

import copy
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from engine import lessons as L

ROOT = Path(__file__).resolve().parents[2]

# Lessons that need something the suite cannot supply, or whose point is not reached yet.
NEEDS_USER_FOLDER = {"dog_vs_food"}
NOT_REACHED: dict[str, str] = {}  # lesson id -> why its point is not reached yet (its numbers are still reported)
SHOWN = [name for name in L.lesson_names() if name not in NEEDS_USER_FOLDER and name not in NOT_REACHED]


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    # The lessons' small models gain little from a second thread, and two threads on a
    # shared 2-core machine slow each other down badly (measured: 4 min instead of 1).
    # Every lesson was checked to show its point at 1 and at 2 threads.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_lessons_cover_the_lecture_in_order():
    names = L.lesson_names()
    assert names == ["overfitting", "l2", "l1_elastic_net", "minibatch", "mean_subtraction", "augmentation",
                     "momentum", "lr_decay", "dropout", "weight_init", "batchnorm", "ensembles", "conv_numbers",
                     "diagram_live", "feature_maps", "tsne", "dog_vs_food", "saliency", "fooling",
                     "class_visualization"]


@pytest.mark.parametrize("name", SHOWN)
def test_lesson_shows_its_point(name):
    events = []
    result = L.run_experiment(name, quick=True, on_event=events.append)
    assert result.shows_point, (name, result.summary, result.reason)
    assert result.criteria and all(c.met for c in result.criteria)
    assert math.isfinite(result.effect)
    assert result.summary and result.reason == ""
    assert isinstance(events[0], L.LessonStarted)
    json.dumps(result.to_json(with_curves=True))  # plain JSON all the way down
    exp = L.get_experiment(name)
    if exp.kind == "training":
        finished = [e for e in events if isinstance(e, L.LessonRunFinished)]
        assert [e.name for e in finished] == [r.name for r in exp.runs]
        assert all(e.status == "ok" for e in finished)
        assert any(isinstance(e, L.LessonEpoch) for e in events)


@pytest.mark.parametrize("name", sorted(NOT_REACHED))
def test_lesson_not_reached_yet_reports_its_numbers(name):
    result = L.run_experiment(name, quick=True)
    if result.shows_point:
        pytest.fail(f"{name} now shows its point: move it back to SHOWN")
    assert math.isfinite(result.effect) and result.reason.startswith("not met")


def test_dog_vs_food_without_a_folder_says_so_and_measures_nothing():
    result = L.run_experiment("dog_vs_food")
    assert not result.shows_point
    assert "folder" in result.reason and "dog/" in result.reason
    assert math.isnan(result.effect) and result.runs == []


def test_overfitting_numbers_are_the_lecture_ones():
    result = L.run_experiment("overfitting")
    run = result.runs[0]
    val_loss = np.array(run.curves["val_loss"])
    train_loss = np.array(run.curves["train_loss"])
    assert run.figures["gap_points"] >= 10
    assert val_loss[-1] >= 1.2 * val_loss.min()
    assert train_loss[-1] < train_loss[int(val_loss.argmin())]
    assert len(run.curves["train_eval_acc"]) == len(run.curves["epoch"]) == 60


def test_runs_of_a_comparison_share_seed_and_data():
    exp = L.get_experiment("l2")
    settings = [exp.run_settings(run) for run in exp.runs]
    assert {s.seed for s in settings} == {0}
    assert {(s.train_subset, s.label_noise) for s in settings} == {(300, 20)}
    assert settings[0].l2 == 0 and settings[1].l2 == 0.005


def test_state_not_named_is_the_lesson_default():
    exp = L.get_experiment("overfitting")
    settings = exp.run_settings(exp.runs[0])
    assert settings.ensemble == 1 and settings.dropout is None and settings.crop == 0
    assert settings.device == "cpu" and settings.seed == 0


def _write(tmp_path, mutate):
    data = json.loads(L.EXPERIMENTS_PATH.read_text(encoding="utf-8"))
    data = copy.deepcopy(data)
    mutate(data)
    path = tmp_path / "experiments.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


@pytest.mark.parametrize("mutate, fragment", [
    (lambda d: d["experiments"][0]["experiment"].__setitem__("colour", 1), "colour"),
    (lambda d: d["experiments"][0]["experiment"]["settings"].__setitem__("epoch", 3), "epoch"),
    (lambda d: d["experiments"][1]["experiment"]["runs"][1]["settings"].__setitem__("lambda", 1), "lambda"),
    (lambda d: d["experiments"][1]["experiment"]["runs"][1].__setitem__("seed", 1), "seed"),
    (lambda d: d["experiments"][0]["experiment"]["criteria"].__setitem__("gap", 3), "gap"),
    (lambda d: d["experiments"][1]["experiment"]["options"].__setitem__("baseline_run", "x"), "baseline_run"),
    (lambda d: d["experiments"][0].__setitem__("setup", []), "setup"),
    (lambda d: d["experiments"][0]["experiment"].__setitem__("measure", "vibes"), "vibes"),
])
def test_unknown_keys_are_errors(tmp_path, mutate, fragment):
    path = _write(tmp_path, mutate)
    with pytest.raises(L.LessonError, match=fragment):
        L.experiments(path)


def test_invalid_run_settings_are_errors(tmp_path):
    path = _write(tmp_path, lambda d: d["experiments"][0]["experiment"]["settings"].__setitem__("label_noise", 120))
    with pytest.raises(L.LessonError, match="Label noise"):
        L.experiments(path)


def test_a_diverged_run_is_kept_and_marked_failed():
    exp = L.get_experiment("l2")
    runs = (exp.runs[0], L.RunPlan("explode", "lr 1e4", {"lr": 1e4, "epochs": 3}))
    broken = L.Experiment(exp.lesson_id, exp.title, exp.kind, exp.measure, exp.dataset, exp.preset, exp.spec,
                          {**exp.settings, "epochs": 3}, runs, exp.criteria, {**exp.options, "trick": "explode"},
                          exp.quick)
    events = []
    result = L.run_experiment(broken, on_event=events.append)
    assert not result.shows_point
    failed = result.runs[1]
    assert failed.status == "failed" and "diverged" in failed.error
    assert result.runs[0].status == "ok"
    assert [e.status for e in events if isinstance(e, L.LessonRunFinished)] == ["ok", "failed"]
    assert "failed" in result.reason


def test_unknown_lesson_is_a_lesson_error():
    with pytest.raises(L.LessonError, match="No lesson"):
        L.get_experiment("no_such_lesson")


def test_box_in_crop_follows_resize_and_center_crop():
    # 512 x 512 -> 256 x 256 -> centre 224: offset 16 on both axes.
    assert L.box_in_crop([222, 142, 402, 512], (512, 512, 3), 256, 224) == (95, 55, 185, 224)
    # 427 x 640: shorter side 427 -> 256, width int(256 * 640 / 427) = 383, left offset 80.
    assert L.box_in_crop([0, 0, 640, 427], (427, 640, 3), 256, 224) == (0, 0, 224, 224)


def _cli(*args):
    return subprocess.run([sys.executable, str(ROOT / "main.py"), "lesson", *args], capture_output=True, text=True,
                          cwd=ROOT, timeout=300)


def test_cli_lists_lessons_and_prints_json_last(tmp_path):
    listing = _cli("--list")
    assert listing.returncode == 0
    assert "overfitting" in listing.stdout
    out = _cli("mean_subtraction", "--out", str(tmp_path), "--quick")
    assert out.returncode == 0, out.stderr
    last = json.loads(out.stdout.strip().splitlines()[-1])
    assert last["shows_point"] is True
    assert last["lesson"] == "mean_subtraction" and last["threshold"] == 0.2 and last["effect"] >= 0.2
    assert [r["name"] for r in last["runs"]] == ["plain", "mean"]
    assert (tmp_path / "mean_subtraction.png").stat().st_size > 1000


def test_cli_unknown_lesson_is_one_clear_message():
    out = _cli("no_such_lesson")
    assert out.returncode != 0
    assert "no lesson called 'no_such_lesson'" in out.stderr
    assert "Traceback" not in out.stderr


# ---------------------------------------------------------------- engine knobs the lessons use


def test_training_subset_and_label_noise_are_seeded_and_never_the_true_class():
    from engine.data import load_dataset, with_training_subset

    data = load_dataset("digits")
    a = with_training_subset(data, 300, 20, seed=0)
    b = with_training_subset(data, 300, 20, seed=0)
    assert torch.equal(a.train_x, b.train_x) and torch.equal(a.train_y, b.train_y)
    assert len(a.train_x) == 300 and torch.equal(a.val_x, data.val_x)
    # The wrong labels: exactly 20 % differ from the true label of the same image.
    clean = with_training_subset(data, 300, 0, seed=0)
    assert torch.equal(clean.train_x, a.train_x)
    assert int((clean.train_y != a.train_y).sum()) == 60


def test_lecture_l2_is_lambda_sum_w2_with_gradient_2_lambda_w():
    from engine.train import TrainSettings, _build_optimizer

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 3))
    settings = TrainSettings(l2=0.01, momentum=0.0, lr=0.1)
    assert settings.equivalent_weight_decay() == pytest.approx(0.02)
    x, y = torch.randn(8, 4), torch.randint(0, 3, (8,))
    reference = copy.deepcopy(model)
    optimizer = _build_optimizer(model, settings)
    torch.nn.functional.cross_entropy(model(x), y).backward()
    optimizer.step()
    # By hand: gradient of loss + lambda * sum W^2 (weights only), plain SGD step.
    w = reference[0].weight
    loss = torch.nn.functional.cross_entropy(reference(x), y) + 0.01 * w.pow(2).sum()
    loss.backward()
    with torch.no_grad():
        expected = w - 0.1 * w.grad
    assert torch.allclose(model[0].weight, expected, atol=1e-6)


def test_keep_probability_is_one_minus_dropout():
    from engine.train import TrainSettings

    assert TrainSettings(dropout=0.2).keep_probability() == pytest.approx(0.8)
    assert TrainSettings().keep_probability() is None


def test_hue_jitter_matches_torchvision_adjust_hue():
    from torchvision.transforms.functional import adjust_hue

    from engine.augment import AugmentOptions, augment_batch, shift_hue

    x = torch.rand(5, 3, 9, 9, generator=torch.Generator().manual_seed(1))
    for h in (0.0, 0.1, -0.3, 0.5):
        reference = torch.stack([adjust_hue(image, h) for image in x])
        assert torch.allclose(shift_hue(x, torch.full((5,), h)), reference, atol=1e-5)
    out = augment_batch(x, AugmentOptions(hue_jitter=0.2), torch.Generator().manual_seed(0))
    assert out.shape == x.shape and not torch.equal(out, x)
    grey = x[:, :1].repeat(1, 3, 1, 1)  # no hue to turn
    assert torch.allclose(augment_batch(grey, AugmentOptions(hue_jitter=0.5), torch.Generator()), grey, atol=1e-6)


def test_layer_stats_with_batch_statistics_leave_running_stats_alone():
    from engine.layer_stats import collect_layer_stats
    from engine.model import ConvNet
    from engine.spec import load_preset
    from engine.train import insert_batchnorm
    from engine.initialization import apply_init

    torch.manual_seed(0)
    model = ConvNet(insert_batchnorm(load_preset("deep_tanh_10x500")))
    apply_init(model, "small")
    model.eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    x = torch.rand(128, 1, 28, 28)
    eval_stats = collect_layer_stats(model, x)
    batch_stats = collect_layer_stats(model, x, batch_stats=True)
    tanh = [i for i, name in enumerate(batch_stats.layer_names) if name.startswith("tanh")]
    # In eval mode an untrained BN uses running stats (0, 1): the signal collapses layer by layer.
    assert eval_stats.act_std[tanh[-1]] < 1e-3
    # As training sees it: every tanh layer keeps a healthy spread, few units saturated.
    assert all(0.4 < batch_stats.act_std[i] < 0.8 for i in tanh)
    assert max(batch_stats.extra["saturated_share"][i] for i in tanh) < 0.05
    assert not model.training
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_init_lab_verdict_uses_measured_saturation():
    from engine.init_lab import InitLabConfig, run_init_lab, verdict

    assert verdict(run_init_lab(InitLabConfig(init="small", layers=6, width=200)))[0] == "vanishing"
    assert verdict(run_init_lab(InitLabConfig(init="large", layers=6, width=200)))[0] == "saturated"
    assert verdict(run_init_lab(InitLabConfig(init="xavier", layers=6, width=200)))[0] == "healthy"
    assert verdict(run_init_lab(InitLabConfig(init="small", batch_norm=True, layers=6, width=200)))[0] == "healthy"


def test_cs231n_step_is_scaled_to_the_model_input_std():
    from engine.classviz import CS231N_STEP, cs231n_step_size

    assert cs231n_step_size((0.229, 0.224, 0.225)) == pytest.approx(CS231N_STEP)
    assert cs231n_step_size((0.5, 0.5, 0.5)) == pytest.approx(25 * 0.226 / 0.5, rel=1e-3)


def test_penalty_scale_and_small_weight_share():
    from engine.regularize import penalty_to_loss_ratio, small_weight_share

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 3))
    with torch.no_grad():
        model[0].weight.copy_(torch.tensor([[0.5, -0.5, 0.0, 0.0], [1e-4, 0.0, 0.2, 0.0], [0.0, 0.0, 0.0, 1.0]]))
    x, y = torch.randn(16, 4), torch.randint(0, 3, (16,))
    with torch.no_grad():
        data_loss = float(torch.nn.functional.cross_entropy(model(x), y))
    assert penalty_to_loss_ratio(model, x, y, l1=0.1) == pytest.approx(0.1 * 2.2001 / data_loss, rel=1e-4)
    l2_sum = 0.25 + 0.25 + 1e-8 + 0.04 + 1
    assert penalty_to_loss_ratio(model, x, y, l2=0.1) == pytest.approx(0.1 * l2_sum / data_loss, rel=1e-4)
    assert small_weight_share(model) == pytest.approx(8 / 12)


def test_panel_setup_names_the_whole_training_state():
    from dataclasses import fields

    from engine.train import TrainSettings

    for exp in L.experiments():
        steps = L.panel_setup(exp)
        if exp.kind not in ("training", "features"):
            assert steps == []
            continue
        by_panel = {step["panel"]: step["setup"] for step in steps}
        assert set(by_panel["Training"]["settings"]) == {f.name for f in fields(TrainSettings)}
        assert by_panel["Data"]["dataset"] == exp.dataset
        assert by_panel["Network"] == ({"spec": exp.spec} if exp.spec else {"preset": exp.preset})


def test_dog_vs_food_never_reports_crops_of_one_photo_as_an_accuracy(tmp_path):
    from engine.images import load_bundled_photo
    from engine.transfer import make_demo_folder

    make_demo_folder(tmp_path, {"dog": [load_bundled_photo("chelsea")], "food": [load_bundled_photo("coffee")]},
                     per_class=6, broken_files=False)
    result = L.run_experiment("dog_vs_food", context={"folder": str(tmp_path)})
    assert not result.shows_point and math.isnan(result.effect)
    assert "views of one photo" in result.reason


def test_colour_overlap_tells_crops_from_different_photos():
    from engine.images import load_bundled_photo
    from engine.transfer import photo_variants
    from PIL import Image

    def thumbs(images):
        return np.stack([np.asarray(Image.fromarray(i).resize((64, 64))) for i in images])

    crops = thumbs(photo_variants(load_bundled_photo("coffee"), 6))
    different = thumbs([load_bundled_photo(n) for n in ("coffee", "chelsea", "rocket", "china", "flower")])
    assert L.colour_overlap(crops) > L.ONE_PHOTO_OVERLAP > L.colour_overlap(different)
