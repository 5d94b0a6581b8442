"""Top-patch index of an image folder with the embedded EfficientNet-Lite0 (issue 17): the
one-pass index against a bare forward loop over the same images (the same reading and
preprocessing, the whole network, no hooks), and a second, cached look."""
from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

from benchmarks.common import BenchResult

LAYER = "blocks.5"


def _make_folder(root: Path, count: int) -> None:
    from engine.images import bundled_photos, save_png
    from engine.transfer.demo import photo_variants

    photos = [loader() for loader in bundled_photos().values()]
    per_photo = -(-count // len(photos))
    written = 0
    for p, photo in enumerate(photos):
        for v, view in enumerate(photo_variants(photo, per_photo, seed=p)):
            if written < count:
                save_png(root / f"{p:02d}_{v:03d}.png", view)
                written += 1


def run(quick: bool = False) -> list[BenchResult]:
    import torch

    from engine.events import run_to_end
    from engine.pretrained import load_classifier
    from engine.top_index import folder_sources, index_job

    count = 100 if quick else 500
    classifier = load_classifier()
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch) / "photos"
        folder.mkdir()
        _make_folder(folder, count)
        os.environ["CONVSCOPE_CACHE_DIR"] = str(Path(scratch) / "cache")

        sources, _ = folder_sources(folder, max_side=max(classifier.resize_size * 2, 512))
        started = time.perf_counter()
        for begin in range(0, len(sources), 16):  # the bare loop: read, preprocess, forward
            batch = torch.cat([classifier.preprocess(s.load()) for s in sources[begin:begin + 16]])
            with torch.no_grad():
                classifier.model(batch)
        bare = count / (time.perf_counter() - started)

        started = time.perf_counter()
        index = run_to_end(index_job(classifier, LAYER, folder, top_k=9, batch_size=16))
        ours = count / (time.perf_counter() - started)
        assert not index.from_cache

        started = time.perf_counter()
        again = run_to_end(index_job(classifier, LAYER, folder, top_k=9, batch_size=16))
        second = time.perf_counter() - started
        assert again.from_cache
    return [
        BenchResult(f"top-patch index, {count} images, Lite0 {LAYER}", ours, "images/s", bare,
                    "bare read + preprocess + forward loop", ">= 0.9x", ours >= 0.9 * bare, True,
                    "one pass keeps every channel's top 9; stops at the layer"),
        BenchResult(f"top-patch index, second look ({count} images, cached)", second, "s", None, "", "< 1 s",
                    second < 1.0, False, "fingerprint of the folder + reading the cached index"),
    ]
