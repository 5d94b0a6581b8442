"""Dog vs Food panel: jobs drive results, confusion matrix, gallery (-> Saliency),
live fine-tuning curves, skip counts, class-group editing and bad input.
A small stand-in classifier keeps these fast; one test uses EfficientNet-Lite0."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from PySide6.QtCore import Qt
from torch import nn

from engine.transfer import ClassGroup, ClassGroups, feature_cache
from gui.panels.dogfood import DogFoodPanel

TIMEOUT_MS = 60_000


class _TinyClassifier:
    """Same interface as engine.pretrained.ImageNetClassifier: colour statistics as features."""

    name = "tiny-gui"

    def __init__(self):
        torch.manual_seed(0)
        self.features_net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                                          nn.Flatten())
        nn.init.kaiming_normal_(self.features_net[0].weight)
        self.classifier = nn.Linear(8, 1000)
        for parameter in list(self.features_net.parameters()) + list(self.classifier.parameters()):
            parameter.requires_grad_(False)

    def preprocess(self, image):
        small = np.asarray(Image.fromarray(image).resize((16, 16)), dtype=np.float32) / 255.0
        return torch.from_numpy(small).permute(2, 0, 1)[None]

    def features(self, x):
        return self.features_net(x)


def _images(rgb, count, seed):
    rng = np.random.default_rng(seed)
    return [np.clip(np.array(rgb, float) + rng.normal(0, 25, (20, 24, 3)), 0, 255).astype(np.uint8)
            for _ in range(count)]


def _folder(root, classes):
    for name, images in classes.items():
        (root / name).mkdir(parents=True)
        for i, image in enumerate(images):
            Image.fromarray(image).save(root / name / f"{name}_{i}.png")
    return root


RED_BLUE = ClassGroups("red vs blue", [ClassGroup("red", [0, 1, 2]), ClassGroup("blue", [3, 4])])


@pytest.fixture
def panel(qtbot, ctx):
    feature_cache.clear()
    widget = DogFoodPanel(ctx)
    widget.classifier = _TinyClassifier()
    widget.groups = RED_BLUE.copy()
    qtbot.addWidget(widget)
    widget.resize(1400, 900)
    widget.show()
    yield widget
    widget.jobs.wait(5000)  # before shutdown, which forgets the worker
    widget.shutdown()
    feature_cache.clear()


@pytest.fixture
def folders(tmp_path):
    test = _folder(tmp_path / "test", {"Test-Red": _images((220, 30, 30), 4, 0),
                                       "test-blue": _images((30, 30, 220), 3, 1)})
    (test / "Test-Red" / "empty.png").write_bytes(b"")
    (test / "test-blue" / "text.png").write_text("not an image")
    (test / "test-blue" / "notes.txt").write_text("notes")
    train = _folder(tmp_path / "train", {"red": _images((220, 30, 30), 8, 2), "blue": _images((30, 30, 220), 8, 3)})
    return test, train


def test_zero_shot_button_shows_results_confusion_gallery_and_skips(qtbot, panel, folders):
    test, _ = folders
    panel.test_dir_edit.setText(str(test))
    with qtbot.waitSignal(panel.jobs.succeeded, timeout=TIMEOUT_MS):
        qtbot.mouseClick(panel.zero_shot_button, Qt.LeftButton)
    report = panel.report
    assert report is not None and report.mode == "zero-shot" and report.evaluation.n == 7
    assert "7 test images" in panel.per_group_label.text() and "correct" in panel.accuracy_label.text()
    assert panel.confusion_table.rowCount() == 2
    for r in range(2):
        for c in range(2):
            assert panel.confusion_table.item(r, c).text() == str(report.evaluation.confusion[r, c])
    assert panel.confusion_table.verticalHeaderItem(0).text() == "true red"
    assert panel.gallery.count == 7
    scores = report.scores[panel.gallery.order, 0]
    assert np.all(np.diff(scores) <= 0)  # sorted by the first group's score, highest first
    text = panel.skipped_label.text()
    assert "Skipped 3 test files" in text and "1 empty (0 bytes)" in text and "2 not an image" in text
    assert "notes.txt" in panel.skipped_label.toolTip()


def test_confusion_table_shows_every_header_and_row_in_full(qtbot, panel, folders):
    test, _ = folders
    font = panel.font()
    font.setPointSizeF(font.pointSizeF() * 2)  # as at 200% text size
    panel.setFont(font)
    panel.resize(200, 200)  # clamped to the panel's minimum size: the tightest layout it allows
    panel.test_dir_edit.setText(str(test))
    assert panel.run_and_wait(panel.start_zero_shot, 60)
    table = panel.confusion_table
    header = table.horizontalHeader()
    for c in range(table.columnCount()):
        widest_line = max(header.fontMetrics().horizontalAdvance(line)
                          for line in table.horizontalHeaderItem(c).text().split("\n"))
        assert header.sectionSize(c) >= widest_line
    rows = sum(table.rowHeight(r) for r in range(table.rowCount()))
    assert table.height() >= header.height() + rows
    assert table.verticalHeader().width() >= table.verticalHeader().fontMetrics().horizontalAdvance("true blue")


def test_clicking_a_gallery_image_opens_it_in_saliency(qtbot, panel, folders, ctx):
    test, _ = folders
    panel.test_dir_edit.setText(str(test))
    assert panel.run_and_wait(panel.start_zero_shot, 60)
    focused = []
    ctx.focus_panel_requested.connect(focused.append)
    with qtbot.waitSignal(ctx.imagenet_image_requested, timeout=5000) as blocker:
        panel.gallery.tile_clicked.emit(0)
    image, caption = blocker.args
    first = int(panel.gallery.order[0])
    assert image.shape == (20, 24, 3) and image.dtype == np.uint8
    assert caption.startswith(panel.report.paths[first].split("/")[-1])
    assert focused == ["Saliency"]


def test_fine_tuning_draws_live_curves_and_learns_the_split(qtbot, panel, folders):
    test, train = folders
    panel.test_dir_edit.setText(str(test))
    panel.train_dir_edit.setText(str(train))
    panel.epochs_spin.setValue(12)
    panel.lr_spin.setValue(0.05)
    with qtbot.waitSignal(panel.jobs.succeeded, timeout=TIMEOUT_MS):
        qtbot.mouseClick(panel.finetune_button, Qt.LeftButton)
    xs, losses = panel.loss_plot.series_data("train loss")
    assert xs == [float(e) for e in range(1, 13)]
    assert losses[-1] < losses[0]
    _, accuracies = panel.acc_plot.series_data("train accuracy")
    assert accuracies[-1] == 1.0
    assert panel.finetune_result is not None and panel.report.mode == "fine-tuned"
    assert panel.report.evaluation.accuracy == 1.0
    assert panel.accuracy_label.text() == "100.0% correct"
    assert "fine-tuned: 100.0% correct of 7" in panel.accuracy_label.toolTip()
    assert "fine-tuned, 7 test images" in panel.per_group_label.text()
    qtbot.waitUntil(lambda: panel.loss_plot.redraw_count > 0, timeout=2000)


def test_bad_folders_show_a_message_and_the_panel_stays_usable(qtbot, panel, folders, ctx, tmp_path):
    errors = []
    ctx.error_raised.connect(lambda title, message: errors.append((title, message)))
    panel.test_dir_edit.setText("")
    panel.start_zero_shot()
    assert errors and errors[-1][0] == "No test folder"
    panel.test_dir_edit.setText(str(tmp_path / "nowhere"))
    with qtbot.waitSignal(ctx.error_raised, timeout=TIMEOUT_MS):
        panel.start_zero_shot()
    assert "does not exist" in errors[-1][1]
    one_class = _folder(tmp_path / "one", {"red": _images((200, 0, 0), 2, 0)})
    panel.test_dir_edit.setText(str(one_class))
    with qtbot.waitSignal(ctx.error_raised, timeout=TIMEOUT_MS):
        panel.start_zero_shot()
    assert "only one class" in errors[-1][1]
    test, _ = folders
    panel.test_dir_edit.setText(str(test))
    assert panel.run_and_wait(panel.start_zero_shot, 60) and panel.report.evaluation.n == 7


def test_class_groups_are_editable_and_saved(qtbot, panel, ctx, tmp_path):
    errors = []
    ctx.error_raised.connect(lambda title, message: errors.append(message))
    panel.group_list.setCurrentRow(1)
    assert [panel.class_list.item(i).data(Qt.UserRole) for i in range(panel.class_list.count())] == [3, 4]
    assert panel.add_class(10)
    assert panel.groups.groups[1].classes == [3, 4, 10] and panel.class_list.count() == 3
    assert not panel.add_class(0) and "already in 'red'" in errors[-1]  # one group per class
    panel.class_picker.lineEdit().setText("beagle")  # the shared searchable picker resolves names
    panel.class_picker.lineEdit().editingFinished.emit()
    assert panel.class_picker.class_index() == 162
    qtbot.mouseClick(panel.add_class_button, Qt.LeftButton)
    assert 162 in panel.groups.groups[1].classes
    assert any(panel.class_list.item(i).text() == "162  beagle" for i in range(panel.class_list.count()))
    panel.class_list.item(0).setSelected(True)
    panel.groups_editor.remove_selected_classes()
    assert 3 not in panel.groups.groups[1].classes
    panel.group_list.item(1).setText("azure")
    assert panel.groups.names == ["red", "azure"]
    panel.add_group("green")
    assert panel.save_groups_to(tmp_path / "mine.json") is False  # 'green' has no classes yet
    assert "no ImageNet classes" in errors[-1]
    panel.add_class(20)
    assert panel.save_groups_to(tmp_path / "mine.json")
    assert panel.load_groups_from(str(tmp_path / "mine.json"))
    assert panel.groups.names == ["red", "azure", "green"] and panel.groups.groups[2].classes == [20]
    assert panel.load_groups_from("dog_vs_food") and panel.group_list.count() == 2
    assert panel.groups.groups[0].classes == list(range(151, 269))


def test_state_round_trip(qtbot, panel, ctx, folders):
    test, train = folders
    panel.test_dir_edit.setText(str(test))
    panel.train_dir_edit.setText(str(train))
    panel.epochs_spin.setValue(7)
    panel.unfreeze_check.setChecked(True)
    panel.add_class(42)
    state = panel.save_state()
    other = DogFoodPanel(ctx)
    qtbot.addWidget(other)
    other.restore_state(state)
    assert other.test_dir_edit.text() == str(test) and other.train_dir_edit.text() == str(train)
    assert other.epochs_spin.value() == 7 and other.unfreeze_check.isChecked()
    assert other.groups.names == ["red", "blue"] and 42 in other.groups.groups[0].classes


def test_lesson_returns_at_once_and_the_photo_loads_in_the_job(qtbot, panel):
    panel.apply_lesson({"photo": "coffee", "mode": "collapse"})
    # apply_lesson only starts the job: nothing is loaded or classified on the GUI thread.
    assert panel.jobs.running and panel.single_result is None and panel.single_image is None
    assert panel.photo_combo.currentText() == "coffee"
    with qtbot.waitSignal(panel.jobs.succeeded, timeout=TIMEOUT_MS):
        pass
    assert panel.single_result is not None and panel.single_result.group_names == ["red", "blue"]
    assert panel.single_image is not None and panel.single_image.ndim == 3
    assert "coffee:" in panel.photo_label.text()


def test_lesson_with_an_unknown_photo_shows_a_message(qtbot, panel, ctx):
    errors = []
    ctx.error_raised.connect(lambda *args: errors.append(args))
    with qtbot.waitSignal(panel.jobs.failed, timeout=TIMEOUT_MS):
        panel.apply_lesson({"photo": "no such photo", "mode": "collapse"})
    assert errors and panel.single_result is None


def test_lesson_runs_the_espresso_photo_through_the_real_remap(qtbot, ctx):
    widget = DogFoodPanel(ctx)
    qtbot.addWidget(widget)
    try:
        with qtbot.waitSignal(widget.jobs.succeeded, timeout=120_000):
            widget.apply_lesson({"photo": "coffee", "mode": "collapse"})
        result = widget.single_result
        assert result.group_names == ["dog", "food"] and result.prediction == 1
        assert result.winners[1].name == "espresso"
        assert "coffee: food" in widget.photo_label.text() and "espresso" in widget.photo_label.text()
    finally:
        widget.jobs.wait(5000)  # let the worker thread end after its result (shutdown forgets it)
        widget.shutdown()



def test_classify_during_a_fine_tune_does_not_abandon_it(qtbot, panel, folders):
    """One slot runs every kind of job here: a second start must not silently replace the first."""
    test, train = folders
    panel.test_dir_edit.setText(str(test))
    panel.train_dir_edit.setText(str(train))
    panel.epochs_spin.setValue(12)
    with qtbot.waitSignal(panel.jobs.succeeded, timeout=TIMEOUT_MS):
        assert panel.start_finetune()
        assert not panel.classify_button.isEnabled() and not panel.zero_shot_button.isEnabled()
        assert not panel.classify_bundled_photo("coffee")  # refused, with a word why
        assert "fine-tune is running" in panel.status_label.text()
    assert panel.finetune_result is not None and panel.report.mode == "fine-tuned"
    qtbot.waitUntil(panel.classify_button.isEnabled, timeout=10_000)  # once the job's thread has ended
