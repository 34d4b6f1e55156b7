"""Export a trained model for programs without draw-gluon: MXNet's own symbol and parameters
(``gluon.SymbolBlock.imports``), or ONNX (opset 13) for onnxruntime and the other ONNX runtimes, so
that a model outlives MXNet.

A DRAW gives its generator (noise to every canvas, and the write windows; no encoder) and the full
model; a :class:`~draw_gluon.Classifier` gives itself. Graphs are traced with MXNet's own operators,
not the fused kernels, and the batch size of an ONNX graph is free.
"""
import collections
import dataclasses
import json
import os

import mxnet as mx
from tqdm import tqdm

from . import fused
from .classifier import Classifier
from .io import atomic_dir
from .model import DRAW, Generator, first_context

FORMATS = ("mxnet", "onnx")
ONNX_OPSET = 13  # what MXNet 1.9.1's converter was written for (opsets 12 and 13)

Graph = collections.namedtuple("Graph", "name block inputs outputs")
Graph.__doc__ = """One exported graph: its file name, the block traced, its inputs as ``(name,
description, example)`` and its outputs as ``(name, description)``."""


def export_model(model, out_dir, format="mxnet", parts=None):
    """Write ``model`` (a :class:`~draw_gluon.DRAW` or a :class:`~draw_gluon.Classifier`) into
    ``out_dir`` (replaced atomically) for programs without draw-gluon, with ``export.json`` naming
    every file's inputs and outputs and holding the model config.

    ``format="mxnet"``: ``NAME-symbol.json`` and ``NAME-0000.params`` for ``gluon.SymbolBlock.imports``.
    ``format="onnx"``: ``NAME.onnx`` (opset 13, any batch size), inputs and outputs named as in
    ``export.json``; needs the ``onnx`` package (``pip install 'draw-gluon[onnx]'``). A DRAW gives
    ``generator`` (``z`` (n, T, Z) -> ``canvases``, probabilities sigmoid(c_t) (n, T + 1, C*H*W),
    blank first, and with attention ``write_windows`` (n, T, 5)) and ``draw`` (``x`` (B, C, H, W)
    and ``eps`` (B, T, Z) -> ``canvas`` c_T, ``mu``, ``log_sigma``); a classifier ``classifier``
    (``x`` -> ``logits``).

    ``parts`` names the graphs to write (default: all of them). Returns the path of ``export.json``.
    Raises ``ValueError`` for an unknown format or part, or for a model with an operation that ONNX
    cannot express (naming it).
    """
    if format not in FORMATS:
        raise ValueError(f"unknown export format {format!r}; choose one of {', '.join(FORMATS)}")
    chosen = [g for g in graphs(model) if parts is None or g.name in parts]
    if parts is not None and len(chosen) != len(set(parts)):
        raise ValueError(f"unknown part in {list(parts)}; this model has {', '.join(g.name for g in graphs(model))}")
    manifest = {"format": format}
    with atomic_dir(out_dir) as tmp, fused.disabled():
        # converting one of the paper's 64-glimpse graphs to ONNX takes tens of seconds: show progress
        for graph in tqdm(chosen, desc="ONNX conversion", unit="graph", disable=format != "onnx"):
            graph.block.hybridize()
            graph.block(*(example for _, _, example in graph.inputs))
            graph.block.export(os.path.join(tmp, graph.name))
            manifest[graph.name] = _to_onnx(tmp, graph) if format == "onnx" else _mxnet_entry(graph)
        manifest["config"] = dataclasses.asdict(model.config)
        with open(os.path.join(tmp, "export.json"), "w") as f:
            json.dump(manifest, f, indent=2)
    return os.path.join(out_dir, "export.json")


def graphs(model):
    """The :class:`Graph` s that export ``model``: twins that share its parameters, so that the
    caller's blocks are not hybridized behind its back."""
    config, ctx = model.config, first_context(model)
    image = ("x", "images in [0, 1], (B, C, H, W)", mx.nd.zeros((1,) + config.image_shape, ctx=ctx))
    if isinstance(model, Classifier):
        twin = Classifier(config, prefix=model.prefix, params=model.collect_params())
        return [Graph("classifier", twin, [image],
                      [("logits", "(B, num_classes), softmax gives the class probabilities")])]
    draw = DRAW(config, read=model.read, write=model.write, prefix=model.prefix, params=model.collect_params())
    z = mx.nd.zeros((1, config.num_steps, config.z_size), ctx=ctx)
    windows = [("write_windows", "(n, T, 5) gX, gY, sigma2, delta, gamma")] if config.attention else []
    return [Graph("generator", Generator(draw), [("z", "standard normal noise (n, T, Z)", z)],
                  [("canvases", "probabilities sigmoid(c_t), (n, T + 1, C*H*W), blank first")] + windows),
            Graph("draw", draw, [image, ("eps", "standard normal noise (B, T, Z)", z)],
                  [("canvas", "final logits c_T, (B, C*H*W)"), ("mu", "(B, T, Z)"), ("log_sigma", "(B, T, Z)")])]


