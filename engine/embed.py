"""Feature space: extract a layer's features and lay them out in 2-D (PCA, t-SNE).

The jobs here are generators (see engine/events.py). t-SNE runs openTSNE in
short chunks of `callbacks_every_iters` iterations on the calling (worker)
thread; openTSNE's callback reports the KL divergence and the job yields an
`EmbeddingPartial` between chunks, so the scatter animates and Stop acts within
one chunk. The first frame is the starting layout (PCA or random), yielded
before the neighbour search, so something appears at once.
"""
from __future__ import annotations

import csv
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np
import torch
from torch import nn

from .data import ImageData, to_uint8_images
from .errors import DataError, ModelError
from .events import LogLine, Progress, Throttle
from .layers import eval_mode, named_layers, own_thread_forward_hook

PIXELS = "pixels"  # pseudo-layer: the raw input images, flattened
METHODS = ("pca", "tsne")


# ---------------------------------------------------------------- events / results

@dataclass(frozen=True)
class EmbeddingPartial:
    """A t-SNE layout while it is being optimized. `source` tells the two plots of
    compare mode apart ('features' or 'pixels')."""

    xy: np.ndarray  # (N, 2) float32, a copy
    iteration: int
    kl: float  # KL divergence at this iteration (nan before the first evaluation)
    total: int = 0
    source: str = "features"


@dataclass
class FeatureSet:
    """Features of a sample of images, with everything the plot links back to."""

    features: np.ndarray  # (N, D) float32
    labels: np.ndarray  # (N,) int64 true classes
    predictions: np.ndarray | None  # (N,) int64 predicted classes (None without a classifier)
    images: np.ndarray  # (N, H, W, C) uint8 thumbnails
    indices: np.ndarray  # (N,) positions in the split
    class_names: list[str]
    layer: str
    split: str
    captions: list[str] | None = None  # extra text per point (e.g. the ImageNet top-1 guess)
    # Names of the predicted classes when they are not the true classes' (an ImageNet network on a
    # folder of photos): predictions index this list, and "correct / wrong" has no meaning.
    prediction_names: list[str] | None = None

    def __len__(self) -> int:
        return len(self.labels)


@dataclass(frozen=True)
class FeaturesReady:
    """The sampled images, labels and predictions, sent before the layout starts so
    the plot can colour and link points while t-SNE animates. The engine does not
    touch `features` after yielding it."""

    features: FeatureSet


@dataclass(frozen=True)
class ModelReady:
    """A model trained on the fly (no trained model was given)."""

    run: object  # engine.checkpoint.TrainedRun


@dataclass
class EmbeddingResult:
    xy: np.ndarray  # (N, 2) float32
    method: str
    source: str  # 'features' or 'pixels'
    layer: str
    params: dict = field(default_factory=dict)
    kl: float = float("nan")
    explained_variance: tuple[float, float] | None = None  # PCA only
    knn_accuracy: float = float("nan")
    seconds: float = 0.0
    backend: str = ""


@dataclass
class FeatureSpaceResult:
    """What the panel shows: the features and one embedding (two in compare mode)."""

    features: FeatureSet
    embedding: EmbeddingResult
    pixels: FeatureSet | None = None
    pixel_embedding: EmbeddingResult | None = None


EXACT_NEIGHBOURS_UP_TO = 8000  # points; beyond, openTSNE's approximate search (memory grows as N^2)


@dataclass(frozen=True)
class TSNEParams:
    perplexity: float = 30.0
    iterations: int = 750  # total, including the early-exaggeration phase
    learning_rate: float | str = "auto"  # "auto" = N / exaggeration (openTSNE, Belkina et al.)
    initialization: str = "pca"  # 'pca' or 'random'
    early_exaggeration_fraction: float = 1 / 3
    # One frame per optimize() call of this many iterations: ~4 frames a second for 5000 points.
    # Each call has a fixed cost: chunks of 10 made the whole run ~10 % slower.
    frame_every: int = 25
    seed: int = 0
    n_jobs: int = -1
    # Barnes-Hut's accuracy (openTSNE's and scikit-learn's default 0.5): 0.8 is ~30 % faster with
    # the same 5-NN accuracy of the layout (0.950 vs 0.949 on LeNet-5 features of MNIST-5k).
    theta: float = 0.8

    def validate(self) -> None:
        if not 2 <= self.perplexity <= 500:
            raise DataError(f"Perplexity {self.perplexity:g} is out of range: use 2 to 500 (30 is typical).")
        if not 10 <= self.iterations <= 10000:
            raise DataError(f"{self.iterations} iterations is out of range: use 10 to 10000 (750 is typical).")
        if self.learning_rate != "auto" and not (float(self.learning_rate) > 0):
            raise DataError("The t-SNE learning rate must be positive (or 'auto').")
        if self.initialization not in ("pca", "random"):
            raise DataError(f"Unknown t-SNE initialization '{self.initialization}': use 'pca' or 'random'.")


