"""The user's own model: a torchvision or timm architecture name plus a local weights file (a
state_dict, read with `weights_only=True`, so a pickle payload never runs), with class names
from a text or JSON file and preprocessing from timm's pretrained config or given by the user.
The result is a classifier the ImageNet and Inside views use like the embedded one.
"""
from __future__ import annotations

import difflib
import json
import threading
from pathlib import Path
from typing import Sequence

import torch
from torch import nn

from .errors import ModelError
from .pretrained import (IMAGENET_MEAN, IMAGENET_STD, ImageNetClassifier, Prediction, _last_conv_block, _last_linear,
                         class_names as imagenet_class_names)

MAX_WEIGHTS_BYTES = 2 * 1024**3  # a state_dict larger than this is not a classroom model
MAX_CLASS_NAMES_BYTES = 4 * 1024**2


class LoadedClassifier(ImageNetClassifier):
    """An ImageNetClassifier with its own class names (any number of classes)."""

    def __init__(self, *args, names: Sequence[str], **kwargs):
        super().__init__(*args, **kwargs)
        self.names = [str(n) for n in names]

    def class_names(self) -> list[str]:
        return list(self.names)

    def find_class(self, query: int | str) -> int:
        if isinstance(query, int) or str(query).strip().isdigit():
            index = int(query)
            if not 0 <= index < len(self.names):
                last = len(self.names) - 1
                raise ModelError(f"Class index {index} is out of range: this model has classes 0-{last}.")
            return index
        text = str(query).strip().lower()
        for index, name in enumerate(self.names):
            if name.lower() == text:
                return index
        close = difflib.get_close_matches(text, [n.lower() for n in self.names], n=3)
        hint = f" Close: {', '.join(close)}." if close else ""
        raise ModelError(f"This model has no class '{query}'.{hint}")

    def predict(self, image, k: int = 5) -> list[Prediction]:
        probabilities = self.probabilities(image)[0]
        order = probabilities.argsort()[::-1][:k]
        return [Prediction(int(i), self.names[int(i)], float(probabilities[i])) for i in order]


def known_architectures() -> list[str]:
    import timm
    import torchvision

    return sorted(set(torchvision.models.list_models()) | set(timm.list_models()))


