"""Measures of the ImageNet lessons: saliency inside the object's box, fooling, class
visualization, dog vs food."""
from __future__ import annotations


import numpy as np

from ..events import Progress
from .catalog import MEASURES, _measure
from .records import LessonImage, LessonResult, RunRecord
from .runner import _make, _relay, _result, _threshold


def _load_photo(name: str) -> np.ndarray:
    """A bundled photo (engine.images.bundled_photos); 'skimage:NAME', the name these photos had
    when they came from scikit-image, still works. Grey images become RGB."""
    from ..images import load_bundled_photo

    image = np.asarray(load_bundled_photo(name.removeprefix("skimage:")))
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    return np.ascontiguousarray(image[:, :, :3].astype(np.uint8))


def box_in_crop(box: list, photo_shape: tuple, resize: int, crop: int) -> tuple[int, int, int, int]:
    """An (x0, y0, x1, y1) box in photo pixels -> the same box in the model's input crop
    (shorter side resized to `resize`, then a centred `crop` x `crop` square), clipped."""
    height, width = photo_shape[:2]
    scale = resize / min(height, width)
    if height <= width:  # torchvision's resize(int): the shorter side becomes `resize`
        new_h, new_w = resize, int(resize * width / height)
    else:
        new_h, new_w = int(resize * height / width), resize
    top, left = int(round((new_h - crop) / 2.0)), int(round((new_w - crop) / 2.0))
    x0, y0, x1, y1 = (float(v) for v in box)
    out = [x0 * scale - left, y0 * scale - top, x1 * scale - left, y1 * scale - top]
    x0, x1 = (int(round(min(max(v, 0), crop))) for v in (out[0], out[2]))
    y0, y1 = (int(round(min(max(v, 0), crop))) for v in (out[1], out[3]))
    return x0, y0, x1, y1


@_measure("saliency_box", "imagenet", {"mass_ratio": (">=", 1.5)},
          {"photo": "camera", "target": "", "box": [0, 0, 1, 1], "model": "efficientnet_lite0"})
def _measure_saliency_box(exp, options, context):
    """Share of the vanilla-gradient saliency (max over channels of |d score / d pixel|)
    inside the object's box, divided by the box's share of the image."""
    from ..attribution import colorize, compute_saliency, overlay
    from ..pretrained import load_classifier

    yield Progress(0, 2, "Loading the ImageNet classifier")
    classifier = load_classifier(options["model"])
    photo = _load_photo(options["photo"])
    x01 = classifier.preprocess(photo)
    yield Progress(1, 2, "Vanilla gradient")
    saliency = compute_saliency(classifier, x01, "vanilla", options["target"] or None)
    raw = np.abs(saliency.raw.astype(np.float64))
    resize = classifier.resize_size if isinstance(classifier.resize_size, int) else int(classifier.resize_size[0])
    x0, y0, x1, y1 = box_in_crop(options["box"], photo.shape, resize, classifier.input_size)
    inside = np.zeros(raw.shape, dtype=bool)
    inside[y0:y1, x0:x1] = True
    area = float(inside.mean())
    mass = float(raw[inside].sum() / raw.sum()) if raw.sum() > 0 else float("nan")
    ratio = mass / area if area > 0 else float("nan")
    crop = classifier.to_uint8(x01)
    prob = float(classifier.probabilities(crop)[0][saliency.target])
    record = RunRecord("saliency", f"vanilla gradient for '{saliency.target_name}'",
                       figures={"box_area_share": area, "mass_in_box": mass, "target": saliency.target,
                                "target_name": saliency.target_name, "target_prob": prob,
                                "box_in_crop": [x0, y0, x1, y1]})
    crit = [_make(exp, "mass_ratio", ratio, f"{100 * mass:.0f} % of the gradient mass in a box covering "
                                            f"{100 * area:.0f} % of the image ({ratio:.2f}x)")]
    summary = (f"'{saliency.target_name}' (p {prob:.2f}): {100 * mass:.0f} % of the saliency inside the object's "
               f"box, which covers {100 * area:.0f} % of the image ({ratio:.2f}x)")
    result = _result(exp, crit, summary, [record])
    boxed = overlay(crop, saliency.display, 0.6)
    boxed[y0:y1, [x0, max(x0, x1 - 1)]] = (0, 255, 0)
    boxed[[y0, max(y0, y1 - 1)], x0:x1] = (0, 255, 0)
    result.images["saliency"] = np.concatenate([crop, colorize(saliency.display), boxed], axis=1)
    yield LessonImage("saliency", summary, result.images["saliency"])
    return result


