"""`python main.py screenshots --out DIR`: every panel and the whole window as PNGs.

The scripting that puts meaningful content on a panel for its screenshot lives here, in
RECIPES (panel title -> function(panel, workdir)), not in the production panels; a panel
without a recipe here shows its empty state."""
from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

from engine.fileio import slug


def wait_for(predicate, timeout_s: float = 30.0) -> bool:
    """Process events until predicate() is true or the timeout passes."""
    from PySide6.QtWidgets import QApplication

    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        QApplication.processEvents()
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


def _dog_vs_food(panel, workdir: Path) -> None:
    """Cat vs vehicle folders built from the photos that ship offline (no installed package
    ships dog photos), a fine-tuned head, the zero-shot remap and one photo."""
    from functools import partial

    from engine.errors import ConvScopeError
    from engine.transfer import cat_vs_vehicle_photos, make_demo_folder

    root = workdir / "dog_vs_food"
    try:
        photos = cat_vs_vehicle_photos()
        make_demo_folder(root / "test", photos, per_class=10, seed=1)
        make_demo_folder(root / "train", photos, per_class=12, seed=2, broken_files=False)
    except ConvScopeError as exc:
        panel.status_label.setText(str(exc))
        return
    panel.groups_editor.choose_file("cat_vs_vehicle")
    panel.load_groups_from("cat_vs_vehicle")
    panel.test_dir_edit.setText(str(root / "test"))
    panel.train_dir_edit.setText(str(root / "train"))
    panel.epochs_spin.setValue(20)
    panel.run_and_wait(panel.start_finetune, 240)
    panel.run_and_wait(panel.start_zero_shot, 120)
    panel.photo_combo.setCurrentText("chelsea")
    panel.run_and_wait(partial(panel.classify_bundled_photo, "chelsea"), 60)
    wait_for(lambda: False, 0.3)  # let the plots redraw
    panel.status_label.setText("Demo: cat vs vehicle folders built from the photos that ship offline "
                               "(no dog photos ship with the installed packages).")


def _feature_space(panel, _workdir: Path) -> None:
    """A LeNet-5 (the current run, or a quick one trained there) on MNIST-5k: its penultimate
    features of 1000 validation images next to the raw pixels, a few points selected."""
    import numpy as np

    from engine import embed
    from gui.panels.feature_space import DEFAULT_LAYER

    panel.restore_state({"method": "tsne", "sample_size": 1000, "iterations": 500, "compare": True,
                         "layer": DEFAULT_LAYER, "colour_by": "true"})
    panel.run_and_wait(panel.start, 300)
    if panel.result is not None:
        xy = panel.result.embedding.xy
        seven = int(np.flatnonzero(panel.features.labels == 7)[0])
        x, y = float(xy[seven, 0]), float(xy[seven, 1])
        panel.select_points(embed.points_in_rect(xy, x - 4, y - 4, x + 4, y + 4))
        panel.show_point(seven)


def _network(panel, _workdir: Path) -> None:
    """A real architecture with one deliberate mistake, so the error marking shows."""
    panel.load_preset("lenet5")
    panel.add_layer("conv", index=6, out_channels=32, kernel=7, padding=0)
    panel.table.selectRow(3)  # keep the marked row unselected so its colour shows


def _data(panel, _workdir: Path) -> None:
    """MNIST-5k with mean-image subtraction and a few augmentations previewed."""
    panel.set_data_options({"normalization": "mean_image", "crop": 3, "rotation": 15.0, "scale": 0.1})
    if panel.overview is None or panel.current_dataset() != "mnist5k":
        panel.load_dataset("mnist5k")
    wait_for(lambda: panel.overview is not None and not panel.jobs.running, 120)
    wait_for(lambda: panel.preview_grid.count > 0 and not panel.preview_jobs.running, 60)


