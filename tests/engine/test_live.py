"""Live frames (issue 19): a frame folder and a video file through the same pipeline as a camera,
the newest frame always taken (drops counted), clear messages for missing sources, capture
stopped when the job is closed."""
from __future__ import annotations

import threading

import numpy as np
import pytest

from engine.events import run_to_end
from engine.images import save_png
from engine.live import LiveError, LiveFrame, live_job
from imagenet_test_helpers import tiny_classifier


@pytest.fixture(scope="module")
def frames(tmp_path_factory):
    folder = tmp_path_factory.mktemp("frames")
    rng = np.random.default_rng(0)
    for i in range(8):
        save_png(folder / f"{i:03d}.png", (rng.random((48, 64, 3)) * 255).astype(np.uint8))
    (folder / "notes.txt").write_text("not a frame")
    return folder


@pytest.fixture(scope="module")
def video(tmp_path_factory, frames):
    import cv2

    path = tmp_path_factory.mktemp("video") / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 30, (64, 48))
    for i in range(30):
        writer.write(np.full((48, 64, 3), i * 8, np.uint8))
    writer.release()
    return path


def test_every_frame_of_a_folder_in_name_order(frames):
    seen = []
    summary = run_to_end(live_job(tiny_classifier(), str(frames), every_frame=True), seen.append)
    indices = [e.index for e in seen if isinstance(e, LiveFrame)]
    assert indices == list(range(8)) and summary.dropped == 0 and summary.captured == 8
    first = next(e for e in seen if isinstance(e, LiveFrame))
    assert len(first.top5) == 5 and first.image.shape == (48, 64, 3) and first.dog_vs_food is not None
    assert abs(sum(first.dog_vs_food) - 1) < 1e-6


def test_a_video_plays_at_its_pace_and_the_slow_consumer_drops_stale_frames(video):
    import time

    from engine import live

    slow = []

    def slow_process(*args):  # a model that takes longer than a frame lasts (30 fps -> 33 ms)
        time.sleep(0.15)
        slow.append(1)
        return ((0, "x", 1.0),) * 5, None, None

    original = live._process
    live._process = slow_process
    try:
        summary = run_to_end(live_job(tiny_classifier(), str(video)))
    finally:
        live._process = original
    assert summary.captured == 30 and summary.dropped > 0 and summary.frames == len(slow) < 30
    assert summary.frames + summary.dropped == summary.captured  # each frame either shown or dropped
    every = run_to_end(live_job(tiny_classifier(), str(video), every_frame=True, frames=12))
    assert every.frames == 12 and every.dropped == 0


@pytest.mark.parametrize("mode", ["saliency", "gradcam", "activations"])
def test_saliency_and_activation_modes(frames, mode):
    seen = []
    run_to_end(live_job(tiny_classifier(), str(frames), mode, frames=2, layer="3", every_frame=True), seen.append)
    overlay = next(e for e in seen if isinstance(e, LiveFrame)).overlay
    assert overlay is not None and overlay.ndim >= 2 and overlay.size > 0


def test_missing_sources_give_one_clear_message(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video")
    for source, message in ((str(empty), "holds no image frames"), (str(broken), "not a video OpenCV can read"),
                            ("7", "No camera 7 could be opened"), (str(tmp_path / "nope"), "No camera, video")):
        with pytest.raises(LiveError, match=message):
            run_to_end(live_job(tiny_classifier(), source))


def test_closing_the_job_stops_the_capture_thread(frames):
    job = live_job(tiny_classifier(), str(frames), every_frame=True)
    next(job)
    job.close()
    assert not any(t.name == "convscope-capture" and t.is_alive() for t in threading.enumerate())


def test_predictions_per_frame_match_predict_on_the_same_frames(frames):
    classifier = tiny_classifier()
    seen = []
    run_to_end(live_job(classifier, str(frames), every_frame=True), seen.append)
    from engine.images import load_image

    files = sorted(p for p in frames.iterdir() if p.suffix == ".png")
    shown = [e for e in seen if isinstance(e, LiveFrame)]
    assert len(shown) == len(files)
    for frame, path in zip(shown, files):
        expected = classifier.predict(load_image(path), k=5)
        assert [i for i, _n, _p in frame.top5] == [p.index for p in expected]
        assert np.allclose([p for _i, _n, p in frame.top5], [p[2] for p in expected], atol=1e-6)


def test_grad_cam_by_hand_equals_captum(frames):
    import torch

    from engine.attribution import gradcam
    from engine.images import load_image
    from engine.live import grad_cam

    classifier = tiny_classifier()
    x = classifier.preprocess(load_image(sorted(frames.glob("*.png"))[0]))
    logits, cam = grad_cam(classifier, x)
    target = int(logits[0].argmax())
    expected = gradcam(classifier.model, x, target, classifier.feature_layer)
    assert torch.allclose(cam, expected, atol=1e-5) and float(cam.max()) > 0