# ---------------------------------------------------------------- layers and features

def _layer_modules(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """User-facing layer names: ConvNet's sequential children, else named modules."""
    return named_layers(model, fallback="modules")


def layer_names(model: nn.Module) -> list[str]:
    """Layers a feature space can be taken from, input first ('pixels')."""
    return [PIXELS] + [name for name, _ in _layer_modules(model)]


def default_layer(model: nn.Module) -> str:
    """The layer just before the classifier (the last Linear): LeNet-5's relu4, 84 features."""
    layers = _layer_modules(model)
    linear_positions = [i for i, (_, module) in enumerate(layers) if isinstance(module, nn.Linear)]
    if linear_positions and linear_positions[-1] > 0:
        return layers[linear_positions[-1] - 1][0]
    if len(layers) >= 2:
        return layers[-2][0]
    return layers[-1][0] if layers else PIXELS


def _find_layer(model: nn.Module, layer: str) -> nn.Module:
    for name, module in _layer_modules(model):
        if name == layer:
            return module
    available = ", ".join(name for name, _ in _layer_modules(model))
    raise ModelError(f"The model has no layer '{layer}'. Available: {PIXELS}, {available}.")


def sample_indices(labels: np.ndarray, size: int, seed: int = 0) -> np.ndarray:
    """A reproducible random sample of `size` positions, sorted (all when size >= N)."""
    n = len(labels)
    if size <= 0:
        raise DataError("The sample size must be at least 1.")
    if size >= n:
        return np.arange(n)
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n, size=size, replace=False))


def extract_features(model: nn.Module | None, images: torch.Tensor, layer: str,
                     batch_size: int = 256, progress: bool = True) -> Iterator:
    """Job: yields Progress, returns (features (N, D) float32, predictions (N,) or None).

    A forward hook grabs `layer`'s output; the full forward pass also gives the
    predictions (for colouring by predicted class / correctness)."""
    n = len(images)
    if layer == PIXELS and model is None:
        return images.reshape(n, -1).float().numpy().copy(), None
    if model is None:
        raise ModelError("No trained model: train one (Train tab) or load a run first.")
    target = None if layer == PIXELS else _find_layer(model, layer)
    captured: list[torch.Tensor] = []
    handle = None
    if target is not None:
        # The model may be shared with another panel's job running a forward pass in its own
        # thread: keep only the outputs of this job's forward passes (seen as a 488-row output
        # for a 256-image batch in the close-during-t-SNE test).
        handle = own_thread_forward_hook(target, lambda _module, _inputs, out: captured.append(out.detach()))
    first_parameter = next(model.parameters(), None)
    device = first_parameter.device if first_parameter is not None else torch.device("cpu")
    features, predictions = [], []
    throttle = Throttle()
    try:
        with eval_mode(model), torch.inference_mode():
            for start in range(0, n, batch_size):
                batch = images[start:start + batch_size]
                captured.clear()
                logits = model(batch.to(device))
                out = batch if target is None else captured[-1]
                features.append(out.reshape(len(batch), -1).float().cpu())
                if logits.dim() == 2:
                    predictions.append(logits.argmax(1).cpu())
                done = min(n, start + batch_size)
                if progress and throttle.ready(force=done == n):
                    yield Progress(done, n, f"features of {layer}: {done}/{n} images")
    finally:
        if handle is not None:
            handle.remove()
    feats = torch.cat(features).numpy().astype(np.float32, copy=True)
    preds = torch.cat(predictions).numpy().astype(np.int64) if predictions else None
    return feats, preds