def _build_architecture(arch: str, num_classes: int | None) -> tuple[nn.Module, str]:
    import timm
    import torchvision

    options = {} if num_classes is None else {"num_classes": int(num_classes)}
    if arch in torchvision.models.list_models():
        return torchvision.models.get_model(arch, weights=None, **options), "torchvision"
    if timm.is_model(arch):
        return timm.create_model(arch, pretrained=False, **options), "timm"
    close = difflib.get_close_matches(arch, known_architectures(), n=5, cutoff=0.6)
    hint = (f" Did you mean: {', '.join(close)}?" if close
            else " See torchvision.models.list_models() or timm.list_models().")
    raise ModelError(f"Unknown architecture '{arch}'.{hint}")


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """A state_dict from a .pt/.pth file (weights only: pickled code is refused, never run) or a
    .safetensors file. A ConvScope checkpoint's 'state_dict'/'model' entry is used if present."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise ModelError(f"No weights file at {path}.")
    if path.stat().st_size > MAX_WEIGHTS_BYTES:
        raise ModelError(f"{path.name} is larger than {MAX_WEIGHTS_BYTES // 1024**3} GB: not loaded.")
    if path.suffix == ".safetensors":
        try:
            from safetensors.torch import load_file
        except ImportError as exc:
            raise ModelError("Reading .safetensors needs the safetensors package (installed with timm).") from exc
        try:
            return load_file(str(path))
        except Exception as exc:
            raise ModelError(f"{path.name} is not a readable safetensors file ({exc}).") from exc
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if "Unsupported global" in str(exc):
            raise ModelError(f"{path.name} holds pickled Python objects beyond tensors; ConvScope never runs "
                             "such code. Save the model's state_dict() instead.") from exc
        if "weights_only" in str(exc) or "Unsupported operand" in str(exc):
            raise ModelError(f"{path.name} is not a plain PyTorch state_dict: it is not a weights file, or it "
                             "holds pickled Python objects, which ConvScope never runs. Save the model's "
                             "state_dict() with torch.save.") from exc
        raise ModelError(f"{path.name} is not a readable PyTorch weights file ({text}).") from exc
    for key in ("state_dict", "model_state_dict", "model"):
        if isinstance(data, dict) and isinstance(data.get(key), dict):
            data = data[key]
            break
    if not isinstance(data, dict) or not data or not all(isinstance(v, torch.Tensor) for v in data.values()):
        raise ModelError(f"{path.name} does not hold a state_dict (a mapping of names to tensors).")
    return {str(k).removeprefix("module."): v for k, v in data.items()}  # DataParallel saves add 'module.'


def describe_mismatch(model: nn.Module, state: dict[str, torch.Tensor], limit: int = 4) -> str | None:
    """One paragraph naming the first missing / unexpected keys and shape mismatches, or None."""
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    shapes = [f"{k}: file {tuple(state[k].shape)}, model {tuple(expected[k].shape)}"
              for k in expected if k in state and tuple(state[k].shape) != tuple(expected[k].shape)]
    parts = []
    if shapes:
        parts.append(f"{len(shapes)} shape mismatch(es), first: {'; '.join(shapes[:limit])}")
    if missing:
        parts.append(f"{len(missing)} key(s) missing from the file, first: {', '.join(missing[:limit])}")
    if unexpected:
        parts.append(f"{len(unexpected)} key(s) the model does not have, first: {', '.join(unexpected[:limit])}")
    return ". ".join(parts) + "." if parts else None


def _output_classes(model: nn.Module, state: dict[str, torch.Tensor]) -> int | None:
    """The class count the file was saved with, read from the model's final Linear weight."""
    try:
        final = _last_linear(model)
    except ModelError:
        return None
    for name, module in model.named_modules():
        if module is final and f"{name}.weight" in state:
            return int(state[f"{name}.weight"].shape[0])
    return None


def read_class_names(path: str | Path | None, count: int) -> list[str]:
    """Names from a text file (one per line) or a JSON list / {index: name} object; ImageNet's
    names for 1000 outputs when no file is given; 'class i' otherwise."""
    if path is None or str(path) == "":
        return imagenet_class_names() if count == 1000 else [f"class {i}" for i in range(count)]
    path = Path(path).expanduser()
    if not path.is_file():
        raise ModelError(f"No class-names file at {path}.")
    if path.stat().st_size > MAX_CLASS_NAMES_BYTES:
        raise ModelError(f"{path.name} is too large for a class-names file.")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ModelError(f"Could not read {path.name} as text ({exc}).") from exc
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ModelError(f"{path.name} is not valid JSON ({exc.msg}, line {exc.lineno}).") from exc
        if isinstance(data, dict):
            try:
                data = [data[key] for key in sorted(data, key=lambda k: int(k))]
            except (ValueError, TypeError) as exc:
                raise ModelError(f"{path.name}: the keys of a class-names object must be class indices.") from exc
        if not isinstance(data, list):
            raise ModelError(f"{path.name} must hold a list of class names or an {{index: name}} object.")
        names = [str(n) for n in data]
    else:
        names = [line.strip() for line in text.splitlines() if line.strip()]
    if len(names) != count:
        raise ModelError(f"{path.name} names {len(names)} classes, but the model has {count} outputs.")
    return names


