"""Saving a workspace never destroys what it did not write, and survives failures and kills."""
import json
import os
import signal
import stat

import numpy as np
import pytest

import engine.workspace as workspace_module
from engine.spec import load_preset
from engine.workspace import (NotAWorkspaceError, Workspace, WorkspaceError, load_workspace,
                              recover_interrupted_save, save_workspace)


def _small_workspace(dataset="mnist5k", caption="first"):
    rng = np.random.default_rng(0)
    return Workspace(spec=load_preset("lenet5"), dataset=dataset,
                     images={"input": (rng.integers(0, 256, (12, 16, 3), dtype=np.uint8), caption)},
                     panel_states={"Saliency": {"map": rng.integers(0, 256, (8, 8), dtype=np.uint8),
                                                "curve": np.linspace(0, 1, 5)}},
                     settings={"theme": "dark"})


def _listing(folder):
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*"))


def _user_files(folder):
    (folder / "my_notes.txt").write_text("notes")
    (folder / "my_photos").mkdir()
    (folder / "my_photos" / "holiday.jpg").write_bytes(b"\xff\xd8photo")


def test_a_folder_of_the_users_files_is_refused_and_untouched(tmp_path):
    target = tmp_path / "stuff"
    target.mkdir()
    _user_files(target)
    before = _listing(target)
    with pytest.raises(NotAWorkspaceError) as info:
        save_workspace(target, _small_workspace())
    assert "not a ConvScope workspace" in str(info.value) and "Nothing was changed" in str(info.value)
    assert info.value.suggestion.parent == target  # the offered choice: a new folder inside it
    assert _listing(target) == before
    assert (target / "my_notes.txt").read_text() == "notes"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["stuff"]


def test_a_project_with_someone_elses_manifest_is_refused(tmp_path):
    project = tmp_path / "project"
    (project / "src").mkdir(parents=True)
    (project / "manifest.json").write_text(json.dumps({"name": "web app", "version": 3}))
    (project / "README.md").write_text("readme")
    (project / "src" / "main.c").write_text("int main(){}")
    before = _listing(project)
    with pytest.raises(NotAWorkspaceError):
        save_workspace(project, _small_workspace())
    assert _listing(project) == before


def test_saving_over_a_workspace_keeps_the_users_files_inside_it(tmp_path):
    folder = tmp_path / "lesson.convscope"
    save_workspace(folder, _small_workspace())
    _user_files(folder)
    (folder / "images" / "my_drawing.png").write_bytes(b"not ours")
    save_workspace(folder, _small_workspace(dataset="shapes", caption="second"))
    assert (folder / "my_notes.txt").read_text() == "notes"
    assert (folder / "my_photos" / "holiday.jpg").read_bytes() == b"\xff\xd8photo"
    assert (folder / "images" / "my_drawing.png").read_bytes() == b"not ours"
    back = load_workspace(folder)
    assert back.dataset == "shapes" and back.images["input"][1] == "second"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lesson.convscope"]  # no backup, no staging


def test_files_are_readable_by_others_under_an_ordinary_umask(tmp_path):
    previous = os.umask(0o022)
    try:
        folder = save_workspace(tmp_path / "ws", _small_workspace())
    finally:
        os.umask(previous)
    assert stat.S_IMODE(folder.stat().st_mode) == 0o755
    for path in folder.rglob("*"):
        assert stat.S_IMODE(path.stat().st_mode) in (0o644, 0o755), path


def test_a_failing_swap_leaves_the_old_workspace_in_place(tmp_path, monkeypatch):
    folder = tmp_path / "ws"
    save_workspace(folder, _small_workspace(caption="old"))
    _user_files(folder)
    real_replace = os.replace

    def failing_replace(src, dst):
        if str(src).endswith(".saving"):
            raise OSError(28, "No space left on device")
        return real_replace(src, dst)

    monkeypatch.setattr(workspace_module.os, "replace", failing_replace)
    with pytest.raises(WorkspaceError, match="No space left.*previous version is kept"):
        save_workspace(folder, _small_workspace(caption="new"))
    monkeypatch.undo()
    assert load_workspace(folder).images["input"][1] == "old"
    assert (folder / "my_notes.txt").read_text() == "notes"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ws"]


def _kill_during_save(folder, point, count):
    """Fork; the child saves and SIGKILLs itself at the `count`-th call of `point`."""
    pid = os.fork()
    if pid == 0:  # child: no finally blocks run after SIGKILL, as with a real kill
        try:
            calls = {"n": 0}
            target = {"replace": os, "rmtree": workspace_module.shutil, "link": os,
                      "atomic_write_text": workspace_module}[point]
            real = getattr(target, point)

            def killing(*args, **kwargs):
                calls["n"] += 1
                if calls["n"] == count:
                    os.kill(os.getpid(), signal.SIGKILL)
                return real(*args, **kwargs)

            setattr(target, point, killing)
            save_workspace(folder, _small_workspace(dataset="shapes", caption="new"))
        finally:
            os._exit(0)
    _, status = os.waitpid(pid, 0)
    return os.WIFSIGNALED(status)