def features_job(model: nn.Module | None, data: ImageData, layer: str | None = None, split: str = "val",
                 sample_size: int = 1000, seed: int = 0, batch_size: int = 256) -> Iterator:
    """Job: features of `layer` (default: before the classifier) for a sample of a split.
    Returns a FeatureSet."""
    x, y = data.split(split)
    if layer is None:
        layer = default_layer(model) if model is not None else PIXELS
    if model is not None:
        expected = tuple(getattr(getattr(model, "spec", None), "input_shape", ()) or ())
        if expected and tuple(x.shape[1:]) != expected:
            raise DataError(f"The model expects images of shape {expected} but '{data.name}' has "
                            f"{tuple(x.shape[1:])}: pick the dataset the model was trained on.")
    idx = sample_indices(y.numpy(), sample_size, seed)
    images = x[torch.as_tensor(idx)]
    feats, preds = yield from extract_features(model, images, layer, batch_size)
    if not np.all(np.isfinite(feats)):
        raise DataError(f"The features of layer '{layer}' contain NaN or infinite values "
                        "(the model may have diverged).")
    return FeatureSet(feats, y.numpy()[idx].astype(np.int64), preds, to_uint8_images(images), idx,
                      list(data.class_names), layer, split)


# ---------------------------------------------------------------- 2-D layouts

def pca_2d(features: np.ndarray, seed: int = 0) -> tuple[np.ndarray, tuple[float, float]]:
    """First two principal components and the fraction of variance each explains."""
    from sklearn.decomposition import PCA

    features = np.asarray(features, dtype=np.float32)
    if len(features) < 3:
        raise DataError("PCA needs at least 3 points.")
    pca = PCA(n_components=2, random_state=seed)
    xy = pca.fit_transform(features).astype(np.float32)
    ratio = pca.explained_variance_ratio_
    return xy, (float(ratio[0]), float(ratio[1]) if len(ratio) > 1 else 0.0)


def _initial_layout(features: np.ndarray, params: TSNEParams) -> np.ndarray:
    """openTSNE's recipe: PCA scaled to std 1e-4 (or small Gaussian noise)."""
    rng = np.random.default_rng(params.seed)
    if params.initialization == "pca" and features.shape[1] >= 2:
        xy, _ = pca_2d(features, params.seed)
        xy = xy - xy.mean(axis=0)
        std = float(xy[:, 0].std()) or 1.0
        xy = xy / std * 1e-4
    else:
        xy = rng.normal(0, 1e-4, (len(features), 2))
    return np.ascontiguousarray(xy, dtype=np.float64)


def _effective_perplexity(n: int, perplexity: float) -> float:
    # Each point needs about 3 * perplexity neighbours.
    return float(max(1.0, min(perplexity, (n - 1) / 3.0)))


def tsne_job(features: np.ndarray, params: TSNEParams | None = None, source: str = "features") -> Iterator:
    """Job: t-SNE with partial layouts. Yields EmbeddingPartial, returns (xy, kl, backend)."""
    params = params or TSNEParams()
    params.validate()
    features = np.ascontiguousarray(features, dtype=np.float64)
    n = len(features)
    if n < 10:
        raise DataError(f"t-SNE needs at least 10 points (got {n}); increase the sample size.")
    perplexity = _effective_perplexity(n, params.perplexity)
    initial = _initial_layout(features, params)
    yield EmbeddingPartial(initial.astype(np.float32), 0, float("nan"), params.iterations, source)
    return (yield from _open_tsne(features, params, perplexity, initial, source))