@_measure("fooling", "imagenet", {"target_prob": (">=", 0.9), "linf_255": ("<=", 2.0), "png_target_prob": (">=", 0.9)},
          {"photo": "coffee", "target": 368, "epsilon": 2.0, "steps": 100, "model": "efficientnet_lite0"})
def _measure_fooling(exp, options, context):
    """Fooling (Cornell): change the photo by at most `epsilon`/255 per pixel until the
    model sees the target class; the saved PNG is read back and must still fool it."""
    from ..adversarial import AttackStep, attack_job
    from ..images import image_from_bytes
    from ..pretrained import load_classifier

    yield Progress(0, 1, "Loading the ImageNet classifier")
    classifier = load_classifier(options["model"])
    photo = _load_photo(options["photo"])
    job = attack_job(classifier, photo, method="iterative", target=options["target"],
                     epsilon_255=float(options["epsilon"]), steps=int(options["steps"]))
    attack = yield from _relay(job, lambda e: Progress(e.step, int(options["steps"]),
                                                       f"step {e.step}: p(target) {e.target_prob:.3f}")
                               if isinstance(e, AttackStep) else None)
    png = _png_bytes(attack.adversarial)
    reloaded = image_from_bytes(png)
    png_prob = float(classifier.probabilities(reloaded)[0][attack.target_index])
    record = RunRecord("fooling", f"{attack.original_name} -> {attack.target_name}", figures=attack.summary())
    record.figures["png_target_prob"] = png_prob
    crit = [_make(exp, "target_prob", attack.target_prob, f"p({attack.target_name}) = {attack.target_prob:.3f}"),
            _make(exp, "linf_255", attack.linf_255, f"largest pixel change {attack.linf_255:.0f}/255"),
            _make(exp, "png_target_prob", png_prob, f"the saved PNG read back: p = {png_prob:.3f}")]
    summary = (f"{attack.original_name} (p {attack.original_prob:.2f}) -> {attack.target_name} "
               f"p {attack.target_prob:.3f} "
               f"in {attack.steps} steps, at most {attack.linf_255:.0f}/255 per pixel; saved PNG p {png_prob:.3f}")
    result = _result(exp, crit, summary, [record], effect=crit[0])
    result.images["fooling"] = np.concatenate([attack.original, attack.difference, attack.adversarial], axis=1)
    yield LessonImage("fooling", summary, result.images["fooling"])
    return result


def _png_bytes(image: np.ndarray) -> bytes:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()


@_measure("classviz", "imagenet", {"png_prob": (">=", 0.9)},
          {"target": 76, "style": "cs231n", "steps": 150, "seed": 0, "model": "efficientnet_lite0"})
def _measure_classviz(exp, options, context):
    """Class visualization from noise; the probability is measured on the 8-bit image
    that the PNG holds (ClassVizResult.final_prob), and again after a PNG round trip."""
    from ..classviz import ClassVizPreview, class_visualization_job
    from ..images import image_from_bytes
    from ..pretrained import load_classifier

    yield Progress(0, 1, "Loading the ImageNet classifier")
    classifier = load_classifier(options["model"])
    job = class_visualization_job(classifier, options["target"], style=options["style"], steps=int(options["steps"]),
                                  seed=int(options["seed"]))
    viz = yield from _relay(job, lambda e: Progress(e.step, e.steps, f"step {e.step}: p {e.target_prob:.3f}")
                            if isinstance(e, ClassVizPreview) else None)
    reloaded = image_from_bytes(_png_bytes(viz.image))
    png_prob = float(classifier.probabilities(reloaded)[0][viz.class_index])
    record = RunRecord("classviz", f"{viz.style} visualization of '{viz.class_name}'", figures=viz.summary())
    record.figures["png_prob"] = png_prob
    crit = [_make(exp, "png_prob", png_prob, f"p({viz.class_name}) on the saved PNG = {png_prob:.3f}")]
    summary = f"'{viz.class_name}' from noise in {viz.steps} steps ({viz.style}): p {png_prob:.3f} on the saved PNG"
    result = _result(exp, crit, summary, [record])
    result.images["classviz"] = viz.image
    yield LessonImage("classviz", summary, viz.image)
    return result