def load_user_classifier(arch: str, weights: str | Path, class_names_file: str | Path | None = None,
                         input_size: int | None = None, mean: Sequence[float] | None = None,
                         std: Sequence[float] | None = None, device: str | torch.device = "cpu") -> LoadedClassifier:
    """Build `arch`, load `weights` into it by name, and wrap it as a classifier on [0, 1] images.
    Preprocessing: what the user gives, else timm's pretrained config for the architecture, else
    ImageNet's 224 px with its mean and std."""
    state = read_state_dict(weights)
    probe, _source = _build_architecture(arch, None)
    classes = _output_classes(probe, state)
    net = probe
    if classes is not None and classes != _output_classes(probe, probe.state_dict()):
        net, _source = _build_architecture(arch, classes)  # e.g. a 2-class head trained on 1000-class backbone
    mismatch = describe_mismatch(net, state)
    if mismatch:
        raise ModelError(f"The weights in {Path(weights).name} do not fit {arch}: {mismatch}")
    net.load_state_dict(state)
    net.eval()
    config = getattr(net, "pretrained_cfg", None) or {}
    size = int(input_size or config.get("input_size", (3, 224, 224))[-1])
    crop = float(config.get("crop_pct", 0.875) or 0.875)
    mean = tuple(mean or config.get("mean", IMAGENET_MEAN))
    std = tuple(std or config.get("std", IMAGENET_STD))
    if len(mean) != 3 or len(std) != 3 or min(std) <= 0:
        raise ModelError("Mean and std need three values each (R, G, B), std above 0.")
    classifier = _last_linear(net)
    names = read_class_names(class_names_file, int(classifier.out_features))
    label = f"{arch} ({Path(weights).name})"
    return LoadedClassifier(f"user:{arch}:{Path(weights).resolve()}", net, mean, std, classifier,
                            _last_conv_block(net), size, int(round(size / crop)), device, label, names=names)


# ---------------------------------------------------------------- registry of the user's models
# A registered model gets a name ('user:1', 'user:2', ...) that every model chooser and job accepts
# like 'efficientnet_lite0': engine.pretrained.load_classifier resolves it through user_model_spec.
USER_PREFIX = "user:"
_registry: dict[str, dict] = {}
_registry_lock = threading.Lock()


def _spec(arch: str, weights, class_names=None, input_size=None, mean=None, std=None) -> dict:
    arch = str(arch or "").strip()
    if not arch:
        raise ModelError("No architecture given: type a torchvision or timm name, e.g. resnet18.")
    if not str(weights or "").strip():
        raise ModelError("No weights file given: choose a .pt, .pth or .safetensors file with a state_dict.")
    return {"arch": arch, "weights": str(Path(weights).expanduser().resolve()),
            "class_names": str(Path(class_names).expanduser().resolve()) if class_names else None,
            "input_size": int(input_size) if input_size else None,
            "mean": [float(v) for v in mean] if mean else None,
            "std": [float(v) for v in std] if std else None}


def user_model_label(spec: dict) -> str:
    return f"{spec['arch']} ({Path(spec['weights']).name})"


def register_user_model(arch: str, weights: str | Path, class_names: str | Path | None = None,
                        input_size: int | None = None, mean: Sequence[float] | None = None,
                        std: Sequence[float] | None = None) -> str:
    """Check that the model loads (ModelError with the reason if not), then give it a name such as
    'user:1' that load_classifier / as_classifier / every job accepts. Registering the same files
    and settings twice returns the same name. Loads the model (seconds): call it in a job."""
    from .pretrained import load_classifier

    spec = _spec(arch, weights, class_names, input_size, mean, std)
    known = _registered_name(spec)
    if known is not None:
        return known
    # Validate before naming: a model that does not load never appears in a chooser.
    load_user_classifier(spec["arch"], spec["weights"], spec["class_names"], spec["input_size"], spec["mean"],
                         spec["std"])
    name = _name_spec(spec)
    load_classifier(name)  # keep the loaded model in the classifier cache for the views to come
    return name


def _registered_name(spec: dict) -> str | None:
    with _registry_lock:
        return next((name for name, known in _registry.items() if known == spec), None)


