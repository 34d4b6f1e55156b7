"""The models that ship inside the package: they load offline on CPU, and score what their
info.json claims when re-measured from the installed files."""
import os

import mxnet as mx
import numpy as np
import pytest

import draw_gluon
from helpers import paper_data_dir
from draw_gluon import DRAW, Classifier, model_zoo, pretrained
from draw_gluon.data import binarized_mnist, composed, mnist
from draw_gluon.evaluation import evaluate_nll

SHIPPED = {"mnist-attention": DRAW, "mnist": DRAW, "cluttered-mnist": Classifier, "two-digit-mnist": DRAW}


def test_the_shipped_models_load_offline_in_float32_and_stay_small():
    assert set(SHIPPED) <= set(model_zoo.names())
    for name, kind in SHIPPED.items():
        model = pretrained(name)
        assert type(model) is kind
        params = model.collect_params().values()
        assert all(p.data().dtype == np.float32 and p.data().context == mx.cpu() for p in params)
        size = os.path.getsize(os.path.join(model_zoo.ZOO, name, "model.params"))
        # 4 bytes per number and a name per array: nothing else is stored (no optimizer, no float64)
        assert 0 < size - 4 * sum(p.data().size for p in params) < 100 * len(params)
        assert size < 12e6
        assert model_zoo.info(name)["dataset"] in ("cluttered_mnist", "binarized_mnist", "two_digit_mnist")
        assert draw_gluon.info(name) == model_zoo.info(name)  # as the README calls it


@pytest.mark.parametrize("name", ["mnist-attention", "mnist"])
def test_the_shipped_mnist_models_score_their_claimed_bounds(name):
    folder = paper_data_dir()
    claim = model_zoo.info(name)["test"]
    images = binarized_mnist.read(folder, splits=("test",))[0]["test"]
    model = pretrained(name)
    model.hybridize(static_alloc=True)
    measured = evaluate_nll(model, images, 1, progress=False)
    assert measured["bound"]["nats"] == pytest.approx(claim["bound"]["nats"], abs=0.05)


def test_the_shipped_two_digit_model_scores_its_claimed_bound_on_the_two_digit_test_set():
    claim = model_zoo.info("two-digit-mnist")["test"]
    images = composed.two_digit_split("test", mnist.labelled())
    model = pretrained("two-digit-mnist")
    model.hybridize(static_alloc=True)
    measured = evaluate_nll(model, images, 1, progress=False)
    assert measured["num_images"] == claim["num_images"] == 10000
    assert measured["bound"]["nats"] == pytest.approx(claim["bound"]["nats"], abs=0.05)


def test_the_shipped_classifier_makes_its_claimed_errors_on_the_cluttered_test_set():
    claim = model_zoo.info("cluttered-mnist")["test"]
    images, labels, _ = composed.cluttered_split("test", mnist.labelled())
    model = pretrained("cluttered-mnist")
    model.hybridize(static_alloc=True)
    guesses = np.concatenate([model(mx.nd.array(images[i:i + 500])).asnumpy().argmax(axis=1)
                              for i in range(0, len(images), 500)])
    assert len(guesses) == claim["num_images"] == 10000
    assert np.mean(guesses != labels) == pytest.approx(claim["error"], abs=2e-4)  # 2 images of 10,000
