"""Your own pictures: ``--dataset folder --data-dir DIR`` (a folder of PNG/JPEG/BMP/GIF files).

Images are read with imageio and scaled to [0, 1] (8-bit by 255, 16-bit by 65535). Their size and
channels come from the files: all must share one size unless ``resize`` gives one, and a folder
that mixes grey and colour files is read in colour (grey files repeated over RGB) unless ``grey``
converts everything to grey (ITU-R 601 luma). An alpha channel is dropped.

Splits: the files under ``DIR/train``, ``DIR/valid`` and ``DIR/test`` when those three sub-folders
exist; otherwise every image file under ``DIR`` (sub-folders included), shuffled with ``seed`` and
split 80% / 10% / 10% (at least one image each).
"""
import os

import numpy as np

from .common import SPLITS, DataError, Dataset

EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif")
LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


def image_files(root):
    """Every image file under ``root``, sorted by path."""
    found = [os.path.join(d, f) for d, _, files in os.walk(root) for f in files
             if f.lower().endswith(EXTENSIONS)]
    return sorted(found)


def read_image(path, resize=None, grey=False):
    """One file as float32 ``(C, H, W)`` in [0, 1], C = 1 or 3; ``resize`` = (height, width)."""
    import imageio.v3 as iio

    try:
        pixels = np.asarray(iio.imread(path, index=0) if path.lower().endswith(".gif") else iio.imread(path))
    except Exception as err:  # imageio raises many kinds for a damaged or foreign file
        raise DataError(f"cannot read {path} as an image ({type(err).__name__}: {err}); remove it or "
                        "replace it with a PNG or JPEG") from None
    scale = {np.dtype(np.uint8): 255.0, np.dtype(np.uint16): 65535.0}.get(pixels.dtype)
    if scale is None:
        raise DataError(f"{path} has {pixels.dtype} pixels; save it as an 8- or 16-bit PNG or JPEG")
    image = (pixels.astype(np.float32) / scale).reshape(pixels.shape[:2] + (-1,))  # (H, W, C)
    image = image[..., :1] if image.shape[2] == 2 else image[..., :3]  # grey+alpha or RGBA: alpha dropped
    if grey and image.shape[2] == 3:
        image = (image @ LUMA)[..., None]
    if resize and image.shape[:2] != tuple(resize):
        image = _resize(image, resize)
    return np.ascontiguousarray(image.transpose(2, 0, 1))


def _resize(image, size):
    import mxnet as mx

    # bilinear, as the pictures are upscaled (viz.upscale); area averaging would be kinder to
    # large reductions, but BilinearResize2D is what MXNet offers for float images
    resized = mx.nd.contrib.BilinearResize2D(mx.nd.array(image.transpose(2, 0, 1)[None]), height=size[0],
                                             width=size[1], align_corners=False)
    return resized[0].clip(0, 1).asnumpy().transpose(1, 2, 0)


def read_images(paths, resize=None, grey=False):
    """Files as one float32 array ``(N, C, H, W)``; raises :class:`DataError` on mixed sizes."""
    images = [read_image(p, resize, grey) for p in paths]
    size = lambda k: "x".join(map(str, images[k].shape[1:]))
    odd = next((k for k in range(len(images)) if size(k) != size(0)), None)
    if odd is not None:
        raise DataError(f"the images differ in size ({paths[0]} is {size(0)}, {paths[odd]} is {size(odd)}); "
                        "pass --resize HxW to bring them to one size")
    channels = max(im.shape[0] for im in images)
    return np.stack([np.repeat(im, channels // im.shape[0], axis=0) for im in images])


def load(data_dir=None, resize=None, grey=False, seed=0, **_):
    """The registry's ``folder``: the images under ``data_dir`` as a :class:`Dataset` (no labels)."""
    if not data_dir or not os.path.isdir(data_dir):
        raise DataError(f"--dataset folder needs --data-dir, a folder of image files (got {data_dir!r})")
    if all(os.path.isdir(os.path.join(data_dir, s)) for s in SPLITS):
        paths = {s: image_files(os.path.join(data_dir, s)) for s in SPLITS}
        empty = [s for s in SPLITS if not paths[s]]
        if empty:
            raise DataError(f"{os.path.join(data_dir, empty[0])} holds no image file ({', '.join(EXTENSIONS)})")
    else:
        paths = split_files(image_files(data_dir), seed, data_dir)
    every = read_images(sum((paths[s] for s in SPLITS), []), resize, grey)
    ends = np.cumsum([len(paths[s]) for s in SPLITS])[:-1]
    return Dataset(dict(zip(SPLITS, np.split(every, ends))), {}, False, {})


def split_files(paths, seed, where):
    """``paths`` shuffled with ``seed`` and split 80/10/10 by split name (each at least one)."""
    if len(paths) < 3:
        raise DataError(f"{where} holds {len(paths)} image file(s) ({', '.join(EXTENSIONS)}); it needs at "
                        "least 3 to split into train, valid and test")
    order = np.random.RandomState(seed).permutation(len(paths))
    n_valid = n_test = max(1, len(paths) // 10)
    ends = [len(paths) - n_valid - n_test, len(paths) - n_test]
    return dict(zip(SPLITS, ([paths[k] for k in part] for part in np.split(order, ends))))
