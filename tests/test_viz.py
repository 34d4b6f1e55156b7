"""Pictures: window outlines where the attention parameters put them, GIFs that animate, and
TensorBoard summaries that carry the encoded bytes."""
import io

import numpy as np
from PIL import Image

from draw_gluon import viz
from draw_gluon.runlog import image_summary


def window(gX, gY, sigma2, delta, gamma=1.0):
    return np.array([gX, gY, sigma2, delta, gamma], dtype=np.float32)


def test_window_outline_sits_on_the_edges_of_the_filter_grid():
    # N = 4 filters with stride 2 centred at 1-based (gX, gY) = (10, 6): the grid's edges are the
    # 1-based pixels x = 10 -+ 4 and y = 6 -+ 4, i.e. 0-based columns 5 and 13, rows 1 and 9.
    mask = viz.window_mask(window(10.0, 6.0, 0.01, 2.0), N=4, height=20, width=28, scale=1)
    expected = np.zeros((20, 28), dtype=bool)
    expected[[1, 9], 5:14] = True
    expected[1:10, [5, 13]] = True
    np.testing.assert_array_equal(mask, expected)


def test_window_outline_scales_with_the_picture():
    small = viz.window_mask(window(10.0, 6.0, 0.01, 2.0), N=4, height=20, width=28, scale=1)
    big = viz.window_mask(window(10.0, 6.0, 0.01, 2.0), N=4, height=20, width=28, scale=4)
    rows, cols = np.nonzero(big)
    assert (rows.min() // 4, rows.max() // 4, cols.min() // 4, cols.max() // 4) == (1, 9, 5, 13)
    assert not big[5 * 4 + 2, 9 * 4 + 2] and not small[5, 9], "the inside stays clear"


def test_border_width_follows_sigma():
    thin = viz.window_mask(window(14.5, 14.5, 0.01, 2.0), 5, 28, 28, scale=4).sum()
    thick = viz.window_mask(window(14.5, 14.5, 4.0, 2.0), 5, 28, 28, scale=4).sum()
    assert thick > 2 * thin


def test_window_off_the_image_draws_only_what_is_inside():
    mask = viz.window_mask(window(-50, -50, 1.0, 1.0), 3, 10, 10, scale=2)
    assert not mask.any()


def test_drawing_frames_grid_and_rectangles():
    n, T = 5, 3
    probs = np.zeros((n, T + 1, 1, 8, 8), dtype=np.float32)
    probs[:, 1:] = 1.0  # white canvases after the first step
    windows = np.tile(window(4.5, 4.5, 0.01, 1.0), (n, T, 1))
    frames = viz.drawing_frames(probs, [windows], [4], [viz.WRITE_COLOUR], scale=2, nrow=3)
    assert len(frames) == T + 1
    # 3 columns and 2 rows of 16-pixel tiles with 2-pixel padding
    assert frames[0].shape == (2 + 2 * 18, 2 + 3 * 18, 3) and frames[0].dtype == np.uint8
    tile = lambda frame, k: frame[2 + 18 * (k // 3):18 * (k // 3 + 1), 2 + 18 * (k % 3):18 * (k % 3 + 1)]
    assert (tile(frames[0], 0) == 0).all(), "frame 0 is the empty canvas, with no window"
    red = np.all(tile(frames[2], 4) == viz.WRITE_COLOUR, axis=-1)
    # window centre 4.5, 4 filters of stride 1: 1-based edges 2.5 and 6.5 -> upscaled rows 3-4 and 11-12
    assert red.any() and (np.nonzero(red)[0].min(), np.nonzero(red)[0].max()) == (3, 12)
    assert (tile(frames[2], 4)[~red] == 255).all()


def test_upscale_resamples_smoothly():
    image = np.zeros((1, 1, 4, 4), dtype=np.float32)
    image[..., 2:] = 1.0
    big = viz.upscale(image, 4)
    assert big.shape == (1, 3, 16, 16)
    edge = big[0, 0, 0]
    assert 0 < edge[7] < 1 or 0 < edge[8] < 1, "bilinear resampling, not pixel replication"
    assert edge[0] == 0 and edge[-1] == 1


def test_gif_animates_and_loops():
    frames = [np.full((10, 12, 3), 20 * k, dtype=np.uint8) for k in range(6)]
    gif = Image.open(io.BytesIO(viz.gif_bytes(frames, seconds=3.0, hold=1.0)))
    durations = []
    for k in range(gif.n_frames):
        gif.seek(k)
        durations.append(gif.info["duration"])
    assert gif.n_frames == 6 and gif.size == (12, 10) and gif.info["loop"] == 0
    assert durations == [500] * 5 + [1000]


def test_image_summary_carries_the_encoded_bytes():
    frame = np.zeros((10, 12, 3), dtype=np.uint8)
    png = viz.png_bytes(frame)
    summary = image_summary("pictures/x", png, frame)
    image = summary.value[0].image
    assert summary.value[0].tag == "pictures/x"
    assert (image.height, image.width, image.colorspace) == (10, 12, 3)
    assert image.encoded_image_string == png and png[:4] == b"\x89PNG"