@pytest.mark.parametrize("point,count", [
    ("atomic_write_text", 2),  # while writing the new contents
    ("link", 1),  # while carrying the user's files over
    ("replace", 1),  # the new files' own atomic renames
    ("replace", 7),  # just before the old version is renamed aside
    ("replace", 8),  # between the two renames: only the old version aside and the new one staged
    ("rmtree", 1),  # removing the previous version
])
def test_a_kill_at_any_point_loses_nothing(tmp_path, point, count):
    folder = tmp_path / "ws"
    save_workspace(folder, _small_workspace(caption="old"))
    _user_files(folder)
    assert _kill_during_save(folder, point, count), "the save finished before the kill point"
    # Open after the kill: either the old version or the complete new one, with the user's files;
    # opening clears the killed save's leftovers.
    back = load_workspace(folder)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ws"]
    assert back.images["input"][1] in ("old", "new")
    if back.images["input"][1] == "new":
        assert back.dataset == "shapes"
    assert (folder / "my_notes.txt").read_text() == "notes"
    assert (folder / "my_photos" / "holiday.jpg").read_bytes() == b"\xff\xd8photo"
    # The next save cleans every leftover of the killed one.
    save_workspace(folder, _small_workspace(caption="third"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ws"]
    assert (folder / "my_notes.txt").read_text() == "notes"
    assert load_workspace(folder).images["input"][1] == "third"


def test_recovery_brings_back_a_previous_version_left_aside(tmp_path):
    folder = tmp_path / "ws"
    save_workspace(folder, _small_workspace(caption="old"))
    os.replace(folder, tmp_path / ".ws.previous")  # killed between the two renames
    assert recover_interrupted_save(folder)
    assert load_workspace(folder).images["input"][1] == "old"


def test_a_staging_folder_of_a_live_save_is_left_alone(tmp_path):
    folder = tmp_path / "ws"
    live = tmp_path / f".ws.pid{os.getppid()}.abc.saving"  # the parent process is alive
    dead = tmp_path / ".ws.pid999999999.abc.saving"
    live.mkdir()
    dead.mkdir()
    recover_interrupted_save(folder)
    assert live.exists() and not dead.exists()


@pytest.mark.parametrize("manifest_change,message", [
    ({"spec": "/etc/passwd"}, "outside the workspace"),
    ({"spec": "../outside.json"}, "outside the workspace"),
    ({"spec": 7}, "invalid path"),
    ({"runs": "abc"}, "must be a list"),
    ({"runs": [{"folder": "../../"}]}, "outside the workspace"),
    ({"images": [{"key": "input", "file": "images/input.png", "channels": "3"}]}, "channels"),
    ({"current_run": "0"}, "as current"),
    ({"version": None}, "format version"),
    ({"version": "abc"}, "format version"),
    ({"version": 99}, "newer ConvScope"),
])
def test_malformed_manifests_give_one_clear_message(tmp_path, manifest_change, message):
    folder = save_workspace(tmp_path / "ws", _small_workspace())
    path = folder / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest.update(manifest_change)
    path.write_text(json.dumps(manifest))
    with pytest.raises(WorkspaceError, match=message):
        load_workspace(folder)


def test_a_link_out_of_the_workspace_is_not_followed(tmp_path):
    folder = save_workspace(tmp_path / "ws", _small_workspace())
    outside = tmp_path / "secret.png"
    (folder / "images" / "input.png").replace(outside)
    (folder / "images" / "input.png").symlink_to(outside)
    with pytest.raises(WorkspaceError, match="through a link"):
        load_workspace(folder)


@pytest.mark.parametrize("array_entry,message", [
    ({"$array": [1, 2], "dtype": "U200000000"}, "only plain numbers"),
    ({"$array": [1, "x"], "dtype": "float64"}, "not a number"),
    ({"$array": [[1, 2], [3]], "dtype": "float64"}, "malformed"),
])
def test_hostile_arrays_in_panel_states_are_refused_cheaply(tmp_path, array_entry, message):
    folder = save_workspace(tmp_path / "ws", _small_workspace())
    (folder / "panels.json").write_text(json.dumps({"Training": {"curve": array_entry}}))
    with pytest.raises(WorkspaceError, match=message):
        load_workspace(folder)


def test_deeply_nested_and_non_regular_files_are_refused(tmp_path):
    folder = save_workspace(tmp_path / "ws", _small_workspace())
    (folder / "panels.json").write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(WorkspaceError, match="nested too deeply|not valid JSON"):
        load_workspace(folder)
    (folder / "panels.json").unlink()
    os.mkfifo(folder / "panels.json")  # would block a plain read forever
    with pytest.raises(WorkspaceError, match="not an ordinary file"):
        load_workspace(folder)