def _open_tsne(features, params: TSNEParams, perplexity: float, initial: np.ndarray, source: str):
    from openTSNE import TSNEEmbedding, affinity

    n = len(features)
    # Exact neighbours up to a few thousand points: 0.25 s for 5000x84 against Annoy's 0.9 s.
    affinities = affinity.PerplexityBasedNN(features, perplexity=perplexity, n_jobs=params.n_jobs,
                                            random_state=params.seed,
                                            method="exact" if n <= EXACT_NEIGHBOURS_UP_TO else "auto")
    # Barnes-Hut below 10,000 points (openTSNE's own rule): the FFT grid's fixed cost made 5000 points
    # 2.7x slower; FFT above.
    barnes_hut = n < 10_000
    embedding = TSNEEmbedding(initial.copy(), affinities, n_jobs=params.n_jobs, random_state=params.seed,
                              negative_gradient_method="bh" if barnes_hut else "fft", max_step_norm=5)
    accuracy = {"theta": params.theta} if barnes_hut else {}
    early = int(round(params.iterations * params.early_exaggeration_fraction))
    chunk = max(1, int(params.frame_every))
    last_kl = [float("nan")]

    def record_kl(iteration, error, _embedding):  # openTSNE callback, runs every `chunk` iterations
        last_kl[0] = float(error)
        return False  # never stop from here: Stop closes the generator between chunks

    done = 0
    while done < params.iterations:
        exaggerating = done < early
        steps = min(chunk, (early if exaggerating else params.iterations) - done)
        embedding.optimize(n_iter=steps, inplace=True, exaggeration=12.0 if exaggerating else 1.0,
                           momentum=0.5 if exaggerating else 0.8, learning_rate=params.learning_rate,
                           callbacks=[record_kl], callbacks_every_iters=steps, **accuracy)
        done += steps
        yield EmbeddingPartial(np.array(embedding, dtype=np.float32), done, last_kl[0], params.iterations, source)
    return np.array(embedding, dtype=np.float32), last_kl[0], "openTSNE"


def embed_job(features: np.ndarray, method: str = "tsne", params: TSNEParams | None = None,
              labels: np.ndarray | None = None, source: str = "features", layer: str = "") -> Iterator:
    """Job: a 2-D layout of `features` by PCA or t-SNE. Returns an EmbeddingResult
    (with the k-NN accuracy of the layout when labels are given)."""
    if method not in METHODS:
        raise DataError(f"Unknown method '{method}': use 'pca' or 'tsne'.")
    start = time.perf_counter()
    params = params or TSNEParams()
    if method == "pca":
        xy, ratio = pca_2d(features, params.seed)
        yield EmbeddingPartial(xy.copy(), 1, float("nan"), 1, source)
        result = EmbeddingResult(xy, "pca", source, layer, {}, explained_variance=ratio, backend="scikit-learn")
    else:
        xy, kl, used = yield from tsne_job(features, params, source)
        result = EmbeddingResult(xy, "tsne", source, layer,
                                 {"perplexity": params.perplexity, "iterations": params.iterations,
                                  "learning_rate": params.learning_rate, "initialization": params.initialization},
                                 kl=kl, backend=used)
    result.seconds = time.perf_counter() - start
    if labels is not None and len(labels) >= 10:
        result.knn_accuracy = knn_accuracy(result.xy, labels)
    return result


def feature_space_job(model: nn.Module | None, data: ImageData, layer: str | None = None,
                      split: str = "val", sample_size: int = 1000, method: str = "tsne",
                      params: TSNEParams | None = None, compare_pixels: bool = False, seed: int = 0) -> Iterator:
    """Job for the panel and the CLI: features of a sample, then their layout.

    With compare_pixels, the same images are also laid out from their raw pixels;
    the two t-SNE runs advance in turns so both plots animate together.
    Returns a FeatureSpaceResult."""
    feature_set = yield from features_job(model, data, layer, split, sample_size, seed)
    yield FeaturesReady(feature_set)
    yield LogLine(f"{len(feature_set)} images, layer {feature_set.layer}: {feature_set.features.shape[1]} features")
    main = embed_job(feature_set.features, method, params, feature_set.labels, "features", feature_set.layer)
    if not compare_pixels:
        embedding = yield from main
        return FeatureSpaceResult(feature_set, embedding)
    pixel_set = FeatureSet(feature_set.images.reshape(len(feature_set), -1).astype(np.float32) / 255.0,
                           feature_set.labels, feature_set.predictions, feature_set.images,
                           feature_set.indices, feature_set.class_names, PIXELS, split)
    other = embed_job(pixel_set.features, method, params, pixel_set.labels, "pixels", PIXELS)
    results = yield from _interleave({"features": main, "pixels": other})
    return FeatureSpaceResult(feature_set, results["features"], pixel_set, results["pixels"])


