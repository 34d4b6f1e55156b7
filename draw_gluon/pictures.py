"""What a trained DRAW draws, written as pictures: samples, reconstructions and latent walks; and
where a trained classifier looks (its glimpses).

Each function fills one output folder, which appears complete or not at all (an older folder of the
same name is replaced only once the new one is written), and returns the paths it wrote. Noise comes
from NumPy with ``seed``, so the same seed gives the same pictures on any device.
"""

import mxnet as mx
import numpy as np

from . import viz
from .data import check_images
from .io import write_folder
from .model import first_context


def noise(config, n, seed, shape=()):
    """Standard normal noise ``shape + (n, T, Z)`` from NumPy's generator seeded with ``seed``."""
    return np.random.RandomState(seed).standard_normal(shape + (n, config.num_steps, config.z_size))


def draw_samples(model, out_dir, num=16, seed=0, scale=4, seconds=4.0):
    """``num`` unconditional samples (section 2.3) with the write window outlined on each frame.

    Writes ``samples.png`` (the finished samples), ``drawing.gif`` (all of them drawing at once) and
    ``sample-000.gif``... (one each), ``T + 1`` frames from the blank canvas on.
    """
    z = mx.nd.array(noise(model.config, num, seed), ctx=first_context(model))
    return _write_drawings(out_dir, "sample", *sample_frames(model, z, scale), seconds)


def sample_frames(model, z, scale=4):
    """Pictures of sampling from the noise ``z`` (n, T, Z): ``(frames, finished)``, every sample's
    drawing as uint8 ``(n, T + 1, h, w, 3)`` (write window outlined, with attention) and the grid
    of the finished samples (no window)."""
    probs, write_windows = model.generate(len(z), z=z)
    windows = [] if write_windows is None else [(write_windows.asnumpy(), model.config.write_size, viz.WRITE_COLOUR)]
    return _frames(probs.asnumpy(), windows, scale)


def draw_reconstructions(model, images, out_dir, seed=0, scale=4, seconds=4.0, targets=None):
    """The model's reconstructions of ``images`` (n, C, H, W), read window green and write window red.

    Writes ``originals.png``, ``reconstructions.png``, ``drawing.gif`` (all at once) and
    ``reconstruction-000.gif``... (one each). With ``targets`` (the clean images a model trained
    with ``--target`` should draw from the corrupted ``images``) also ``targets.png`` and
    ``restoration.png``, a row per image: input, reconstruction, target.
    """
    probs, windows = _reconstruct(model, images, seed)
    extra = {"originals.png": viz.png_bytes(viz.drawing_frames(np.asarray(images)[:, None], scale=scale)[0])}
    if targets is not None:
        check_images(targets, "the targets", model.config.image_shape)
        extra["targets.png"] = viz.png_bytes(viz.drawing_frames(np.asarray(targets)[:, None], scale=scale)[0])
        extra["restoration.png"] = viz.png_bytes(_side_by_side(images, probs[:, -1], targets, scale=scale))
    return _write_drawings(out_dir, "reconstruction", *_frames(probs, windows, scale), seconds, extra=extra)


def restoration_table(model, inputs, targets, seed=0, scale=2):
    """A picture with a row per image: the corrupted input, the model's reconstruction, the target."""
    return _side_by_side(inputs, _reconstruct(model, inputs, seed)[0][:, -1], targets, scale=scale)


def _side_by_side(*columns, scale):
    """Images ``(n, C, H, W)`` of each column, in a grid with a row per image."""
    rows = np.stack([np.asarray(c) for c in columns], axis=1)
    return viz.drawing_frames(rows.reshape((-1, 1) + rows.shape[2:]), scale=scale, nrow=len(columns))[0]


def _reconstruct(model, images, seed):
    """Canvases (n, T + 1, C, H, W) as probabilities and the ``(windows, N, colour)`` to outline,
    read windows in the image's pixels (also when the read attends over feature maps)."""
    config = model.config
    check_images(images, "the images to reconstruct", config.image_shape)
    x = mx.nd.array(images, ctx=first_context(model))
    eps = mx.nd.array(noise(config, len(images), seed), ctx=x.context)
    probs, read_windows, write_windows = model.reconstruct(x, eps)
    if read_windows is None:
        return probs.asnumpy(), []
    read_windows = read_windows.asnumpy()
    if model.features is not None:
        read_windows = model.features.window_on_image(read_windows)
    return probs.asnumpy(), [(read_windows, config.read_size, viz.READ_COLOUR),
                             (write_windows.asnumpy(), config.write_size, viz.WRITE_COLOUR)]


