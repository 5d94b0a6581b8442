"""DeCAF t-SNE: a pretrained network's penultimate features of a folder of photos, one point
per image, labelled by sub-folder, coloured by folder or by the network's guess; and the
`embed --images` command."""
from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine import embed
from engine.errors import DataError
from engine.events import run_to_end
from engine.images import load_bundled_photo

ROOT = Path(__file__).resolve().parents[2]


def make_folder(root: Path, per_class: int = 3) -> Path:
    """Photos in two classes (crops and flips of two bundled photos)."""
    for name, cls in (("coffee", "drinks"), ("chelsea", "cats")):
        image = load_bundled_photo(name)
        (root / cls).mkdir(parents=True)
        h, w = image.shape[:2]
        variants = [image, image[:, ::-1], image[h // 8:, w // 8:], image[:-h // 8, :-w // 8],
                    image[h // 8:, ::-1], image[h // 10:-h // 10, w // 10:-w // 10]][:per_class]
        for i, variant in enumerate(variants):
            Image.fromarray(np.ascontiguousarray(variant)).save(root / cls / f"{name}_{i}.png")
    return root


@pytest.fixture(autouse=True)
def _cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("CONVSCOPE_CACHE_DIR", str(tmp_path / "cache"))


def test_decaf_features_of_a_folder(tmp_path):
    folder = make_folder(tmp_path / "photos", per_class=6)
    result = run_to_end(embed.folder_feature_space_job(folder, "efficientnet_lite0", "tsne",
                                                       embed.TSNEParams(perplexity=3, iterations=60)))
    features = result.features
    assert result.embedding.method == "tsne"
    assert len(features) == 12 and result.embedding.xy.shape == (12, 2)
    assert np.isfinite(result.embedding.xy).all()
    assert features.features.shape == (12, 1280)  # Lite0's pooled penultimate features
    assert sorted(features.class_names) == ["cats", "drinks"]
    assert np.bincount(features.labels).tolist() == [6, 6]
    for caption, label in zip(features.captions, features.labels):  # each point keeps its own folder label
        assert ("coffee" in caption) == (features.class_names[label] == "drinks")
    # Coloured by the network's guess: the coffee photos are espresso / cup, the cat is a cat.
    guesses = {c.split("guess: ")[1] for c in features.captions}
    assert guesses & {"espresso", "cup", "coffee mug"} and any("cat" in g for g in guesses)
    groups = embed.colour_groups(features.labels, features.predictions, features.class_names, "predicted",
                                 features.prediction_names)
    assert sum(len(idx) for _name, _c, idx in groups) == 12
    assert {name for name, _c, _idx in groups} == set(features.prediction_names)
    with pytest.raises(DataError, match="cannot be right or wrong"):
        embed.colour_groups(features.labels, features.predictions, features.class_names, "correct",
                            features.prediction_names)
    # Same folder, second look: features come from the cache, same points.
    again = run_to_end(embed.folder_feature_space_job(folder, "efficientnet_lite0", "pca"))
    np.testing.assert_allclose(again.features.features, features.features, rtol=1e-5)


def test_loose_photos_make_one_class(tmp_path):
    folder = tmp_path / "loose"
    folder.mkdir()
    for name in ("coffee", "chelsea", "astronaut"):
        Image.fromarray(load_bundled_photo(name)).save(folder / f"{name}.png")
    result = run_to_end(embed.folder_feature_space_job(folder, None, "tsne"))  # 3 images: PCA instead
    assert len(result.features) == 3 and result.features.class_names == ["loose"]
    assert result.embedding.method == "pca" and result.embedding.xy.shape == (3, 2)


def test_embed_cli_images(tmp_path):
    folder = make_folder(tmp_path / "photos")
    out = tmp_path / "out" / "decaf.csv"
    env = {"CONVSCOPE_CACHE_DIR": str(tmp_path / "cache"), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    done = subprocess.run([sys.executable, str(ROOT / "main.py"), "embed", "--model", "efficientnet_lite0",
                           "--images", str(folder), "--method", "pca", "--out", str(out), "--quiet"],
                          capture_output=True, text=True, timeout=300, env=env, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["n"] == 6 and summary["dim"] == 1280
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == 6 and {r["label_name"] for r in rows} == {"cats", "drinks"}
    assert all(r["predicted_name"] for r in rows) and all(r["correct"] == "" for r in rows)
    assert Path(summary["png"]).is_file()
    # Neither or both sources: one clear message, no traceback.
    bad = subprocess.run([sys.executable, str(ROOT / "main.py"), "embed", "--out", str(tmp_path / "x.csv")],
                         capture_output=True, text=True, timeout=120, env=env, cwd=ROOT)
    assert bad.returncode != 0 and "Traceback" not in bad.stderr and "--images" in bad.stderr


def test_without_a_folder_the_bundled_photos_serve():
    result = run_to_end(embed.folder_feature_space_job(None, "efficientnet_lite0", "pca"))
    features = result.features
    photos = len(features.class_names)
    assert photos >= 5 and len(features) == photos * embed.BUNDLED_VIEWS
    assert np.bincount(features.labels).tolist() == [embed.BUNDLED_VIEWS] * photos
    assert "coffee" in features.class_names and "espresso" in features.prediction_names