def feature_space_for_run(run, dataset: str | None = None, **options) -> Iterator:
    """feature_space_job for a TrainedRun; with run=None a quick LeNet-5 is trained
    first (announced with ModelReady). Returns a FeatureSpaceResult."""
    from .data import load_dataset

    if run is None:
        run = yield from quick_trained_run(dataset or "mnist5k")
        yield ModelReady(run)
    data = load_dataset(dataset or run.dataset or "mnist5k")
    return (yield from feature_space_job(run.model, data, **options))


IMAGENET_LAYER = "penultimate (pooled)"


def _knn_labels(labels: np.ndarray) -> np.ndarray | None:
    """The labels when a k-NN score of the layout means something (two classes, two images each)."""
    _values, counts = np.unique(labels, return_counts=True)
    return labels if len(counts) >= 2 and counts.min() >= 2 else None


def folder_features_job(folder, model=None) -> Iterator:
    """Job: a classifier's penultimate features (`classifier.features`, the DeCAF features) of every
    image of a folder: root/<class>/image.jpg gives the folder labels; photos right in root count
    as one class named after the folder. `model` is a model name ('efficientnet_lite0', 'user:1',
    ...), loaded in this thread, or a loaded classifier. Returns a FeatureSet whose predictions are
    the model's top-1 classes, numbered within `prediction_names` (the classes that occur, most
    frequent first), and whose captions name the file and the model's guess."""
    from .folders import scan_image_folder
    from .pretrained import DEFAULT_MODEL, as_classifier
    from .transfer import extract_folder_features

    scan = scan_image_folder(folder, min_classes=1, loose_files=True)
    label = model if isinstance(model, str) and model else DEFAULT_MODEL
    yield LogLine(f"Loading {getattr(model, 'label', label)} and reading {len(scan.files)} images "
                  f"from {scan.root.name}…")
    classifier = as_classifier(model or DEFAULT_MODEL)
    found = yield from extract_folder_features(classifier, scan)
    model_names = classifier.class_names()
    top1 = found.logits.argmax(axis=1)
    guessed, counts = np.unique(top1, return_counts=True)
    order = guessed[np.argsort(-counts, kind="stable")]
    position = {int(c): i for i, c in enumerate(order)}
    predictions = np.array([position[int(c)] for c in top1], dtype=np.int64)
    captions = [f"{Path(p).name} · {classifier.label} guess: {model_names[int(c)]}"
                for p, c in zip(found.paths, top1)]
    n = len(found.paths)
    skipped = f" ({len(scan.skipped)} files skipped: {scan.summary()})" if scan.skipped else ""
    yield LogLine(f"{n} images, {found.features.shape[1]} features each{skipped}")
    return FeatureSet(found.features.astype(np.float32), found.folder_labels.copy(), predictions,
                      found.thumbnails, np.arange(n), list(scan.class_names),
                      f"{classifier.label} {IMAGENET_LAYER}", "folder", captions,
                      prediction_names=[model_names[int(c)] for c in order])


BUNDLED_VIEWS = 4  # crops and flips of each bundled photo when no folder is given


def bundled_photo_folder(views: int = BUNDLED_VIEWS) -> Path:
    """A folder of the bundled photos, one sub-folder per photo holding `views` crops and flips of
    it (the same views Top patches uses), written once under CONVSCOPE_CACHE_DIR: the DeCAF picture
    without a folder of one's own."""
    from PIL import Image

    from .top_index import bundled_sources, cache_folder

    root = cache_folder().parent / "bundled_photos" / f"views{int(views)}"
    done = root.parent / f"views{int(views)}.complete"  # outside root: not a stray file of the folder
    if done.is_file():
        return root
    for source in bundled_sources(views):
        photo, view = source.name.removeprefix("bundled:").split("#")
        target = root / photo / f"{photo}_{view}.png"
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.is_file():
            image = np.asarray(source.load())
            tmp = target.parent.parent.parent / f".{photo}_{view}.tmp.png"  # never inside the folder
            Image.fromarray(np.ascontiguousarray(image[:, :, :3] if image.ndim == 3 else image)).save(tmp)
            tmp.replace(target)
    done.write_text("ok")
    return root


