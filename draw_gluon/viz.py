"""Pictures of DRAW at work: canvas grids, the drawing process as a GIF, attention windows.

Frames are uint8 ``(height, width, 3)`` arrays. Canvases are upscaled with bilinear resampling
before the windows are drawn, so rectangles land between pixels and stay thin.
"""
import imageio.v3 as iio
import mxnet as mx
import numpy as np
from mxboard.utils import make_image_grid

WRITE_COLOUR = (255, 40, 40)
READ_COLOUR = (40, 200, 40)


def upscale(images, scale):
    """``(n, C, H, W)`` floats in [0, 1] -> ``(n, 3, H*scale, W*scale)`` (grey becomes RGB)."""
    images = mx.nd.array(images, ctx=mx.cpu())
    if images.shape[1] == 1:
        images = images.tile((1, 3, 1, 1))
    if scale == 1:
        return images.asnumpy()
    height, width = images.shape[2] * scale, images.shape[3] * scale
    big = mx.nd.contrib.BilinearResize2D(images, height=height, width=width, align_corners=False)
    return big.clip(0, 1).asnumpy()


def window_mask(windows, N, height, width, scale):
    """Where the outline of each attention window falls, ``(..., height*scale, width*scale)`` bools.

    A window (``attention.WINDOW_FIELDS``) is drawn as the square its ``N x N`` filter centres span,
    ``N * delta`` wide and centred at (gX, gY) in the 1-based pixel coordinates of eqs 19-20;
    its border is as wide as the filters' standard deviation (at least one output pixel).
    """
    gX, gY, sigma2, delta = (np.asarray(windows)[..., k, None, None] for k in range(4))
    half, border = N * delta / 2 * scale, np.clip(np.sqrt(sigma2) * scale, 1, 2 * scale)
    ys = np.arange(height * scale)[:, None] + 0.5  # centres of output pixels
    xs = np.arange(width * scale)[None, :] + 0.5
    dx, dy = np.abs(xs - (gX - 0.5) * scale), np.abs(ys - (gY - 0.5) * scale)
    outer = np.maximum(dx, dy) <= half + border / 2
    inner = np.maximum(dx, dy) < half - border / 2
    return outer & ~inner


def canvas_frames(probs, windows=(), N=(), colours=(), scale=4):
    """Every sample's drawing process as upscaled RGB frames, with attention windows outlined.

    Parameters
    ----------
    probs : (n, T + 1, C, H, W) canvas probabilities sigmoid(c_t), as from ``DRAW.generate``;
        ``C`` is 1 (drawn grey) or 3 (RGB).
    windows : sequence of (n, T, 5) window arrays; window ``t`` is drawn on frame ``t + 1``, the
        canvas it produced (frame 0 is the empty canvas).
    N : the filter grid size of each window array.
    colours : the RGB outline colour of each window array.
    scale : integer upscaling factor.

    Returns
    -------
    uint8 array (n, T + 1, H * scale, W * scale, 3).
    """
    n, steps, C, H, W = probs.shape
    frames = upscale(probs.reshape(n * steps, C, H, W), scale).reshape(n, steps, 3, H * scale, W * scale)
    frames = (frames * 255).round().astype(np.uint8).transpose(0, 1, 3, 4, 2)
    for window, size, colour in zip(windows, N, colours):
        frames[:, 1:][window_mask(window, size, H, W, scale)] = colour
    return frames


def grid_frames(frames, nrow=None):
    """Tile ``(n, steps, h, w, 3)`` frames into ``steps`` grids, ``nrow`` samples a row (default square-ish)."""
    nrow = nrow or int(np.ceil(np.sqrt(len(frames))))
    tiles = mx.nd.array(frames.transpose(1, 0, 4, 2, 3), dtype="uint8")  # (steps, n, 3, h, w)
    return [make_image_grid(tiles[t], nrow=nrow, pad_value=255).transpose((1, 2, 0)).asnumpy()
            for t in range(tiles.shape[0])]


def drawing_frames(probs, windows=(), N=(), colours=(), scale=4, nrow=None):
    """Frames of the drawing process: frame ``t`` is a grid of every sample's canvas at step ``t``.

    Arguments as for :func:`canvas_frames`; returns a list of T + 1 uint8 arrays (height, width, 3).
    """
    return grid_frames(canvas_frames(probs, windows, N, colours, scale), nrow)


def gif_bytes(frames, seconds=4.0, hold=1.0):
    """An endlessly looping GIF of ``frames`` lasting ``seconds``, the last frame held ``hold`` s."""
    step_ms = round(1000 * seconds / len(frames))
    durations = [step_ms] * (len(frames) - 1) + [round(1000 * hold)]
    return iio.imwrite("<bytes>", np.stack(frames), extension=".gif", duration=durations, loop=0)


def png_bytes(frame):
    """A frame encoded as PNG."""
    return iio.imwrite("<bytes>", frame, extension=".png")


def kl_plot_png(kl, title="KL per glimpse"):
    """A bar chart of the mean KL of each glimpse (nats), as PNG bytes: which glimpses carry information."""
    from matplotlib.figure import Figure  # no pyplot: leave the user's backend alone

    figure = Figure(figsize=(6, 3), dpi=100)
    axes = figure.add_subplot()
    axes.bar(np.arange(1, len(kl) + 1), kl, color="tab:blue")
    axes.set(xlabel="glimpse t", ylabel="KL(Q(Z_t | h_enc_t) || P(Z_t)) [nats]", title=title,
             xlim=(0.5, len(kl) + 0.5))
    return figure_png(figure)


def figure_png(figure):
    """A matplotlib ``Figure`` rendered (Agg, without pyplot) as PNG bytes."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    figure.tight_layout()
    canvas = FigureCanvasAgg(figure)
    canvas.draw()
    return png_bytes(np.asarray(canvas.buffer_rgba())[..., :3])

