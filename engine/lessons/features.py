"""Measures that look inside one network: the initialization lab, t-SNE of features, top images
of every unit."""
from __future__ import annotations

import time

import numpy as np

from ..events import Progress
from .catalog import Experiment, LessonError, RunPlan, _measure
from .records import RunRecord
from .runner import _load_spec, _make, _result


@_measure("init_lab", "init_lab",
          {"small_last_std_ratio": ("<=", 0.01), "large_saturated_share": (">=", 0.5),
           "xavier_last_std_ratio": (">=", 0.2), "xavier_saturated_share": ("<=", 0.05),
           "small_bn_saturated_share": ("<=", 0.05), "small_bn_last_std": (">=", 0.3)},
          {"layers": 10, "width": 500, "samples": 1000}, primary="small_last_std_ratio")
def _measure_init_lab(exp, options, context):
    """The lecture's demo: 10 x 500 tanh layers on unit-gaussian data. Small weights
    vanish, large ones saturate, Xavier keeps the spread, batch norm (measured with the
    batch's own statistics, as training sees it) rescues small weights."""
    from ..init_lab import InitLabConfig, init_lab_job, saturated_share

    configs = {"small": InitLabConfig(init="small"), "large": InitLabConfig(init="large"),
               "xavier": InitLabConfig(init="xavier"), "small_bn": InitLabConfig(init="small", batch_norm=True)}
    runs, results = [], {}
    for index, (name, base) in enumerate(configs.items()):
        config = InitLabConfig(base.nonlinearity, base.init, base.batch_norm, int(options["layers"]),
                               int(options["width"]), int(options["samples"]))
        yield Progress(index, len(configs), f"Init lab: {name}")
        start = time.perf_counter()
        result = yield from init_lab_job(config)
        stats = result.stats
        labels = {"small": "small N(0, 0.01)", "large": "large N(0, 1)", "xavier": "Xavier 1/sqrt(fan_in)",
                  "small_bn": "small N(0, 0.01) + batch norm"}
        record = RunRecord(name, labels[name], figures={
            "act_std": [float(v) for v in stats.act_std],
            "saturated_share": [float(v) for v in saturated_share(result)],
            "last_std_ratio": float(stats.act_std[-1] / max(stats.act_std[0], 1e-12)),
        }, seconds=time.perf_counter() - start)
        runs.append(record)
        results[name] = record.figures
    crit = [
        _make(exp, "small_last_std_ratio", results["small"]["last_std_ratio"],
              f"small N(0, 0.01): std layer 10 / layer 1 = {results['small']['last_std_ratio']:.2g}"),
        _make(exp, "large_saturated_share", results["large"]["saturated_share"][-1],
              f"large N(0, 1): {100 * results['large']['saturated_share'][-1]:.0f} % of layer-10 units at |a| > 0.99"),
        _make(exp, "xavier_last_std_ratio", results["xavier"]["last_std_ratio"],
              f"Xavier: std layer 10 / layer 1 = {results['xavier']['last_std_ratio']:.2f}"),
        _make(exp, "xavier_saturated_share", results["xavier"]["saturated_share"][-1],
              f"Xavier: {100 * results['xavier']['saturated_share'][-1]:.1f} % saturated"),
        _make(exp, "small_bn_saturated_share", max(results["small_bn"]["saturated_share"]),
              f"small + batch norm: at most {100 * max(results['small_bn']['saturated_share']):.1f} % saturated"),
        _make(exp, "small_bn_last_std", results["small_bn"]["act_std"][-1],
              f"small + batch norm: std of layer 10 = {results['small_bn']['act_std'][-1]:.2f}"),
    ]
    summary = (f"std at layer 10: small {results['small']['act_std'][-1]:.1e} (vanishes), large "
               f"{100 * results['large']['saturated_share'][-1]:.0f} % saturated, Xavier "
               f"{results['xavier']['act_std'][-1]:.2f}, small + batch norm {results['small_bn']['act_std'][-1]:.2f} "
               f"(healthy)")
    yield Progress(len(configs), len(configs), "Init lab done")
    return _result(exp, crit, summary, runs)




def _train_for_features(exp: Experiment, options: dict, quick: bool = False):
    """Train the experiment's single run (its network on its data); returns (TrainResult, data)."""
    from ..data import load_dataset
    from ..train import train_job

    data = load_dataset(exp.dataset)
    plan = exp.runs[0] if exp.runs else RunPlan("model", "trained model", {})
    settings = exp.run_settings(plan)
    result = yield from train_job(_load_spec(exp), data, settings)
    return result, data


@_measure("tsne_knn", "features", {"knn_gain_points": (">=", 5.0)},
          {"layer": "", "points": 600, "perplexity": 30, "iterations": 500})