def folder_feature_space_job(folder, model=None, method: str = "tsne", params: TSNEParams | None = None,
                             compare_pixels: bool = False) -> Iterator:
    """Job: the DeCAF picture: a pretrained or loaded ImageNet network's penultimate features of a
    folder of photos (folder_features_job) laid out by t-SNE or PCA; without a folder, the bundled
    photos (bundled_photo_folder). Returns a FeatureSpaceResult."""
    if not folder:
        yield LogLine("No folder chosen: the bundled photos, four views of each, one colour per photo.")
        folder = bundled_photo_folder()
    feature_set = yield from folder_features_job(folder, model)
    yield FeaturesReady(feature_set)
    if method == "tsne" and len(feature_set) < 10:
        yield LogLine(f"Only {len(feature_set)} images: too few for t-SNE (10 at least), so PCA lays them out.")
        method = "pca"
    knn = _knn_labels(feature_set.labels)
    main = embed_job(feature_set.features, method, params, knn, "features", feature_set.layer)
    if not compare_pixels:
        return FeatureSpaceResult(feature_set, (yield from main))
    n = len(feature_set)
    pixel_set = FeatureSet(feature_set.images.reshape(n, -1).astype(np.float32) / 255.0, feature_set.labels,
                           feature_set.predictions, feature_set.images, feature_set.indices,
                           feature_set.class_names, PIXELS, "folder", feature_set.captions,
                           prediction_names=feature_set.prediction_names)
    other = embed_job(pixel_set.features, method, params, knn, "pixels", PIXELS)
    results = yield from _interleave({"features": main, "pixels": other})
    return FeatureSpaceResult(feature_set, results["features"], pixel_set, results["pixels"])


def imagenet_folder_feature_space_job(folder, model_name: str = "efficientnet_lite0", method: str = "tsne",
                                      params: TSNEParams | None = None, compare_pixels: bool = False) -> Iterator:
    """The earlier name of folder_feature_space_job."""
    return (yield from folder_feature_space_job(folder, model_name, method, params, compare_pixels))


def _interleave(jobs: dict[str, Iterator]) -> Iterator:
    """Advance several jobs one event at a time, in turns; returns {name: result}."""
    results: dict[str, object] = {}
    active = dict(jobs)
    try:
        while active:
            for name in list(active):
                try:
                    event = next(active[name])
                except StopIteration as stop:
                    results[name] = stop.value
                    del active[name]
                    continue
                yield event
    finally:
        for job in active.values():
            job.close()
    return results


# ---------------------------------------------------------------- helpers for the plot

def knn_accuracy(xy: np.ndarray, labels: np.ndarray, k: int = 5, folds: int = 5, seed: int = 0) -> float:
    """Cross-validated accuracy of a k-NN classifier on the 2-D layout: how well
    the layout keeps classes apart (1.0 = every point's neighbours share its class)."""
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.neighbors import KNeighborsClassifier

    labels = np.asarray(labels)
    smallest = int(np.min(np.unique(labels, return_counts=True)[1]))
    folds = max(2, min(folds, smallest))
    if len(labels) < 2 * k:
        raise DataError(f"k-NN accuracy needs at least {2 * k} points.")
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    scores = cross_val_score(KNeighborsClassifier(n_neighbors=k), np.asarray(xy, dtype=np.float64), labels,
                             cv=splitter)
    return float(np.mean(scores))


def nearest_point(xy: np.ndarray, x: float, y: float, max_distance: float | None = None) -> int | None:
    """Index of the point nearest (x, y), or None when none is within max_distance."""
    if xy is None or len(xy) == 0:
        return None
    d2 = (xy[:, 0] - x) ** 2 + (xy[:, 1] - y) ** 2
    index = int(np.argmin(d2))
    if max_distance is not None and d2[index] > max_distance ** 2:
        return None
    return index


def points_in_rect(xy: np.ndarray, x0: float, y0: float, x1: float, y1: float) -> np.ndarray:
    lo_x, hi_x = sorted((x0, x1))
    lo_y, hi_y = sorted((y0, y1))
    inside = (xy[:, 0] >= lo_x) & (xy[:, 0] <= hi_x) & (xy[:, 1] >= lo_y) & (xy[:, 1] <= hi_y)
    return np.flatnonzero(inside)


