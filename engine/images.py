"""Robust image loading for every tool: any size, grayscale, RGBA, 16-bit,
palette, CMYK and EXIF-rotated files become (H, W, 3) uint8 RGB; anything
unreadable raises DataError with a plain reason."""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from .errors import DataError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm"}
MAX_PIXELS = 120_000_000  # larger files are refused instead of exhausting memory


def _to_rgb_array(image) -> np.ndarray:
    from PIL import Image, ImageOps

    image = ImageOps.exif_transpose(image)  # honour the camera's rotation flag
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        arr = np.asarray(image, dtype=np.float64)
        top = 65535.0 if arr.max() > 255 else 255.0
        arr = np.clip(arr / top * 255.0, 0, 255).astype(np.uint8)
        return np.ascontiguousarray(np.repeat(arr[:, :, None], 3, axis=2))
    if image.mode == "F":
        arr = np.asarray(image, dtype=np.float64)
        span = max(arr.max() - arr.min(), 1e-12)
        arr = ((arr - arr.min()) / span * 255).astype(np.uint8)
        return np.ascontiguousarray(np.repeat(arr[:, :, None], 3, axis=2))
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba)  # transparent areas become white
    return np.ascontiguousarray(np.asarray(image.convert("RGB"), dtype=np.uint8))


def load_image(path: str | Path, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """(H, W, 3) uint8 RGB from a file; DataError with the reason otherwise."""
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    if not path.exists():
        raise DataError(f"No such file: {path}")
    if path.is_dir():
        raise DataError(f"{path} is a folder, not an image.")
    if path.stat().st_size == 0:
        raise DataError(f"{path.name} is empty (0 bytes).")
    previous_limit = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = max_pixels
    try:
        with Image.open(path) as image:
            width, height = image.size
            if width * height > max_pixels:
                raise DataError(f"{path.name} is {width}x{height} pixels, too large to open safely.")
            image.load()
            return _to_rgb_array(image)
    except DataError:
        raise
    except UnidentifiedImageError as exc:
        raise DataError(f"{path.name} is not an image file (or its format is unknown).") from exc
    except Image.DecompressionBombError as exc:
        raise DataError(f"{path.name} is too large to open safely.") from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise DataError(f"{path.name} is damaged or truncated and cannot be read ({exc}).") from exc
    finally:
        Image.MAX_IMAGE_PIXELS = previous_limit


def image_from_bytes(data: bytes, name: str = "image") -> np.ndarray:
    """Same as load_image for in-memory data (clipboard, drag-and-drop)."""
    from PIL import Image, UnidentifiedImageError

    if not data:
        raise DataError(f"{name} is empty.")
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            return _to_rgb_array(image)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise DataError(f"{name} is not a readable image.") from exc


def save_png(path: str | Path, image: np.ndarray) -> None:
    """Write an (H, W, 3|1) uint8 image as PNG, atomically."""
    from PIL import Image

    from .fileio import atomic_write

    array = np.asarray(image)
    if array.dtype != np.uint8:
        raise ValueError("save_png expects uint8 pixels")
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    atomic_write(path, lambda tmp: Image.fromarray(array).save(tmp, format="PNG"))


def bundled_photos() -> dict[str, callable]:
    """Photos that ship inside installed packages, by name -> loader of (H, W, 3) uint8."""
    photos: dict[str, callable] = {}

    def skimage_photo(name):
        def load():
            from skimage import data

            return np.ascontiguousarray(np.asarray(getattr(data, name)())[:, :, :3].astype(np.uint8))
        return load

    for name in ("coffee", "chelsea", "astronaut", "rocket", "cat", "hubble_deep_field"):
        photos[name] = skimage_photo(name)

    def sklearn_photo(index):
        def load():
            from sklearn.datasets import load_sample_images

            return np.ascontiguousarray(load_sample_images().images[index])
        return load

    photos["china"] = sklearn_photo(0)
    photos["flower"] = sklearn_photo(1)

    def grace_hopper():
        import matplotlib.cbook

        with matplotlib.cbook.get_sample_data("grace_hopper.jpg") as handle:
            return image_from_bytes(handle.read(), "grace_hopper.jpg")

    photos["grace_hopper"] = grace_hopper
    return photos


def load_bundled_photo(name: str) -> np.ndarray:
    photos = bundled_photos()
    if name not in photos:
        raise DataError(f"No bundled photo '{name}'. Available: {', '.join(photos)}.")
    try:
        return photos[name]()
    except Exception as exc:  # a package that lacks its sample data
        raise DataError(f"The bundled photo '{name}' is not available on this installation ({exc}).") from exc
