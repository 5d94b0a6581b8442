"""t-SNE of 5000 points x 84 features (LeNet-5's penultimate layer on all of
MNIST-5k): ConvScope's chunked openTSNE job vs plain scikit-learn TSNE on the
same features in the same run, plus the time until the first animated frame."""
from __future__ import annotations

import threading
import time

import numpy as np
import torch

from benchmarks.common import BenchResult


def _features(n_points: int) -> tuple[np.ndarray, np.ndarray]:
    from engine.data import load_dataset
    from engine.embed import default_layer, extract_features, quick_trained_run
    from engine.events import run_to_end

    run = run_to_end(quick_trained_run("mnist5k", epochs=2))
    data = load_dataset("mnist5k")
    images = torch.cat([data.train_x, data.val_x])[:n_points]
    labels = torch.cat([data.train_y, data.val_y])[:n_points].numpy()
    features, _ = run_to_end(extract_features(run.model, images, default_layer(run.model)))
    return features, labels


def _longest_stall_while(work) -> float:
    """Run `work` in a thread while this (the "GUI") thread ticks every 10 ms; the
    longest extra delay between ticks is how long an event loop would stall
    (GIL held by the work, or no free core)."""
    worker = threading.Thread(target=work)
    worker.start()
    longest, last = 0.0, time.perf_counter()
    while worker.is_alive():
        time.sleep(0.01)
        now = time.perf_counter()
        longest = max(longest, now - last - 0.01)
        last = now
    worker.join()
    return longest


def run(quick: bool = False) -> list[BenchResult]:
    from sklearn.manifold import TSNE

    from engine.embed import EmbeddingPartial, TSNEParams, embed_job, knn_accuracy

    n_points = 2000 if quick else 5000
    iterations = 750  # openTSNE's default 250 exaggerated + 500 normal
    features, labels = _features(n_points)

    params = TSNEParams(iterations=iterations)  # the window's settings
    timing: dict = {"first_frame": None, "first_optimized": None, "frames": 0}

    def drain() -> None:  # the worker thread's part, as in the GUI
        start = time.perf_counter()
        job = embed_job(features, "tsne", params)
        while True:
            try:
                event = next(job)
            except StopIteration as stop:
                timing["result"] = stop.value
                break
            if isinstance(event, EmbeddingPartial):
                timing["frames"] += 1
                now = time.perf_counter() - start
                if timing["first_frame"] is None:
                    timing["first_frame"] = now
                if timing["first_optimized"] is None and event.iteration > 0:
                    timing["first_optimized"] = now
        timing["seconds"] = time.perf_counter() - start

    longest_gap = _longest_stall_while(drain)
    ours, ours_seconds = timing["result"], timing["seconds"]
    first_frame, first_optimized, frames = timing["first_frame"], timing["first_optimized"], timing["frames"]

    sklearn_out: dict = {}

    def sklearn_fit() -> None:
        start = time.perf_counter()
        tsne = TSNE(n_components=2, perplexity=30, init="pca", learning_rate="auto", max_iter=iterations,
                    random_state=0, n_jobs=-1)
        sklearn_out["xy"] = tsne.fit_transform(features.astype(np.float32))
        sklearn_out["seconds"] = time.perf_counter() - start

    sklearn_gap = _longest_stall_while(sklearn_fit)
    baseline, sklearn_seconds = sklearn_out["xy"], sklearn_out["seconds"]

    ours_knn = knn_accuracy(ours.xy, labels)
    sklearn_knn = knn_accuracy(baseline, labels)
    shape = f"{n_points}x{features.shape[1]}"
    return [
        BenchResult(f"t-SNE {shape}, {iterations} it, {frames} animated frames", ours_seconds, "s",
                    sklearn_seconds, "scikit-learn TSNE, same features", target="<= 0.7x",
                    met=ours_seconds <= 0.7 * sklearn_seconds,
                    notes=f"5-NN acc of layout {ours_knn:.3f} vs {sklearn_knn:.3f}"),
        BenchResult(f"t-SNE {shape}: first animated frame", first_frame, "s", target="< 1 s",
                    met=first_frame < 1.0, notes="the start layout (PCA), shown before the neighbour search"),
        BenchResult(f"t-SNE {shape}: first optimized frame", first_optimized, "s", target="",
                    notes=f"after the neighbour search + {params.frame_every} iterations"),
        BenchResult(f"t-SNE {shape}: longest GUI-thread stall while it runs", longest_gap * 1000, "ms",
                    sklearn_gap * 1000, "same ticker during scikit-learn's fit", target="< 100 ms",
                    met=longest_gap < 0.1,
                    notes="a 10 ms ticker in the main thread while the job runs in a worker thread"),
    ]


if __name__ == "__main__":
    for result in run(quick=False):
        print(result.as_dict())
