"""Datasets by name: ``load(name, data_dir=None, ...)`` returns a :class:`Dataset`.

One module per dataset family registers its loaders in :data:`REGISTRY`; a new dataset is a module
and a line here. Every split is checked (:func:`check_images`) before anyone trains on it.
"""
from . import binarized_mnist, cifar, composed, folder, mnist, svhn, targets
from .common import SPLITS, Batches, DataError, Dataset, binarize_batch, check_images, download

__all__ = ["load", "targets", "REGISTRY", "DATASETS", "LABELLED", "SPLITS", "Dataset", "DataError", "Batches", "binarize_batch",
           "check_images", "download"]

# name -> loader(data_dir=None, binarize="dynamic", **options) -> Dataset
REGISTRY = {
    "binarized_mnist": binarized_mnist.load,
    "mnist": mnist.load_mnist,
    "mnist5k": mnist.load_mnist5k,
    "two_digit_mnist": composed.load_two_digit,
    "cluttered_mnist": composed.load_cluttered,
    "svhn": svhn.load,
    "cifar10": cifar.load,
    "folder": folder.load,
}
DATASETS = tuple(REGISTRY)
LABELLED = ("mnist", "mnist5k", "cluttered_mnist", "svhn", "cifar10")  # the datasets whose Dataset.labels are filled


def load(name, data_dir=None, binarize="dynamic", **options):
    """Load a dataset by name (one of :data:`DATASETS`) as a :class:`Dataset`; every split checked.

    ``options`` go to the loader; ``folder`` takes ``resize=(height, width)`` and ``grey=True``.
    """
    if name not in REGISTRY:
        raise DataError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")
    dataset = REGISTRY[name](data_dir=data_dir, binarize=binarize, **options)
    for split, images in dataset.splits.items():
        check_images(images, f"the {name} {split} split")
    return dataset