def _name_spec(spec: dict) -> str:
    """The name of `spec`: the one it already has (registered meanwhile by another thread), else the next."""
    with _registry_lock:
        for name, known in _registry.items():
            if known == spec:
                return name
        name = f"{USER_PREFIX}{len(_registry) + 1}"
        _registry[name] = spec
        return name


def restore_user_models(saved: Sequence[dict]) -> tuple[dict[str, str], list[str]]:
    """Register the models a workspace saved ({'name': 'user:N', 'arch', 'weights', ...} in the
    order they were added) and return ({saved name: name now}, problems).

    Names stay the same in a fresh process; where this process already gave a name to another
    model, the saved one gets the next free name (the mapping says which). A model whose weights or
    class-names file is gone maps to the embedded model, with one problem naming the file. Files are
    only checked here, not loaded: the model loads (weights only) when a view first uses it. A damaged
    entry maps to the embedded model too."""
    from .pretrained import DEFAULT_MODEL

    names: dict[str, str] = {}
    problems: list[str] = []
    for entry in saved:
        old = str(entry.get("name", "")) if isinstance(entry, dict) else ""
        try:
            if not is_user_model(old):
                raise ModelError(f"its name {old[:40]!r} is not a 'user:N' name")
            spec = _spec(entry.get("arch"), entry.get("weights"), entry.get("class_names"),
                         entry.get("input_size"), entry.get("mean"), entry.get("std"))
        except (ModelError, TypeError, ValueError) as exc:
            problems.append(f"A model you added could not be restored: the workspace entry is damaged ({exc}).")
            if is_user_model(old):
                names[old] = DEFAULT_MODEL  # never another model that has this name in this session
            continue
        missing = next((Path(spec[key]) for key in ("weights", "class_names")
                        if spec[key] and not Path(spec[key]).is_file()), None)
        if missing is not None:
            what = "weights" if str(missing) == spec["weights"] else "class-names"
            problems.append(f"Your model {user_model_label(spec)} was not restored: its {what} file {missing} is "
                            "missing. Views that used it show the embedded model; add it again with "
                            "'Add your own model…'.")
            names[old] = DEFAULT_MODEL
            continue
        names[old] = _name_spec(spec)
    return names, problems


def is_user_model(name: str) -> bool:
    return str(name).startswith(USER_PREFIX)


def user_model_spec(name: str) -> dict | None:
    with _registry_lock:
        spec = _registry.get(str(name))
        return dict(spec) if spec is not None else None


def registered_user_models() -> list[tuple[str, str, dict]]:
    """[(name, label, spec)] in registration order (workspaces save the specs)."""
    with _registry_lock:
        return [(name, user_model_label(spec), dict(spec)) for name, spec in _registry.items()]


def build_registered(name: str, device: str | torch.device = "cpu") -> LoadedClassifier:
    """The registered model `name`, freshly loaded from its files (engine.pretrained caches it)."""
    spec = user_model_spec(name)
    if spec is None:
        raise ModelError(f"No model called '{name}' has been added in this session; add it again "
                         "(architecture + weights file).")
    classifier = load_user_classifier(spec["arch"], spec["weights"], spec["class_names"], spec["input_size"],
                                      spec["mean"], spec["std"], device=device)
    classifier.name = name
    return classifier


def register_user_model_job(arch: str, weights: str | Path, class_names: str | Path | None = None,
                            input_size: int | None = None, mean: Sequence[float] | None = None,
                            std: Sequence[float] | None = None):
    """Job for the GUI: register_user_model in the worker thread. Returns (name, label)."""
    from .events import Progress

    yield Progress(0, 1, f"Loading {arch or 'the model'} from {Path(str(weights or '')).name or '…'}")
    name = register_user_model(arch, weights, class_names, input_size, mean, std)
    spec = user_model_spec(name)
    yield Progress(1, 1, f"Added {user_model_label(spec)} as {name}")
    return name, user_model_label(spec)