def _mxnet_entry(graph):
    """The manifest entry of an MXNet export (its inputs by MXNet's names: data, or data0, data1...)."""
    names = ["data"] if len(graph.inputs) == 1 else [f"data{k}" for k in range(len(graph.inputs))]
    return {"symbol": f"{graph.name}-symbol.json", "params": f"{graph.name}-0000.params",
            "inputs": {mx_name: f"{name}, {text}" for mx_name, (name, text, _) in zip(names, graph.inputs)},
            "outputs": [f"{name}: {text}" for name, text in graph.outputs]}


def _to_onnx(folder, graph):
    """Convert the MXNet export of ``graph`` in ``folder`` into ``NAME.onnx`` (the MXNet files go);
    return its manifest entry."""
    try:
        import onnx
        from mxnet.onnx.mx2onnx._export_onnx import MXNetGraph
    except ImportError:
        raise ValueError("ONNX export needs the onnx package: pip install 'draw-gluon[onnx]'") from None
    _register_rsqrt(MXNetGraph)
    prefix = os.path.join(folder, graph.name)
    symbol, args, aux = mx.model.load_checkpoint(prefix, 0)
    shapes = [example.shape for _, _, example in graph.inputs]
    try:
        # MXNet's own export_model stamps the installed onnx's newest opset on a graph built for 12-13,
        # and onnxruntime then rejects its LSTM's Split: build at opset 13 and say so.
        proto = MXNetGraph().create_onnx_graph_proto(
            symbol, dict(args, **aux), shapes, [onnx.TensorProto.FLOAT] * len(shapes), opset_version=ONNX_OPSET,
            dynamic=True, dynamic_input_shapes=[(None,) + tuple(s[1:]) for s in shapes])
    except AttributeError as err:  # MXNet's word for an operator without a converter
        raise ValueError(f"cannot export this model's {graph.name} to ONNX: {err}") from None
    _name_inputs_and_outputs(proto, [name for name, _, _ in graph.inputs], [name for name, _ in graph.outputs])
    model = onnx.helper.make_model(proto, opset_imports=[onnx.helper.make_opsetid("", ONNX_OPSET)],
                                   producer_name="draw-gluon")
    onnx.checker.check_model(model)
    onnx.save(model, prefix + ".onnx")
    os.remove(prefix + "-symbol.json")
    os.remove(prefix + "-0000.params")
    return {"onnx": f"{graph.name}.onnx", "opset": ONNX_OPSET,
            "inputs": {name: text for name, text, _ in graph.inputs},
            "outputs": {name: text for name, text in graph.outputs}}


def _name_inputs_and_outputs(proto, inputs, outputs):
    """Give the graph's inputs and outputs their manifest names, leave the parameters out of its
    inputs (MXNet lists them there, which keeps onnxruntime from folding them as constants) and drop
    the constants no node reads (MXNet leaves some, and onnxruntime warns of each)."""
    used = {name for node in proto.node for name in node.input}
    kept = [p for p in proto.initializer if p.name in used]
    del proto.initializer[:]
    proto.initializer.extend(kept)
    params = {p.name for p in proto.initializer}
    data = [i for i in proto.input if i.name not in params]
    renames = {**{i.name: new for i, new in zip(data, inputs)}, **{o.name: new for o, new in zip(proto.output, outputs)}}
    for node in proto.node:
        node.input[:] = [renames.get(n, n) for n in node.input]
        node.output[:] = [renames.get(n, n) for n in node.output]
    for value in list(data) + list(proto.output):
        value.name = renames[value.name]
    del proto.input[:]
    proto.input.extend(data)


def _register_rsqrt(MXNetGraph):
    """MXNet 1.9.1's converter has nothing for ``rsqrt`` (the filterbanks' 1 / sigma): Sqrt, then Reciprocal."""
    import onnx
    from mxnet.onnx.mx2onnx._op_translations._op_translations_opset12 import get_inputs

    @MXNetGraph.register("rsqrt")
    def convert_rsqrt(node, **kwargs):
        name, (x,), _ = get_inputs(node, kwargs)
        return [onnx.helper.make_node("Sqrt", [x], [name + "_sqrt"], name=name + "_sqrt"),
                onnx.helper.make_node("Reciprocal", [name + "_sqrt"], [name], name=name)]
