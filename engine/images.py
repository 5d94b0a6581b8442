"""Robust image loading for every tool: any size, grayscale, RGBA, 16-bit,
palette, CMYK and EXIF-rotated files become (H, W, 3) uint8 RGB; anything
unreadable raises DataError with a plain reason."""
from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np

from .errors import DataError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm"}
# The only decoders ever used (PIL would otherwise pick any plugin by content: an EPS
# named .png would be handed to Ghostscript). JPEG covers MPO, the variant many cameras write;
# PPM covers PGM.
ACCEPTED_FORMATS = ("PNG", "JPEG", "BMP", "GIF", "TIFF", "WEBP", "PPM")
MAX_PIXELS = 120_000_000  # larger files are refused instead of exhausting memory
# Memory a full decode may use (PIL's buffer plus the conversions to RGB uint8); larger
# images are decoded at reduced size where the format allows it (JPEG) or refused.
DECODE_BUDGET_BYTES = 800_000_000

# Bytes per pixel: PIL's buffer for the mode, and the whole decode to (H, W, 3) uint8.
# (measured peaks: 120 MP L 1.4 GB full / 0.15 GB reduced, RGBA 0.95 GB reduced, 16-bit 0.72 GB reduced)
_STORAGE_BYTES = {"1": 2, "L": 2, "P": 2, "I;16": 6, "I;16B": 6, "I;16L": 6, "I;16N": 6}
_WORKING_BYTES = {"1": 12, "L": 12, "P": 14, "I;16": 18, "I;16B": 18, "I;16L": 18, "I;16N": 18, "I": 20, "F": 20,
                  "LA": 24, "PA": 24, "RGBA": 24, "RGB": 12, "CMYK": 12, "YCbCr": 12}


def _to_rgb_array(image) -> np.ndarray:
    from PIL import Image, ImageOps

    image = ImageOps.exif_transpose(image)  # honour the camera's rotation flag
    if image.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        arr = np.asarray(image)
        top = 65535.0 if arr.max() > 255 else 255.0
        arr = np.clip(arr.astype(np.float32) * np.float32(255.0 / top), 0, 255).astype(np.uint8)
        return np.ascontiguousarray(np.repeat(arr[:, :, None], 3, axis=2))
    if image.mode == "F":
        arr = np.asarray(image, dtype=np.float32)
        low, high = float(np.nanmin(arr)) if arr.size else 0.0, float(np.nanmax(arr)) if arr.size else 0.0
        span = max(high - low, 1e-12) if np.isfinite(high - low) else 1.0
        arr = np.nan_to_num((arr - low) / span * 255, nan=0.0, posinf=255.0, neginf=0.0)
        arr = np.clip(arr, 0, 255).astype(np.uint8)
        return np.ascontiguousarray(np.repeat(arr[:, :, None], 3, axis=2))
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba)  # transparent areas become white
    return np.ascontiguousarray(np.asarray(image.convert("RGB"), dtype=np.uint8))


def _megapixels(width: int, height: int) -> str:
    return f"{width}x{height} pixels ({width * height / 1e6:.0f} megapixels)"