def draw_latent_walks(model, out_dir, num=8, frames=16, seed=0, scale=4, seconds=4.0):
    """Walks through latent space: ``num`` walks, each along a great circle between two random
    sequences ``z_1..T`` (spherical interpolation keeps the norm typical of N(0, I)).

    Writes ``latent.gif`` (every walk at once, forth and back) and ``latent.png`` (a walk per row,
    ``frames`` columns).
    """
    config = model.config
    start, end = noise(config, num, seed, shape=(2,))
    z = slerp(start, end, np.linspace(0, 1, frames))  # (num, frames, T, Z)
    probs, _ = model.generate(num * frames, z=mx.nd.array(z.reshape((-1,) + z.shape[2:]), ctx=first_context(model)))
    finals = viz.canvas_frames(probs[:, -1].reshape((num, frames) + config.image_shape).asnumpy(), scale=scale)
    walk = viz.grid_frames(finals)
    table = viz.grid_frames(finals.reshape((num * frames, 1) + finals.shape[2:]), nrow=frames)[0]
    forth_and_back = walk + walk[-2:0:-1]
    files = {"latent.gif": viz.gif_bytes(forth_and_back, seconds, hold=seconds / len(forth_and_back)),
             "latent.png": viz.png_bytes(table)}
    return write_folder(out_dir, files)


def glimpse_frames(model, images, scale=2):
    """Each image with the read window of each glimpse outlined: uint8 ``(n, T + 1, h, w, 3)``,
    frame 0 the bare image."""
    _, windows = model.glimpses(mx.nd.array(images, ctx=first_context(model)))
    steps = np.repeat(np.asarray(images)[:, None], model.config.num_glimpses + 1, axis=1)
    return viz.canvas_frames(steps, [windows.asnumpy()], [model.config.read_size], [viz.READ_COLOUR], scale)


def glimpse_pictures(model, images, scale=2):
    """The glimpse paths of ``images`` as in the paper's Figure 4: ``(steps, table)``, a grid per
    glimpse (all images at once, for a GIF) and one picture with a row per image, a column per glimpse."""
    frames = glimpse_frames(model, images, scale)
    return viz.grid_frames(frames), viz.grid_frames(frames.reshape((-1, 1) + frames.shape[2:]), nrow=frames.shape[1])[0]


def slerp(a, b, s):
    """Spherical interpolation between the sequences ``a`` and ``b`` (n, ...) at fractions ``s`` (m,).

    Returns (n, m, ...); each pair is treated as two flat vectors.
    """
    flat_a, flat_b = a.reshape(len(a), -1), b.reshape(len(b), -1)
    cos = np.sum(flat_a * flat_b, axis=1) / (np.linalg.norm(flat_a, axis=1) * np.linalg.norm(flat_b, axis=1))
    omega = np.arccos(np.clip(cos, -1, 1))[:, None]
    s = np.asarray(s)[None, :]
    # sin(s w) / sin(w) -> s as w -> 0: straight-line interpolation for (nearly) parallel pairs
    safe = np.where(omega > 1e-6, omega, 1.0)
    weight = lambda f: np.where(omega > 1e-6, np.sin(f * safe) / np.sin(safe), f)
    w_a, w_b = weight(1 - s), weight(s)
    out = w_a[..., None] * flat_a[:, None] + w_b[..., None] * flat_b[:, None]
    return out.reshape((len(a), s.shape[1]) + a.shape[1:])


def _frames(probs, windows, scale):
    """Each image's drawing with its ``(windows, N, colour)`` outlined, and the grid of final canvases."""
    return viz.canvas_frames(probs, *zip(*windows), scale=scale), viz.drawing_frames(probs[:, -1:], scale=scale)[0]


def _write_drawings(out_dir, name, frames, finished, seconds, extra=None):
    """The finished grid, the grid GIF and one GIF per image of ``frames`` (n, T + 1, h, w, 3)."""
    files = dict(extra or {})
    files[f"{name}s.png"] = viz.png_bytes(finished)
    files["drawing.gif"] = viz.gif_bytes(viz.grid_frames(frames), seconds)
    files.update({f"{name}-{k:03d}.gif": viz.gif_bytes(list(f), seconds) for k, f in enumerate(frames)})
    return write_folder(out_dir, files)
