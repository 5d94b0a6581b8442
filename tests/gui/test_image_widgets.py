import numpy as np

from gui.widgets.image_view import ImageGrid, ImageView


def test_image_grid_maps_clicks_to_tiles(qtbot):
    grid = ImageGrid("filters")
    qtbot.addWidget(grid)
    tiles = np.zeros((6, 5, 5), dtype=np.uint8)
    grid.set_tiles(tiles, columns=3, pad=1)
    assert grid.count == 6
    # tile 4 is row 1, column 1: x in [7, 12), y in [7, 12)
    assert grid.tile_at(8, 8) == 4
    assert grid.tile_at(0, 0) is None  # padding
    assert grid.tile_at(20, 14) is None  # outside the grid


def test_image_view_shows_colour_and_grey(qtbot):
    view = ImageView("input")
    qtbot.addWidget(view)
    view.set_image(np.full((10, 20, 3), 200, dtype=np.uint8))
    assert view.image().shape == (10, 20, 3)
    view.set_image(np.zeros((4, 4), dtype=np.uint8))
    assert view.item.image.shape == (4, 4)


def test_image_grid_gaps_follow_the_theme_unless_given(qtbot, monkeypatch):
    from gui import theme

    grid = ImageGrid("filters")
    qtbot.addWidget(grid)
    tiles = np.full((4, 3, 3), 128, dtype=np.uint8)
    monkeypatch.setitem(theme.current, "theme", "dark")
    grid.set_tiles(tiles, columns=2, pad=1)
    dark_gap = int(grid.item.image[0, 0])
    assert dark_gap < 80  # no white grid glaring in the dark theme
    monkeypatch.setitem(theme.current, "theme", "light")
    grid.set_tiles(tiles, columns=2, pad=1)
    assert int(grid.item.image[0, 0]) > 180
    grid.set_tiles(tiles, columns=2, pad=1, pad_value=7)
    assert int(grid.item.image[0, 0]) == 7
    assert int(grid.item.image[1, 1]) == 128  # tiles themselves untouched


def test_a_pasted_image_gets_the_size_limit_that_files_get(qtbot, monkeypatch):
    from PySide6.QtGui import QImage
    from PySide6.QtWidgets import QApplication

    import gui.widgets.image_source as image_source

    bar = image_source.ImageSourceBar()
    qtbot.addWidget(bar)
    failures, images = [], []
    bar.failed.connect(lambda title, message: failures.append(message))
    bar.image_chosen.connect(lambda image, caption: images.append(image))
    big = QImage(3000, 1000, QImage.Format_RGB32)
    big.fill(0xFF336699)
    QApplication.clipboard().setImage(big)
    monkeypatch.setattr(image_source, "PASTE_MAX_PIXELS", 2_000_000)
    bar.paste()
    assert images == [] and "3000x1000" in failures[0]
    monkeypatch.setattr(image_source, "PASTE_MAX_PIXELS", 40_000_000)
    bar.paste()  # within the limit: reduced to the display size on the way in
    assert images and max(images[0].shape[:2]) == image_source.DISPLAY_MAX_SIDE