def _training(panel, _workdir: Path) -> None:
    """Two short real runs of LeNet-5 on MNIST-5k: with and without batch norm, the first overlaid."""
    from engine.spec import analyze, load_preset

    spec = panel.ctx.spec
    if spec is None or spec.name != "LeNet-5" or any(info.error for info in analyze(spec)):
        panel.ctx.set_spec(load_preset("lenet5"))
    panel.set_settings({"epochs": 1, "batchnorm": False, "schedule": "cosine", "lr": 0.05, "seed": 0})
    panel.start_training()
    wait_for(lambda: not panel.jobs.running, 120)
    panel.set_settings({"epochs": 2, "batchnorm": True})
    panel.start_training()
    wait_for(lambda: not panel.jobs.running, 120)
    if panel.finished_runs:
        panel.set_overlay(0, True)
    panel.result_tabs.setCurrentIndex(0)


def _layer_statistics(panel, _workdir: Path) -> None:
    """A short real training with layer statistics tracked (initialization + 2 epochs)."""
    from gui.widgets.run_hint import ensure_demo_run

    ensure_demo_run(panel, track_layer_stats=True, on_event=panel.on_training_event)
    wait_for(lambda: False, 0.5)
    panel.redraw()


def _initialization_lab(panel, _workdir: Path) -> None:
    """The lecture's 10 x 500 tanh network with small weights: the activations vanish."""
    panel.restore_state({"nonlinearity": "tanh", "init": "small", "batch_norm": False, "layers": 10, "width": 500})
    panel.debounce.stop()
    panel.result = None
    panel.run_experiment()
    wait_for(lambda: panel.result is not None, 60)
    panel.jobs.wait(3000)


def _mistakes(panel, _workdir: Path) -> None:
    """The demo run evaluated: confusion matrix and the most confidently wrong images."""
    from gui.widgets.run_hint import ensure_demo_run

    ensure_demo_run(panel)
    if panel.run is None:
        return
    if panel.result is None:
        panel.evaluate()
    wait_for(lambda: panel.result is not None, 60)
    panel.jobs.wait(3000)


def _predict(panel, _workdir: Path) -> None:
    done = panel.jobs_succeeded
    panel.source.choose_bundled("coffee")
    wait_for(lambda: panel.jobs_succeeded > done and not panel.jobs.running, 120)


def _saliency(panel, _workdir: Path) -> None:
    done = panel.jobs_ended
    panel.source.choose_bundled("chelsea")
    wait_for(lambda: panel.jobs_ended > done and not panel.jobs.running, 300)


def _adversarial(panel, _workdir: Path) -> None:
    panel.apply_lesson({"photo": "coffee", "target": "flamingo", "method": "iterative", "epsilon": 8})
    done = panel.jobs_ended
    panel.start_attack()
    wait_for(lambda: panel.jobs_ended > done and not panel.jobs.running, 300)


def _class_visualization(panel, _workdir: Path) -> None:
    panel.apply_lesson({"target": "flamingo", "style": "lucid", "steps": 60})
    done = panel.jobs_ended
    panel.start()
    wait_for(lambda: panel.jobs_ended > done and not panel.jobs.running, 400)


def _filters(panel, _workdir: Path) -> None:
    from gui.widgets.run_hint import ensure_demo_run

    if panel.ctx.run is None:
        # Train briefly with the real trainer; its FiltersSnapshot events give the step-0 filters.
        ensure_demo_run(panel, on_event=panel.on_training_event)
    if panel.ctx.run is not None:
        panel.on_run_changed(panel.ctx.run)
    wait_for(lambda: False, 0.5)
    panel.redraw()


def _activations(panel, _workdir: Path) -> None:
    from gui.widgets.run_hint import ensure_demo_run

    ensure_demo_run(panel)
    if panel.run is None:
        return
    panel.index_spin.setValue(3)
    panel.show_sample(3)
    wait_for(lambda: bool(panel.maps), 30)
    panel.jobs.wait(3000)
    wait_for(lambda: False, 0.3)
    first = next(iter(panel.layer_grids), None)
    if first is not None:
        panel._show_enlarged(first, 0)


