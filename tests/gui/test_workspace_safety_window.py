"""The window never loses work silently: unsaved-work question, safe save targets,
opening that stops a running job and never reads outside the workspace on its own."""
import json
import time

import pytest
import torch
from PySide6.QtCore import QTimer

from engine.checkpoint import TrainedRun
from engine.model import ConvNet
from engine.spec import load_preset
from engine.workspace import Workspace, save_workspace


def _run(name="trained"):
    torch.manual_seed(0)
    return TrainedRun(ConvNet(load_preset("lenet5")), "mnist5k", {"epochs": 1}, {"val_acc": [0.5]}, name)


def test_closing_with_a_new_run_asks_and_cancel_keeps_the_window(window, qtbot):
    workspaces = window.classroom.workspaces
    workspaces.interactive = True
    questions = []
    workspaces.ask = lambda question, detail: questions.append((question, detail)) or workspaces.CANCEL
    window.ctx.set_run(_run("keep me"))
    assert not window.close()  # refused: the user cancelled
    assert window.isVisible()
    assert "keep me" in questions[0][1] and "closing" in questions[0][0]
    workspaces.ask = lambda question, detail: workspaces.DISCARD
    assert window.close()


def test_save_from_the_question_writes_the_workspace_then_closes(window, tmp_path):
    workspaces = window.classroom.workspaces
    workspaces.interactive = True
    workspaces.path = tmp_path / "class.convscope"
    workspaces.ask = lambda question, detail: workspaces.SAVE
    window.ctx.set_run(_run("saved on close"))
    assert window.close()
    assert (tmp_path / "class.convscope" / "manifest.json").is_file()


def test_nothing_to_lose_means_no_question(window):
    workspaces = window.classroom.workspaces
    workspaces.interactive = True
    workspaces.ask = lambda question, detail: pytest.fail("asked although nothing was unsaved")
    assert workspaces.unsaved_work() == []
    assert window.close()


def test_saving_into_a_folder_of_other_files_is_refused_with_a_message(window, tmp_path):
    target = tmp_path / "photos"
    target.mkdir()
    (target / "holiday.jpg").write_bytes(b"jpeg")
    assert window.classroom.workspaces.save_to(target) is None
    assert "not a ConvScope workspace" in window.ctx.last_error[1]
    assert sorted(p.name for p in target.iterdir()) == ["holiday.jpg"]


def test_the_offered_choice_saves_into_a_new_folder_inside(window, tmp_path, monkeypatch):
    target = tmp_path / "photos"
    target.mkdir()
    (target / "holiday.jpg").write_bytes(b"jpeg")
    workspaces = window.classroom.workspaces
    monkeypatch.setattr(workspaces, "_ask_folder_choice", lambda message, suggestion: True)
    saved = workspaces.save_to(target)
    assert saved is not None and saved.parent == target and (saved / "manifest.json").is_file()
    assert (target / "holiday.jpg").read_bytes() == b"jpeg"


def test_opening_a_workspace_stops_a_running_training_job(window, qtbot, tmp_path):
    folder = save_workspace(tmp_path / "ws", Workspace(spec=load_preset("lenet5"), dataset="digits",
                                                       runs=[_run("from the workspace")], current_run=0))
    window.show_panel("Data").load_dataset("digits")
    qtbot.waitUntil(lambda: (window.ctx.dataset_info or {}).get("name") == "digits", timeout=60_000)
    window.panel("Network").load_preset("mlp")
    training = window.show_panel("Training")
    training.set_settings({"epochs": 500, "snapshot_every_steps": 0})  # runs until stopped
    training.start_training()
    qtbot.waitUntil(lambda: training.jobs.running, timeout=30_000)
    assert window.classroom.workspaces.open_from(folder)
    assert not training.jobs.running
    qtbot.wait(300)  # a stopped job's late events are stale and must not replace the run
    assert window.ctx.run.name == "from the workspace"


def test_a_workspace_naming_a_folder_dataset_outside_it_reads_nothing_until_load(window, tmp_path):
    outside = tmp_path / "outside_data"
    (outside / "cats").mkdir(parents=True)
    folder = save_workspace(tmp_path / "ws", Workspace(
        dataset="image_folder",
        panel_states={"Data": {"dataset": "image_folder", "options": {"root": str(outside), "size": 32}}}))
    data = window.show_panel("Data")
    loads = []
    data.jobs.running_changed.connect(lambda running: loads.append(running))
    assert window.classroom.workspaces.open_from(folder)
    assert True not in loads and not data.jobs.running  # no load started (the default one was stopped)
    assert "Click Load" in data.info_label.text()
    assert data.folder_edit.text() == str(outside)


def test_a_workspace_asking_for_a_download_never_downloads(window, tmp_path):
    folder = save_workspace(tmp_path / "ws", Workspace(
        panel_states={"Data": {"dataset": "mnist", "options": {"download": True, "root": str(tmp_path / "tv")}}}))
    data = window.show_panel("Data")
    assert window.classroom.workspaces.open_from(folder)
    assert not data.download_check.isChecked() and not data.jobs.running
    assert not (tmp_path / "tv").exists()


HOSTILE = {
    "class_group_range": {"Dog vs Food": {"groups": {"groups": [{"name": "a", "ranges": [[0, 20000000]]},
                                                                {"name": "b", "classes": [1]}]}}},
    "huge_array": {"Training": {"curve": {"$array": [1], "dtype": "U900000000"}}},
    "panel_state_list": {"Training": [1, 2, 3]},
    "wrong_values": {"Data": {"dataset": "no such set", "crop": "abc"}, "Network": {"spec": 7}},
}


def _longest_gui_gap_while(qtbot, action) -> float:
    """The longest gap between 10 ms heartbeats on the GUI thread while `action` runs."""
    gaps, last = [], [time.perf_counter()]

    def beat():
        now = time.perf_counter()
        gaps.append(now - last[0])
        last[0] = now

    timer = QTimer()
    timer.timeout.connect(beat)
    timer.start(10)
    action()
    qtbot.waitUntil(lambda: len(gaps) >= 5, timeout=10_000)
    timer.stop()
    return max(gaps)


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_workspaces_leave_the_window_responsive_with_a_message(window, qtbot, tmp_path, name):
    benign = save_workspace(tmp_path / "benign", Workspace(spec=load_preset("lenet5")))
    hostile = save_workspace(tmp_path / "ws", Workspace(spec=load_preset("lenet5")))
    (hostile / "panels.json").write_text(json.dumps(HOSTILE[name]))
    workspaces = window.classroom.workspaces
    workspaces.open_from(benign)  # builds every panel once
    assert window.ctx.last_error is None
    benign_gap = _longest_gui_gap_while(qtbot, lambda: workspaces.open_from(benign))
    hostile_gap = _longest_gui_gap_while(qtbot, lambda: workspaces.open_from(hostile))
    assert window.ctx.last_error is not None, "no message for a hostile workspace"
    assert "Traceback" not in window.ctx.last_error[1]
    # Target: never blocked > 200 ms; on a busy machine, no worse than opening a plain workspace.
    assert hostile_gap < max(0.2, 2 * benign_gap), f"GUI thread blocked {hostile_gap:.2f} s ({benign_gap:.2f} s)"
    assert window.show_panel("Network") is window.current_panel()  # still usable
