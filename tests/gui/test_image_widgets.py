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