def points_in_polygon(xy: np.ndarray, polygon: np.ndarray) -> np.ndarray:
    """Indices of points inside a closed polygon (lasso selection)."""
    from matplotlib.path import Path as PolygonPath

    polygon = np.asarray(polygon, dtype=np.float64)
    if len(polygon) < 3:
        return np.zeros(0, dtype=np.int64)
    return np.flatnonzero(PolygonPath(polygon).contains_points(np.asarray(xy, dtype=np.float64)))


def colour_groups(labels: np.ndarray, predictions: np.ndarray | None, class_names: list[str],
                  mode: str = "true", prediction_names: list[str] | None = None) -> list[tuple[str, int, np.ndarray]]:
    """Legend groups: (name, colour index, point indices). mode: 'true', 'predicted' or
    'correct' (colour index 2 = correct, 3 = wrong in the Okabe-Ito palette). With
    `prediction_names`, predictions index that list instead of `class_names`."""
    if mode in ("predicted", "correct") and predictions is None:
        raise DataError("This layer's model has no predictions to colour by; colour by true class instead.")
    if mode == "correct" and prediction_names is not None:
        raise DataError("The model's classes are not the folder's, so a guess cannot be right or wrong; "
                        "colour by folder or by predicted class instead.")
    if mode == "predicted" and prediction_names is not None:
        return [(name, c, np.flatnonzero(predictions == c)) for c, name in enumerate(prediction_names)
                if np.any(predictions == c)]
    if mode == "correct":
        right = predictions == labels
        return [(f"correct ({int(right.sum())})", 2, np.flatnonzero(right)),
                (f"wrong ({int((~right).sum())})", 3, np.flatnonzero(~right))]
    values = labels if mode == "true" else predictions
    groups = []
    for c, name in enumerate(class_names):
        idx = np.flatnonzero(values == c)
        if len(idx):
            groups.append((name, c, idx))
    return groups


def thumbnail_mosaic(xy: np.ndarray, images: np.ndarray, cells: int = 30,
                     transparent: bool = False) -> tuple[np.ndarray, tuple[float, float, float, float]]:
    """Thumbnails at their embedded positions, without overlap: the layout's bounding
    box is cut into a cells x cells grid and each cell shows the point nearest its
    centre (if any point falls in it). Returns an (H, W, C) uint8 picture (row 0 at
    the top = largest y) and its extent (x0, y0, width, height) in layout units.
    `transparent`: RGBA, empty cells fully transparent (the plot's background shows)."""
    images = np.asarray(images)
    if images.ndim == 3:
        images = images[..., None]
    if transparent:
        rgb = np.repeat(images, 3, axis=3) if images.shape[3] == 1 else images[..., :3]
        images = np.concatenate([rgb, np.full(rgb.shape[:3] + (1,), 255, np.uint8)], axis=3)
    n, h, w, c = images.shape
    x0, y0 = xy.min(axis=0)
    x1, y1 = xy.max(axis=0)
    span_x, span_y = max(x1 - x0, 1e-9), max(y1 - y0, 1e-9)
    cols = rows = max(1, int(cells))
    mosaic = np.full((rows * h, cols * w, c), 0 if transparent else 255, dtype=np.uint8)
    cx = np.clip(((xy[:, 0] - x0) / span_x * cols).astype(int), 0, cols - 1)
    cy = np.clip(((xy[:, 1] - y0) / span_y * rows).astype(int), 0, rows - 1)
    centre_x = x0 + (cx + 0.5) * span_x / cols
    centre_y = y0 + (cy + 0.5) * span_y / rows
    d2 = (xy[:, 0] - centre_x) ** 2 + (xy[:, 1] - centre_y) ** 2
    order = np.argsort(-d2)  # nearest last, so it wins the cell
    for i in order:
        r = rows - 1 - cy[i]  # image rows grow downwards, layout y grows upwards
        mosaic[r * h:(r + 1) * h, cx[i] * w:(cx[i] + 1) * w] = images[i]
    return mosaic, (float(x0), float(y0), float(span_x), float(span_y))