def _measure_tsne_knn(exp, options, context):
    """5-NN accuracy in the t-SNE map of learned features vs the t-SNE map of raw pixels
    (the same images, the same t-SNE settings)."""
    from ..embed import TSNEParams, feature_space_job

    yield Progress(0, 3, "Training the network")
    trained, data = yield from _train_for_features(exp, options)
    model = trained.run.model
    yield Progress(1, 3, "t-SNE of the features and of the raw pixels")
    params = TSNEParams(perplexity=float(options["perplexity"]), iterations=int(options["iterations"]))
    space = yield from feature_space_job(model, data, options["layer"] or None, "val", int(options["points"]),
                                         "tsne", params, compare_pixels=True)
    feats, pixels = space.embedding.knn_accuracy, space.pixel_embedding.knn_accuracy
    gain = 100.0 * (feats - pixels)
    record = RunRecord("features", f"t-SNE of layer {space.features.layer}",
                       figures={"knn_features": feats, "knn_pixels": pixels, "val_acc": trained.summary["val_acc"],
                                "points": len(space.features)})
    crit = [_make(exp, "knn_gain_points", gain,
                  f"5-NN in the t-SNE map: features {100 * feats:.1f} % vs raw pixels {100 * pixels:.1f} %")]
    summary = f"5-NN accuracy in t-SNE: raw pixels {100 * pixels:.1f} % -> learned features {100 * feats:.1f} %"
    result = _result(exp, crit, summary, [record])
    result.images["tsne"] = _scatter_image(space.embedding.xy, space.features.labels,
                                           f"features ({space.features.layer})")
    result.images["tsne_pixels"] = _scatter_image(space.pixel_embedding.xy, space.features.labels, "raw pixels")
    yield Progress(3, 3, "done")
    return result


def _scatter_image(xy: np.ndarray, labels: np.ndarray, title: str) -> np.ndarray:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 5), dpi=80)
    ax.scatter(xy[:, 0], xy[:, 1], c=labels, cmap="tab10", s=6)
    ax.set_title(f"t-SNE of {title}")
    ax.set_xticks([])
    ax.set_yticks([])
    fig.canvas.draw()
    image = np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()
    plt.close(fig)
    return image


@_measure("top_patches", "features", {"deep_purity_gain": (">=", 1.5)},
          {"shallow": "conv1", "deep": "relu4", "k": 9, "patch_layers": ["conv1", "conv2"]})
def _measure_top_patches(exp, options, context):
    """What intermediate layers mean: the k validation images that excite a unit most
    (its strongest position, as for top patches) share one class more and more often
    with depth. Purity = share of a unit's top-k images in its most common class,
    averaged over the units that fire at all; compared between a first-layer unit (an
    edge or blob detector, found in every class) and a deep one."""
    import torch

    from ..imaging import tile_images
    from ..introspect import top_patches_job
    from ..layers import named_layers

    yield Progress(0, 3, "Training the network")
    trained, data = yield from _train_for_features(exp, options)
    model = trained.run.model.eval()
    k = int(options["k"])
    yield Progress(1, 3, "Top images of every unit of every layer")
    from ..layers import own_thread_forward_hook  # here: the window imports this module before torch

    outputs: dict = {}
    handles = [own_thread_forward_hook(module, lambda _m, _i, out, name=name: outputs.__setitem__(name, out.detach()))
               for name, module in named_layers(model)]
    try:
        with torch.no_grad():
            model(data.val_x)
    finally:
        for handle in handles:
            handle.remove()
    labels = data.val_y.numpy()
    purity = {}
    for name, out in outputs.items():
        strength = out.flatten(2).amax(2) if out.dim() == 4 else out  # (N, units)
        if out.dim() != 4 and name == list(outputs)[-1]:
            continue  # the class scores themselves are not an intermediate layer
        alive = (strength.max(0).values > strength.min(0).values).numpy()
        top = strength.topk(min(k, len(strength)), dim=0).indices.T.numpy()  # (units, k)
        per_unit = np.array([np.bincount(labels[row], minlength=data.num_classes).max() / len(row) for row in top])
        purity[name] = float(per_unit[alive].mean()) if alive.any() else float("nan")
    for key in ("shallow", "deep"):
        if options[key] not in purity:
            raise LessonError(f"Lesson '{exp.lesson_id}': the network has no layer '{options[key]}'. "
                              f"Layers: {', '.join(purity)}.")
    chance = 1.0 / data.num_classes
    shallow, deep = purity[options["shallow"]], purity[options["deep"]]
    ratio = deep / shallow if shallow > 0 else float("inf")
    record = RunRecord("model", "trained network", figures={"purity": purity, "chance": chance,
                                                            "val_acc": trained.summary["val_acc"]})
    crit = [_make(exp, "deep_purity_gain", ratio,
                  f"top-{k} images of a unit in one class: {options['deep']} {100 * deep:.0f} % vs "
                  f"{options['shallow']} {100 * shallow:.0f} % (chance {100 * chance:.0f} %)")]
    summary = (f"top-{k} images of a unit in one class: " +
               " -> ".join(f"{name} {100 * value:.0f} %" for name, value in purity.items()
                           if name.startswith(("conv", "fc"))) + f" (chance {100 * chance:.0f} %)")
    result = _result(exp, crit, summary, [record])
    for step, layer in enumerate(options["patch_layers"], start=2):
        yield Progress(step, 3, f"Top patches of {layer}")
        top = yield from top_patches_job(model, data.val_x, layer, k=k, split="val")
        mosaic, columns = top.all_channels_mosaic(upscale=max(1, 48 // max(1, top.receptive_field)))
        grid, _ = tile_images(mosaic, columns, pad=4, pad_value=255)
        result.images[f"top_patches_{layer}"] = grid if grid.shape[-1] == 3 else np.repeat(grid[..., :1], 3, axis=-1)
    yield Progress(3, 3, "done")
    return result
