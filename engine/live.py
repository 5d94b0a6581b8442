"""Live frames: a camera, a video file or a folder of frames (played in name order), through the
classifier frame after frame. The capture library is OpenCV (opencv-python-headless): it reads
cameras and video files without Qt, so the engine and the headless `live` command use the
same pipeline the window does (the engine never imports Qt; PySide6's QtMultimedia would
need the Addons wheel and the GUI thread).

Frames are captured in their own thread at the source's pace; the consumer always takes the
newest frame and the ones it had no time for are dropped (counted), so a slow model never
backs the camera up. `every_frame=True` (tests, rehearsing a recording) processes each frame.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import ConvScopeError
from .events import raise_if_stopped

MODES = ("predict", "saliency", "gradcam", "activations")


class LiveError(ConvScopeError):
    title = "Live camera"


@dataclass(frozen=True)
class LiveFrame:
    index: int  # the source's frame number
    image: np.ndarray  # (H, W, 3) uint8 as captured
    top5: tuple  # ((class index, name, probability), ...)
    dog_vs_food: tuple[float, float] | None  # the two groups' shares of the probability
    overlay: np.ndarray | None  # saliency map (H', W') in [0, 1], or a layer's maps mosaic (uint8)
    milliseconds: float  # model time for this frame
    fps: float  # frames shown per second so far


@dataclass(frozen=True)
class LiveSummary:
    frames: int
    fps: float
    dropped: int
    captured: int

    @property
    def dropped_share(self) -> float:
        return self.dropped / self.captured if self.captured else 0.0


# ---------------------------------------------------------------- sources
class _Source:
    fps = 25.0
    realtime = False  # a camera delivers at its own pace; files are paced by `fps`

    def read(self) -> np.ndarray | None:  # next RGB frame, None at the end
        raise NotImplementedError

    def close(self) -> None:
        pass


class FrameFolder(_Source):
    def __init__(self, folder: Path, fps: float = 10.0):
        from .images import IMAGE_SUFFIXES

        self.files = sorted((p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
                             and not p.name.startswith(".")), key=lambda p: p.name)
        if not self.files:
            raise LiveError(f"{folder} holds no image frames ({', '.join(sorted(IMAGE_SUFFIXES))}).")
        self.fps = fps
        self._next = 0

    def read(self) -> np.ndarray | None:
        from .errors import DataError
        from .images import load_image

        while self._next < len(self.files):
            path = self.files[self._next]
            self._next += 1
            try:
                return load_image(path, max_side=1024)
            except DataError:
                continue  # a broken frame is skipped, the show goes on
        return None


class _OpenCVSource(_Source):
    def __init__(self, capture, what: str):
        self.capture = capture
        self.what = what

    def read(self) -> np.ndarray | None:
        import cv2

        ok, frame = self.capture.read()
        if not ok or frame is None:
            return None
        return cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)

    def close(self) -> None:
        self.capture.release()


def open_source(source: str | int, fps: float | None = None) -> _Source:
    """A camera index (0, 1, ...), a video file or a folder of frames."""
    text = str(source).strip()
    if text.isdigit():
        import cv2

        capture = cv2.VideoCapture(int(text))
        if not capture.isOpened():
            capture.release()
            raise LiveError(f"No camera {text} could be opened (none attached, in use by another program, or "
                            "no permission to use it).")
        opened = _OpenCVSource(capture, f"camera {text}")
        opened.realtime = True
        return opened
    path = Path(text).expanduser()
    if path.is_dir():
        return FrameFolder(path, fps or 10.0)
    if not path.is_file():
        raise LiveError(f"No camera, video or frame folder at {source}.")
    import cv2

    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        capture.release()
        raise LiveError(f"{path.name} is not a video OpenCV can read.")
    opened = _OpenCVSource(capture, path.name)
    rate = capture.get(cv2.CAP_PROP_FPS)
    opened.fps = fps or (rate if rate and np.isfinite(rate) and rate > 0 else 25.0)
    return opened


class _NewestFrame:
    """Captures in a thread; take() returns the newest frame, counting the ones replaced unseen."""

    def __init__(self, source: _Source, every_frame: bool):
        self.source = source
        self.every_frame = every_frame
        self._lock = threading.Condition()
        self._frame: tuple[int, np.ndarray] | None = None
        self._done = False
        self._error: Exception | None = None
        self.captured = 0
        self.dropped = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="convscope-capture", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        interval = 0.0 if self.source.realtime else 1.0 / self.source.fps
        next_time = time.perf_counter()
        try:
            while not self._stop.is_set():
                frame = self.source.read()
                if frame is None:
                    break
                with self._lock:
                    if self.every_frame:  # wait until the consumer took the previous one
                        while self._frame is not None and not self._stop.is_set():
                            self._lock.wait(0.1)
                    elif self._frame is not None:
                        self.dropped += 1  # the consumer never saw it
                    self._frame = (self.captured, frame)
                    self.captured += 1
                    self._lock.notify_all()
                if interval and not self.every_frame:
                    next_time += interval
                    time.sleep(max(0.0, next_time - time.perf_counter()))
        except Exception as exc:  # a camera unplugged mid-stream
            self._error = exc
        finally:
            with self._lock:
                self._done = True
                self._lock.notify_all()

    def take(self, timeout: float = 0.2) -> tuple[int, np.ndarray] | None:
        """The newest frame, or None when the source ended (raises the capture's error)."""
        with self._lock:
            while self._frame is None and not self._done:
                self._lock.wait(timeout)
                raise_if_stopped()
            if self._error is not None:
                raise LiveError(f"The capture stopped: {self._error}") from self._error
            frame, self._frame = self._frame, None
            self._lock.notify_all()
            return frame

    def close(self) -> None:
        self._stop.set()
        with self._lock:
            self._lock.notify_all()
        self._thread.join(timeout=1.0)
        self.source.close()


# ---------------------------------------------------------------- the job
def live_job(classifier, source: str | int, mode: str = "predict", frames: int | None = None,
             layer: str | None = None, every_frame: bool = False, fps: float | None = None):
    """Job: LiveFrame per processed frame; returns a LiveSummary. Stop it like any job (close)."""
    from .pretrained import as_classifier

    if mode not in MODES:
        raise LiveError(f"Unknown live mode '{mode}'. Choose one of: {', '.join(MODES)}.")
    classifier = as_classifier(classifier)
    groups = _dog_vs_food_groups()
    grabber = _NewestFrame(open_source(source, fps), every_frame)
    shown = 0
    started = time.perf_counter()
    try:
        while frames is None or shown < frames:
            taken = grabber.take()
            if taken is None:
                break
            index, image = taken
            begin = time.perf_counter()
            top5, shares, overlay = _process(classifier, image, mode, layer, groups)
            milliseconds = (time.perf_counter() - begin) * 1000
            shown += 1
            yield LiveFrame(index, image, top5, shares, overlay, milliseconds,
                            shown / max(time.perf_counter() - started, 1e-9))
    finally:
        grabber.close()
    if shown == 0:
        raise LiveError("The source gave no frames.")
    return LiveSummary(shown, shown / max(time.perf_counter() - started, 1e-9), grabber.dropped, grabber.captured)


def _dog_vs_food_groups():
    try:
        from .transfer import load_groups

        return load_groups("dog_vs_food")
    except Exception:  # the class groups are optional here
        return None


def _process(classifier, image: np.ndarray, mode: str, layer: str | None, groups):
    """One frame: one forward pass (and for the two maps one backward pass) of the classifier."""
    import torch

    overlay = None
    if mode == "activations":
        from .errors import DataError
        from .imaging import tile_images
        from .network_views import network_maps

        try:
            result = network_maps(classifier, image, layer or "blocks.2")
        except DataError as exc:
            raise LiveError(str(exc)) from None
        overlay = tile_images(result.maps.maps[:64], pad=1)[0]
        return _top5_and_shares(classifier, result.probabilities, groups) + (overlay,)
    x = classifier.preprocess(image)
    if mode == "saliency":  # vanilla gradient of the top class, max over colour channels
        from .attribution import vanilla_gradient_with_scores

        saliency, _target, logits = vanilla_gradient_with_scores(classifier.model, x, None)
        overlay = (saliency / (saliency.max() + 1e-12)).cpu().numpy()
    elif mode == "gradcam":
        logits, cam = grad_cam(classifier, x)
        overlay = (cam / (cam.max() + 1e-12)).cpu().numpy()
    else:
        with torch.no_grad():
            logits = classifier.model(x)
    probabilities = torch.softmax(logits, dim=1)[0].cpu().numpy()
    return _top5_and_shares(classifier, probabilities, groups) + (overlay,)


def _top5_and_shares(classifier, probabilities: np.ndarray, groups) -> tuple:
    """(top-5 as (index, name, probability), dog and food shares or None)."""
    names = classifier.class_names()
    order = np.argsort(-probabilities)[:5]
    top5 = tuple((int(i), names[int(i)], float(probabilities[i])) for i in order)
    shares = None
    if groups is not None and len(probabilities) == 1000:
        from .transfer import remap_to_groups

        scores, _inside = remap_to_groups(np.log(probabilities[None] + 1e-12), groups)
        shares = (float(scores[0, 0]), float(scores[0, 1]))
    return top5, shares


def grad_cam(classifier, x):
    """Grad-CAM (Selvaraju et al.) of the top class in one forward and one backward pass: the
    last feature map A, the class score's gradient averaged over each map as that map's weight,
    relu(sum of weight * A), upsampled to the image. Returns (logits, (H, W) map >= 0)."""
    import torch
    import torch.nn.functional as F

    from .layers import own_thread_forward_hook

    captured = []
    x = x.detach().requires_grad_(True)  # the weights are frozen: the graph hangs on the input
    handle = own_thread_forward_hook(classifier.feature_layer, lambda _m, _i, out: captured.append(out))
    try:
        with torch.enable_grad():
            logits = classifier.model(x)
            features = captured[0]
            (gradient,) = torch.autograd.grad(logits[0, int(logits[0].argmax())], features)
    finally:
        handle.remove()
    weights = gradient.mean(dim=(2, 3), keepdim=True)
    cam = torch.relu((weights * features).sum(dim=1, keepdim=True)).detach()
    cam = F.interpolate(cam, size=tuple(x.shape[-2:]), mode="bilinear", align_corners=False)
    return logits.detach(), cam[0, 0]