# ---------------------------------------------------------------- export

def save_embedding_csv(path: str | Path, result: EmbeddingResult, feature_set: FeatureSet) -> Path:
    """index (in the split), x, y, true label and name, predicted label, correct."""
    from .fileio import atomic_write

    path = Path(path)
    names = feature_set.class_names

    def write(tmp: str) -> None:
        with open(tmp, "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["index", "x", "y", "label", "label_name", "predicted", "predicted_name", "correct"])
            for i in range(len(feature_set)):
                label = int(feature_set.labels[i])
                pred = None if feature_set.predictions is None else int(feature_set.predictions[i])
                own = feature_set.prediction_names is not None  # the model's classes, not the folders'
                pred_names = feature_set.prediction_names if own else names
                writer.writerow([int(feature_set.indices[i]), f"{result.xy[i, 0]:.6g}", f"{result.xy[i, 1]:.6g}",
                                 label, names[label] if label < len(names) else label,
                                 "" if pred is None else pred,
                                 "" if pred is None else (pred_names[pred] if pred < len(pred_names) else pred),
                                 "" if pred is None or own else int(pred == label)])

    atomic_write(path, write)
    return path


def describe(result: EmbeddingResult) -> str:
    """One line for titles and logs."""
    what = "raw pixels" if result.source == "pixels" else f"layer {result.layer}"
    if result.method == "pca":
        ev = result.explained_variance or (0.0, 0.0)
        text = f"PCA of {what} (PC1 {ev[0]:.0%}, PC2 {ev[1]:.0%} of variance)"
    else:
        text = f"t-SNE of {what} (perplexity {result.params.get('perplexity', 0):g})"
    if not math.isnan(result.knn_accuracy):
        text += f", 5-NN accuracy {result.knn_accuracy:.3f}"
    return text


def save_embedding_png(path: str | Path, result: EmbeddingResult, feature_set: FeatureSet,
                       title: str | None = None) -> Path:
    """A headless picture of the layout, coloured by true class (matplotlib Agg, no pyplot)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    palette = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000",
               "#999999", "#882255"]  # Okabe-Ito, as in gui/theme.py
    from .fileio import atomic_write

    path = Path(path)
    figure = Figure(figsize=(8, 7), dpi=120)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot(1, 1, 1)
    for name, colour_index, idx in colour_groups(feature_set.labels, None, feature_set.class_names, "true"):
        axes.scatter(result.xy[idx, 0], result.xy[idx, 1], s=8, color=palette[colour_index % len(palette)],
                     label=name, linewidths=0)
    axes.set_title(title or describe(result), fontsize=12)
    axes.set_xlabel("t-SNE 1" if result.method == "tsne" else "PC 1")
    axes.set_ylabel("t-SNE 2" if result.method == "tsne" else "PC 2")
    axes.legend(title="true class", markerscale=2.5, fontsize=9, loc="best", framealpha=0.8)
    figure.tight_layout()
    atomic_write(path, lambda tmp: figure.savefig(tmp, format="png"))
    return path


# ---------------------------------------------------------------- a model to look at

def quick_trained_run(dataset: str = "mnist5k", epochs: int = 2, seed: int = 0) -> Iterator:
    """Job: a LeNet-5 trained briefly (Adam, about a second on MNIST-5k on a free CPU),
    for when the user opens the feature space with no trained model, by the
    trainer (engine.train). Returns a TrainedRun."""
    from .data import load_dataset
    from .spec import load_preset, validate
    from .train import TrainSettings, train_job

    data = load_dataset(dataset)
    # Same layers, input shape and class count taken from the data;
    # an impossible fit (8x8 digits are too small for LeNet-5) raises SpecError.
    spec = load_preset("lenet5").adapted_to(data.input_shape, data.num_classes)
    validate(spec)
    yield LogLine(f"No trained model yet: training a quick LeNet-5 on {dataset} ({epochs} epochs).")
    settings = TrainSettings(dataset=dataset, epochs=epochs, optimizer="adam", lr=0.002, seed=seed)
    result = yield from train_job(spec, data, settings)
    run = result.run
    run.name = f"quick LeNet-5 ({dataset})"
    run.model.eval()
    return run
