"""Offline demo folders (tests, screenshots, first-run demo) from photos that ship in installed packages."""
from __future__ import annotations

from pathlib import Path

import numpy as np


def photo_variants(image: np.ndarray, count: int, seed: int = 0) -> list[np.ndarray]:
    """`count` different views of one photo: random crops (60-100% of the side), some mirrored."""
    rng = np.random.default_rng(seed)
    height, width = image.shape[:2]
    views = [image]
    while len(views) < count:
        scale = rng.uniform(0.6, 1.0)
        h, w = max(8, int(height * scale)), max(8, int(width * scale))
        top, left = rng.integers(0, height - h + 1), rng.integers(0, width - w + 1)
        view = image[top:top + h, left:left + w]
        if rng.random() < 0.5:
            view = view[:, ::-1]
        views.append(np.ascontiguousarray(view))
    return views[:count]


def make_demo_folder(root: str | Path, classes: dict[str, list[np.ndarray]], per_class: int = 6,
                     broken_files: bool = True, seed: int = 0) -> Path:
    """Write root/<class>/<n>.png with `per_class` views of each class's photos; with
    broken_files, also a zero-byte .png, a text file named .png, a truncated .png and a
    notes.txt, so the skip counts can be seen. Returns root."""
    from ..images import save_png

    root = Path(root)
    rng = np.random.default_rng(seed)
    for name, photos in classes.items():
        folder = root / name
        folder.mkdir(parents=True, exist_ok=True)
        for index in range(per_class):
            photo = photos[index % len(photos)]
            view = photo_variants(photo, 1 + index // len(photos), int(rng.integers(1 << 30)))[-1]
            save_png(folder / f"{name}_{index:02d}.png", view)
    if broken_files and classes:
        first = root / next(iter(classes))
        (first / "zero_bytes.png").write_bytes(b"")
        (first / "actually_text.png").write_text("this file is text, not a picture")
        whole = (first / f"{next(iter(classes))}_00.png").read_bytes()
        (first / "truncated.png").write_bytes(whole[: len(whole) // 3])
        (first / "notes.txt").write_text("a stray text file")
    return root


def cat_vs_vehicle_photos() -> dict[str, list[np.ndarray]]:
    """Real photos that ship in resources/photos for a cat vs vehicle demo (no dog photo ships
    offline): Chelsea the cat, and a Falcon 9 launch (a space vehicle; both public domain or CC0)."""
    from ..images import load_bundled_photo

    return {"cat": [load_bundled_photo("chelsea")], "vehicle": [load_bundled_photo("rocket")]}