def _decode(image, name: str, max_pixels: int, max_side: int | None, budget: int) -> np.ndarray:
    """Checks on the header first (size, pixel budget), then decode: JPEG at reduced size
    when less is needed, other formats reduced right after decoding when `max_side` says
    the caller needs only that many pixels on the short side."""
    width, height = image.size
    if width < 1 or height < 1:
        raise DataError(f"{name} has no pixels ({width}x{height}).")
    if width * height > max_pixels:
        raise DataError(f"{name} is {_megapixels(width, height)}, too large to open safely "
                        f"(the limit is {max_pixels / 1e6:.0f} megapixels).")
    mode = image.mode
    if image.format in ("JPEG", "MPO"):
        wanted = None
        if max_side:  # the decoder scales by 1/2, 1/4 or 1/8 and keeps at least this size
            wanted = (max(1, min(width, max_side)), max(1, min(height, max_side)))
        else:
            working = width * height * _WORKING_BYTES.get(mode, 24)
            scale = next((f for f in (1, 2, 4, 8) if working / (f * f) <= budget), 8)
            if scale > 1:
                wanted = (max(1, width // scale), max(1, height // scale))
        if wanted is not None and (wanted[0] < width or wanted[1] < height):
            image.draft(mode if mode in ("RGB", "L", "CMYK", "YCbCr") else None, wanted)
        width, height = image.size
    if max_side:
        needed = width * height * _STORAGE_BYTES.get(mode, 8)
    else:
        needed = width * height * _WORKING_BYTES.get(mode, 24)
    if needed > budget:
        raise DataError(f"{name} is {_megapixels(width, height)} ({mode}); decoding it needs about "
                        f"{needed / 1e9:.1f} GB, more than the {budget / 1e9:.1f} GB allowed. "
                        "Open a smaller copy of it.")
    image.load()
    if max_side and min(image.size) >= 2 * max_side:
        if image.mode in ("P", "1", "PA"):
            image = image.convert("RGBA" if image.mode == "PA" or "transparency" in image.info else "RGB")
        elif image.mode.startswith("I;16"):
            image = image.convert("I")
        factor = min(image.size) // max_side
        if factor >= 2:
            exif = image.getexif()
            image = image.reduce(factor)
            if exif:
                image.info["exif"] = exif.tobytes()  # keep the rotation flag for exif_transpose
    return _to_rgb_array(image)


def _open_errors(name: str, exc: BaseException) -> DataError:
    from PIL import Image, UnidentifiedImageError

    if isinstance(exc, UnidentifiedImageError):
        return DataError(f"{name} is not an image file (or its format is not one of "
                         f"{', '.join(ACCEPTED_FORMATS)}).")
    if isinstance(exc, Image.DecompressionBombError):
        return DataError(f"{name} is too large to open safely.")
    if isinstance(exc, PermissionError):
        return DataError(f"{name} cannot be read: permission denied.")
    if isinstance(exc, MemoryError):
        return DataError(f"{name} needs more memory to decode than is free; open a smaller copy.")
    return DataError(f"{name} is damaged or truncated and cannot be read ({exc}).")


def load_image(path: str | Path, max_pixels: int | None = None, max_side: int | None = None,
               budget: int | None = None) -> np.ndarray:
    """(H, W, 3) uint8 RGB from a file; DataError with the reason otherwise.

    Only ACCEPTED_FORMATS are decoded, the pixel count and decode memory are checked on
    the header before decoding. `max_side`: the caller needs only about this many pixels
    on the short side (a dataset at 32 px): large images are then reduced while decoding
    (JPEG) or right after (others), so the result may be smaller than the file."""
    from PIL import Image

    max_pixels = MAX_PIXELS if max_pixels is None else int(max_pixels)
    budget = DECODE_BUDGET_BYTES if budget is None else int(budget)
    path = Path(path)
    try:
        info = path.stat()
    except FileNotFoundError:
        raise DataError(f"No such file: {path}") from None
    except OSError as exc:
        raise DataError(f"{path.name} cannot be read: {exc.strerror or exc}.") from None
    if path.is_dir():
        raise DataError(f"{path} is a folder, not an image.")
    if not path.is_file():
        raise DataError(f"{path.name} is not an ordinary file (a device, pipe or socket).")
    if info.st_size == 0:
        raise DataError(f"{path.name} is empty (0 bytes).")
    previous_limit = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = max_pixels
    try:
        with warnings.catch_warnings():  # over the limit is refused below with a sentence, not a warning
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(path, formats=list(ACCEPTED_FORMATS))
        with image:
            return _decode(image, path.name, max_pixels, max_side, budget)
    except DataError:
        raise
    except (OSError, SyntaxError, ValueError, MemoryError, Image.DecompressionBombError) as exc:
        raise _open_errors(path.name, exc) from exc
    finally:
        Image.MAX_IMAGE_PIXELS = previous_limit


def image_from_bytes(data: bytes, name: str = "image", max_pixels: int | None = None, max_side: int | None = None,
                     budget: int | None = None) -> np.ndarray:
    """Same as load_image for in-memory data (clipboard, drag-and-drop): the same
    formats, pixel limit and memory budget."""
    from PIL import Image

    max_pixels = MAX_PIXELS if max_pixels is None else int(max_pixels)
    budget = DECODE_BUDGET_BYTES if budget is None else int(budget)
    if not data:
        raise DataError(f"{name} is empty.")
    previous_limit = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = max_pixels
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=list(ACCEPTED_FORMATS))
        with image:
            return _decode(image, name, max_pixels, max_side, budget)
    except DataError:
        raise
    except (OSError, SyntaxError, ValueError, MemoryError, Image.DecompressionBombError) as exc:
        raise _open_errors(name, exc) from exc
    finally:
        Image.MAX_IMAGE_PIXELS = previous_limit


def resize_center_crop(image: np.ndarray, size: int) -> np.ndarray:
    """(H, W, C) uint8 -> (size, size, C) uint8: the centred square, scaled to `size`
    (the shorter side scaled, the rest cut off, so nothing is squashed)."""
    from PIL import Image

    array = np.asarray(image)
    height, width = array.shape[:2]
    side = min(height, width)
    top, left = (height - side) // 2, (width - side) // 2
    square = np.ascontiguousarray(array[top:top + side, left:left + side])
    grey = square.ndim == 3 and square.shape[2] == 1
    picture = Image.fromarray(square[:, :, 0] if grey else square)
    resized = np.asarray(picture.resize((size, size), Image.BILINEAR), dtype=np.uint8)
    return resized[:, :, None] if grey else resized


def quantize(x01):
    """A [0, 1] tensor rounded to the 256 levels an 8-bit PNG stores."""
    return (x01.clamp(0, 1) * 255.0).round() / 255.0


def save_png(path: str | Path, image: np.ndarray) -> None:
    """Write an (H, W, 3|1) uint8 image as PNG, atomically."""
    from PIL import Image

    from .fileio import atomic_write

    array = np.asarray(image)
    if array.dtype != np.uint8:
        raise ValueError("save_png expects uint8 pixels")
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    try:
        atomic_write(path, lambda tmp: Image.fromarray(array).save(tmp, format="PNG"))
    except OSError as exc:  # full disk, read-only folder: one sentence, the old file is kept
        from .fileio import OutputPathError

        reason = "the disk is full" if getattr(exc, "errno", None) == 28 else (exc.strerror or str(exc))
        raise OutputPathError(f"Could not write {Path(path).name}: {reason}. Nothing was replaced.") from exc


PHOTOS_FOLDER = Path(__file__).resolve().parent.parent / "resources" / "photos"


def bundled_photos() -> dict[str, callable]:
    """Photos that ship inside installed packages, by name -> loader of (H, W, 3) uint8."""
    photos: dict[str, callable] = {}

    def resource_photo(file_name):
        def load():
            from PIL import Image

            with Image.open(PHOTOS_FOLDER / file_name) as image:
                return np.ascontiguousarray(np.asarray(image.convert("RGB"), dtype=np.uint8))
        return load

    # Copied from scikit-image's sample data (CC0 / public domain: resources/photos/LICENSES.md).
    # Its "cat" is chelsea again: listed once (PHOTO_ALIASES keeps the old name loading).
    for file_name in ("coffee.png", "chelsea.png", "astronaut.png", "rocket.jpg", "hubble_deep_field.jpg",
                      "camera.png"):
        photos[file_name.rsplit(".", 1)[0]] = resource_photo(file_name)

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


PHOTO_ALIASES = {"cat": "chelsea"}  # names that were the same photo twice


def load_bundled_photo(name: str) -> np.ndarray:
    photos = bundled_photos()
    name = PHOTO_ALIASES.get(name, name)
    if name not in photos:
        raise DataError(f"No bundled photo '{name}'. Available: {', '.join(photos)}.")
    try:
        return photos[name]()
    except Exception as exc:  # a package that lacks its sample data
        raise DataError(f"The bundled photo '{name}' is not available on this installation ({exc}).") from exc