ONE_PHOTO_OVERLAP = 0.6  # crops / mirror images of one photo overlap 0.83-0.89, different photos ~0.15-0.25


def colour_overlap(images: np.ndarray, bins: int = 8) -> float:
    """Mean pairwise histogram intersection of the images' RGB colour histograms (bins^3
    cells): near 1 for crops and mirror images of one photo, low for different photos."""
    if len(images) < 2:
        return 0.0
    hists = []
    for image in images:
        q = (np.asarray(image)[..., :3].astype(np.int64) * bins // 256).reshape(-1, 3)
        counts = np.bincount(q[:, 0] * bins * bins + q[:, 1] * bins + q[:, 2], minlength=bins ** 3).astype(float)
        hists.append(counts / counts.sum())
    pairs = [np.minimum(hists[i], hists[j]).sum() for i in range(len(hists)) for j in range(i + 1, len(hists))]
    return float(np.mean(pairs))


@_measure("dog_vs_food", "imagenet", {"accuracy": (">=", 0.8), "images_per_group": (">=", 5)},
          {"groups": "dog_vs_food", "model": "efficientnet_lite0"})
def _measure_dog_vs_food(exp, options, context):
    """The course project, zero-shot: sum the 1000 ImageNet probabilities into dog and
    food and score a folder of the user's own photos (dog/ and food/, or test-dog/ and
    test-food/). No package ships dog photos, so without a folder there is no accuracy
    to report, and the result says so instead of inventing one."""
    from ..transfer import load_groups, zero_shot_job

    folder = context.get("folder")
    info = MEASURES[exp.measure]
    if not folder:
        reason = ("No photo folder given. Make a folder with two sub-folders, dog/ and food/ (or test-dog/ and "
                  "test-food/), with at least 5 of your own photos each, and run the lesson on it "
                  "(python main.py lesson dog_vs_food --folder PATH). Crops of one photo are not a test set.")
        return LessonResult(exp.lesson_id, exp.title, exp.measure, float("nan"), "accuracy",
                            info.criteria["accuracy"][1], ">=", False, "no photo folder: nothing measured", reason)
    report = yield from zero_shot_job(folder, load_groups(options["groups"]), model_name=options["model"])
    summary_json = report.summary()
    for index, name in enumerate(report.group_names):
        overlap = colour_overlap(report.thumbnails[report.labels == index])
        if overlap > ONE_PHOTO_OVERLAP:
            reason = (f"The {name} photos look like views of one photo (crops or mirror images: their colour "
                      f"histograms overlap {100 * overlap:.0f} %, different photos overlap ~15-25 %). That is not "
                      f"a test set, so no accuracy is reported. Use photos of different {name}s.")
            record = RunRecord("zero_shot", "ImageNet probabilities summed into dog and food",
                               figures={**summary_json, f"{name}_colour_overlap": overlap})
            return LessonResult(exp.lesson_id, exp.title, exp.measure, float("nan"), "accuracy",
                                _threshold(exp, "accuracy")[1], ">=", False,
                                f"{name} photos are views of one photo: no accuracy", reason, [], [record])
    smallest = min(report.evaluation.per_group_count) if report.evaluation.per_group_count else 0
    record = RunRecord("zero_shot", "ImageNet probabilities summed into dog and food", figures=summary_json)
    crit = [_make(exp, "accuracy", report.evaluation.accuracy,
                  f"accuracy {100 * report.evaluation.accuracy:.1f} % on {report.evaluation.n} photos"),
            _make(exp, "images_per_group", smallest, f"smallest group: {smallest} photos")]
    per_group = ", ".join(f"{name} {100 * acc:.0f} %" for name, acc in
                          zip(report.group_names, report.evaluation.per_group_accuracy))
    summary = (f"dog vs food without training: {100 * report.evaluation.accuracy:.1f} % of "
               f"{report.evaluation.n} photos ({per_group})")
    return _result(exp, crit, summary, [record])
