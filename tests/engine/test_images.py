import numpy as np
import pytest
from PIL import Image

from engine.errors import DataError
from engine.images import bundled_photos, load_bundled_photo, load_image
from engine.imaging import tile_images, to_display_uint8


def test_odd_image_modes_become_rgb_uint8(tmp_path):
    Image.fromarray(np.full((5, 7), 40000, dtype=np.uint16)).save(tmp_path / "deep.png")
    Image.new("CMYK", (6, 4), (0, 255, 255, 0)).save(tmp_path / "cmyk.jpg")
    Image.new("P", (3, 3), 1).save(tmp_path / "palette.png")
    Image.new("RGBA", (2, 2), (255, 0, 0, 0)).save(tmp_path / "clear.png")
    Image.new("L", (1, 1), 9).save(tmp_path / "tiny.png")
    for name, shape in [("deep.png", (5, 7, 3)), ("cmyk.jpg", (4, 6, 3)), ("palette.png", (3, 3, 3)),
                        ("clear.png", (2, 2, 3)), ("tiny.png", (1, 1, 3))]:
        image = load_image(tmp_path / name)
        assert image.shape == shape and image.dtype == np.uint8, name
    assert abs(int(load_image(tmp_path / "deep.png")[0, 0, 0]) - round(40000 / 65535 * 255)) <= 1
    assert tuple(load_image(tmp_path / "clear.png")[0, 0]) == (255, 255, 255)  # transparent -> white


def test_exif_rotation_is_applied(tmp_path):
    image = Image.new("RGB", (8, 4), (10, 20, 30))
    exif = image.getexif()
    exif[0x0112] = 6  # rotate 90 degrees
    image.save(tmp_path / "rotated.jpg", exif=exif)
    assert load_image(tmp_path / "rotated.jpg").shape == (8, 4, 3)


def test_broken_files_give_clear_messages(tmp_path):
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "text.png").write_text("this is not a picture")
    Image.new("RGB", (64, 64)).save(tmp_path / "ok.png")
    data = (tmp_path / "ok.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match="empty"):
        load_image(tmp_path / "empty.png")
    with pytest.raises(DataError, match="not an image"):
        load_image(tmp_path / "text.png")
    with pytest.raises(DataError, match="damaged or truncated"):
        load_image(tmp_path / "cut.png")
    with pytest.raises(DataError, match="No such file"):
        load_image(tmp_path / "missing.png")


def test_huge_image_is_refused_not_loaded(tmp_path):
    Image.new("L", (10000, 10000)).save(tmp_path / "huge.png")
    with pytest.raises(DataError, match="too large"):
        load_image(tmp_path / "huge.png", max_pixels=50_000_000)
    with pytest.raises(DataError, match="needs about 1.2 GB"):  # the full decode is over the memory budget
        load_image(tmp_path / "huge.png")
    assert load_image(tmp_path / "huge.png", max_side=100).shape == (100, 100, 3)  # reduced while loading


def test_bundled_photos_load_offline():
    assert {"coffee", "chelsea", "astronaut", "grace_hopper", "china"} <= set(bundled_photos())
    coffee = load_bundled_photo("coffee")
    assert coffee.ndim == 3 and coffee.shape[2] == 3 and coffee.dtype == np.uint8
    with pytest.raises(DataError):
        load_bundled_photo("mona_lisa")


def test_bundled_photos_are_all_different():
    import hashlib

    digests = {}
    for name in bundled_photos():
        try:
            image = load_bundled_photo(name)
        except DataError:
            continue  # a package without its sample data on this installation
        digest = hashlib.sha1(np.ascontiguousarray(image).tobytes()).hexdigest()
        assert digest not in digests, f"'{name}' is the same photo as '{digests.get(digest)}'"
        digests[digest] = name
    assert "cat" not in bundled_photos()
    assert np.array_equal(load_bundled_photo("cat"), load_bundled_photo("chelsea"))  # old name still loads


def test_tiling_and_display_scaling():
    mosaic, grid = tile_images(np.zeros((5, 3, 3), dtype=np.uint8), columns=2, pad=1)
    assert grid == (3, 2) and mosaic.shape == (13, 9, 1)
    scaled = to_display_uint8(np.array([-2.0, 0.0, 2.0]), symmetric=True)
    assert list(scaled) == [0, 128, 255]
