"""ONNX export: onnxruntime computes what MXNet computes (within 1e-4), at another batch size than the
traced one, for DRAW with and without attention, with DCRAW's convolutions, on RGB images, and for the
classifier; a model ONNX cannot express gets one line naming what."""
import json

import mxnet as mx
import numpy as np
import pytest
from mxnet.gluon import HybridBlock

import draw_gluon
from draw_gluon import DRAW, Classifier, ClassifierConfig, export_model
from draw_gluon.cli import main as cli
from helpers import make_model, randomized, tiny_config

ort = pytest.importorskip("onnxruntime")


def session(folder, name):
    manifest = json.loads((folder / "export.json").read_text())
    assert manifest["format"] == "onnx" and manifest[name]["opset"] == 13
    sess = ort.InferenceSession(str(folder / manifest[name]["onnx"]))
    assert [i.name for i in sess.get_inputs()] == list(manifest[name]["inputs"])
    assert [o.name for o in sess.get_outputs()] == list(manifest[name]["outputs"])
    return sess


@pytest.mark.parametrize("changes", [dict(attention=True), dict(attention=False), dict(conv=(4, 3)),
                                     dict(image_shape=(3, 6, 5))], ids=["attention", "no-attention", "conv", "rgb"])
def test_onnxruntime_draws_what_mxnet_draws(tmp_path, changes):
    model = make_model(tiny_config(**changes))
    export_model(model, str(tmp_path / "onnx"), format="onnx")
    config, rng = model.config, np.random.RandomState(0)
    z = rng.standard_normal((5, config.num_steps, config.z_size)).astype(np.float32)  # traced with 1
    out = session(tmp_path / "onnx", "generator").run(None, {"z": z})
    probs, windows = model.generate(5, z=mx.nd.array(z))
    np.testing.assert_allclose(out[0], probs.asnumpy().reshape(out[0].shape), atol=1e-4)
    if config.attention:
        np.testing.assert_allclose(out[1], windows.asnumpy(), rtol=1e-4, atol=1e-4)
    x = (rng.rand(3, *config.image_shape) > 0.5).astype(np.float32)
    eps = rng.standard_normal((3, config.num_steps, config.z_size)).astype(np.float32)
    got = session(tmp_path / "onnx", "draw").run(None, {"x": x, "eps": eps})
    for a, b in zip(got, model(mx.nd.array(x), mx.nd.array(eps))):
        np.testing.assert_allclose(a, b.asnumpy(), atol=1e-4)


def test_onnxruntime_classifies_as_mxnet_does(tmp_path):
    model = randomized(Classifier(ClassifierConfig(image_shape=(1, 12, 10), num_glimpses=3, hidden_size=8,
                                                   read_size=3)), (1, 12, 10))
    export_model(model, str(tmp_path / "onnx"), format="onnx")
    x = np.random.RandomState(1).rand(4, 1, 12, 10).astype(np.float32)
    [logits] = session(tmp_path / "onnx", "classifier").run(None, {"x": x})
    np.testing.assert_allclose(logits, model(mx.nd.array(x)).asnumpy(), atol=1e-4)


def test_the_command_exports_onnx_and_a_model_onnx_cannot_express_is_named(tmp_path, capsys):
    model = make_model(tiny_config())
    model.save(str(tmp_path / "model"))
    assert cli(["export", str(tmp_path / "model"), "--format", "onnx"]) == 0
    assert sorted(p.name for p in (tmp_path / "model" / "export").iterdir()) == ["draw.onnx", "export.json",
                                                                                  "generator.onnx"]

    class ErfWrite(HybridBlock):  # a user's write whose operator has no ONNX converter in MXNet 1.9.1
        def hybrid_forward(self, F, h_dec):
            return (F.erf(F.slice_axis(h_dec, axis=1, begin=0, end=1)).broadcast_to((0, 30)),)

    odd = DRAW(tiny_config(attention=False), write=ErfWrite())
    odd.initialize()
    with pytest.raises(ValueError, match="cannot export this model's generator to ONNX: .*erf") as err:
        export_model(odd, str(tmp_path / "odd"), format="onnx")
    assert "\n" not in str(err.value) and not (tmp_path / "odd").exists()
    with pytest.raises(ValueError, match="unknown export format 'tflite'; choose one of mxnet, onnx"):
        export_model(model, str(tmp_path / "x"), format="tflite")


@pytest.mark.parametrize("name", ["mnist-attention", "mnist", "two-digit-mnist", "cluttered-mnist"])
def test_the_shipped_models_run_in_onnxruntime_as_in_mxnet(tmp_path, name):
    model = draw_gluon.pretrained(name)
    export_model(model, str(tmp_path / name), format="onnx")
    rng = np.random.RandomState(0)
    if isinstance(model, Classifier):
        x = rng.rand(4, *model.config.image_shape).astype(np.float32)
        [logits] = session(tmp_path / name, "classifier").run(None, {"x": x})
        np.testing.assert_allclose(logits, model(mx.nd.array(x)).asnumpy(), atol=1e-4)
        return
    z = rng.standard_normal((4, model.config.num_steps, model.config.z_size)).astype(np.float32)
    out = session(tmp_path / name, "generator").run(None, {"z": z})
    probs, windows = model.generate(4, z=mx.nd.array(z))
    np.testing.assert_allclose(out[0], probs.asnumpy().reshape(out[0].shape), atol=1e-4)
    if windows is not None:  # positions in pixels, up to 60: compared relatively
        np.testing.assert_allclose(out[1], windows.asnumpy(), rtol=1e-4, atol=1e-5)


def test_parts_picks_the_graphs_written(tmp_path):
    model = make_model(tiny_config())
    export_model(model, str(tmp_path / "onnx"), format="onnx", parts=("generator",))
    manifest = json.loads((tmp_path / "onnx" / "export.json").read_text())
    assert "generator" in manifest and "draw" not in manifest
    assert sorted(p.name for p in (tmp_path / "onnx").iterdir()) == ["export.json", "generator.onnx"]
    with pytest.raises(ValueError, match="unknown part in \\['encoder'\\]; this model has generator, draw"):
        export_model(model, str(tmp_path / "other"), format="onnx", parts=("encoder",))
