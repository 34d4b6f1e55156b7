"""Export a model for programs that have MXNet but not draw-gluon (``gluon.SymbolBlock.imports``)."""
import dataclasses
import json
import os

import mxnet as mx

from . import fused
from .classifier import Classifier
from .io import atomic_dir
from .model import DRAW, Generator, first_context


def export_model(model, out_dir):
    """Write a DRAW's sampler and full model, or a :class:`Classifier`, as hybridized symbols with
    their parameters.

    A classifier gives ``classifier-symbol.json`` / ``classifier-0000.params`` (images (B, C, H, W) ->
    logits (B, num_classes)) and ``export.json``.

    ``out_dir`` (replaced atomically) receives ``generator-symbol.json`` / ``generator-0000.params``
    (noise ``z`` (n, T, Z) -> canvas probabilities (n, T + 1, C*H*W) and, with attention, write
    windows (n, T, 5); no encoder), ``draw-symbol.json`` / ``draw-0000.params`` (images (B, C, H, W)
    and noise ``eps`` (B, T, Z) -> final canvas logits, mu, log_sigma) and ``export.json``, which
    names every file's inputs and outputs and holds the model config.

    Returns the path of ``export.json``.
    """
    if isinstance(model, Classifier):
        return _export_classifier(model, out_dir)
    config, ctx = model.config, first_context(model)
    # Twins that share the parameters, so that the caller's blocks are not hybridized behind its back.
    draw = DRAW(config, prefix=model.prefix, params=model.collect_params())
    generator = Generator(draw)
    z = mx.nd.zeros((1, config.num_steps, config.z_size), ctx=ctx)
    # Traced with MXNet's own operators, so that a program without draw-gluon's kernels can load it.
    with atomic_dir(out_dir) as tmp, fused.disabled():
        for name, block, inputs in (("generator", generator, [z]),
                                    ("draw", draw, [mx.nd.zeros((1,) + config.image_shape, ctx=ctx), z])):
            block.hybridize()
            block(*inputs)
            block.export(os.path.join(tmp, name))
        manifest = {
            "generator": {"symbol": "generator-symbol.json", "params": "generator-0000.params",
                          "inputs": {"data": "z, standard normal noise (n, T, Z)"},
                          "outputs": ["canvases: probabilities sigmoid(c_t), (n, T + 1, C*H*W), blank first"]
                          + (["write_windows: (n, T, 5) gX, gY, sigma2, delta, gamma"] if config.attention else [])},
            "draw": {"symbol": "draw-symbol.json", "params": "draw-0000.params",
                     "inputs": {"data0": "x, images in [0, 1], (B, C, H, W)",
                                "data1": "eps, standard normal noise (B, T, Z)"},
                     "outputs": ["canvas: final logits c_T, (B, C*H*W)", "mu: (B, T, Z)", "log_sigma: (B, T, Z)"]},
            "config": dataclasses.asdict(config),
        }
        _write_manifest(tmp, manifest)
    return os.path.join(out_dir, "export.json")


def _export_classifier(model, out_dir):
    config = model.config
    twin = Classifier(config, prefix=model.prefix, params=model.collect_params())
    with atomic_dir(out_dir) as tmp, fused.disabled():
        twin.hybridize()
        twin(mx.nd.zeros((1,) + config.image_shape, ctx=first_context(model)))
        twin.export(os.path.join(tmp, "classifier"))
        _write_manifest(tmp, {
            "classifier": {"symbol": "classifier-symbol.json", "params": "classifier-0000.params",
                           "inputs": {"data": "x, images in [0, 1], (B, C, H, W)"},
                           "outputs": ["logits: (B, num_classes), softmax gives the class probabilities"]},
            "config": dataclasses.asdict(config)})
    return os.path.join(out_dir, "export.json")


def _write_manifest(folder, manifest):
    with open(os.path.join(folder, "export.json"), "w") as f:
        json.dump(manifest, f, indent=2)
