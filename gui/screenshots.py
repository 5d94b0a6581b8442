"""`python main.py screenshots --out DIR`: every panel and the whole window as PNGs.

The scripting that puts meaningful content on a panel for its screenshot lives here, in
RECIPES (panel title -> function(panel, workdir)), not in the production panels; a panel
without a recipe here still gets its own `prepare_screenshot`."""
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


RECIPES = {"Dog vs Food": _dog_vs_food, "Feature space": _feature_space}


def prepare_panel(panel, workdir: Path) -> None:
    """Put meaningful content on `panel` for its screenshot (may run short jobs)."""
    recipe = RECIPES.get(panel.title)
    if recipe is not None:
        recipe(panel, Path(workdir))
        wait_for(lambda: not panel.job_running, 10)  # the status bar's busy indicator goes too
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