def _top_patches(panel, _workdir: Path) -> None:
    from gui.widgets.run_hint import ensure_demo_run

    ensure_demo_run(panel)
    if panel.run is None:
        return
    panel.limit_spin.setValue(2000)
    panel.find()
    wait_for(lambda: panel.result is not None, 60)
    panel.jobs.wait(3000)
    panel.select_channel(3)


def _diagram(panel, _workdir: Path) -> None:
    """A short real training the diagram follows live, then the trained LeNet-5 for digit #3."""
    from gui.widgets.run_hint import ensure_demo_run

    ensure_demo_run(panel, on_event=panel.ctx.training_event.emit)
    panel.picker.index_spin.setValue(3)
    shown = panel.diagrams_shown
    wait_for(lambda: panel.diagrams_shown > shown and panel.diagram is not None and panel.diagram.step is None, 60)


# Panel title -> recipe; the panels without one show their empty state.
RECIPES = {"Network": _network, "Data": _data, "Training": _training, "Layer statistics": _layer_statistics,
           "Filters": _filters, "Activations": _activations, "Top patches": _top_patches,
           "Initialization lab": _initialization_lab, "Mistakes": _mistakes, "Feature space": _feature_space,
           "Predict": _predict, "Saliency": _saliency, "Adversarial": _adversarial,
           "Class visualization": _class_visualization, "Dog vs Food": _dog_vs_food, "Diagram": _diagram}


def prepare_panel(panel, workdir: Path) -> None:
    """Put meaningful content on `panel` for its screenshot (may run short jobs)."""
    recipe = RECIPES.get(panel.title)
    if recipe is not None:
        recipe(panel, Path(workdir))
        wait_for(lambda: not getattr(panel, "job_running", False), 10)  # the status bar's busy indicator too
    else:
        panel.prepare_screenshot()


def render_screenshots(out_dir: str | Path, width: int = 1400, height: int = 900,
                       theme: str = "light", scale: float = 1.0, panels: list[str] | None = None) -> list[Path]:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from gui.app import create_application
    from gui.main_window import MainWindow
    from gui.theme import apply_theme

    app = create_application()
    apply_theme(app, theme, scale)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    window = MainWindow(restore_settings=False)
    window.resize(width, height)
    window.show()
    wait_for(lambda: False, 0.2)
    written = []
    scratch = tempfile.TemporaryDirectory(prefix="convscope_screenshots_")
    try:
        for number, panel in enumerate(window.panels, start=1):
            if panels and panel.title not in panels and type(panel).__name__ not in panels:
                continue
            window.show_panel(panel.title)
            wait_for(lambda: False, 0.1)
            prepare_panel(panel, Path(scratch.name))
            wait_for(lambda: False, 0.3)
            window.classroom.restyle_current_panel()  # plots made by prepare_screenshot
            path = out / f"{number:02d}_{slug(panel.title, 'panel')}.png"
            window.grab().save(str(path))
            written.append(path)
        window.show_panel(window.panels[0].title)
        wait_for(lambda: False, 0.1)
        path = out / "00_window.png"
        window.grab().save(str(path))
        written.append(path)
        if not panels or "Lessons" in panels:
            written.append(_lessons_screenshot(window, out))
    finally:
        window.close()
        scratch.cleanup()
    return written


def _lessons_screenshot(window, out: Path) -> Path:
    """The guided-lessons dock and the convolution arithmetic dock beside the Network panel."""
    from PySide6.QtCore import Qt

    classroom = window.classroom
    classroom.lessons_dock.show()
    classroom.lessons_dock.widget_.select(0)
    classroom.show_conv_arithmetic(classroom.lessons_dock.widget_.current().conv)
    classroom.conv_widget.play_button.setChecked(False)
    for _ in range(5):
        classroom.conv_widget.canvas.step()
    window.show_panel("Network")
    window.resizeDocks([classroom.conv_dock], [window.height() // 3], Qt.Vertical)
    window.resizeDocks([classroom.lessons_dock], [window.width() // 4], Qt.Horizontal)
    wait_for(lambda: False, 0.3)
    path = out / "99_lessons.png"
    window.grab().save(str(path))
    classroom.lessons_dock.hide()
    classroom.conv_dock.hide()
    return path
