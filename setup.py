"""Installs keras_lrm.

TensorFlow comes from an extra so that a TPU VM keeps its `tensorflow-tpu`:
    pip install -e ".[cpu]"      # or [gpu]; [test] adds the test tools
    pip install -e ".[tpu]" && pip install --no-deps "tensorflow-text~=2.20.0"
"""

import pathlib

from setuptools import find_packages
from setuptools import setup

HERE = pathlib.Path(__file__).parent
VERSION = {}
exec((HERE / "keras_lrm" / "version.py").read_text(), VERSION)

TENSORFLOW = "tensorflow>=2.20,<2.22"
TENSORFLOW_TEXT = "tensorflow-text>=2.20,<2.22"

setup(
    name="keras_lrm",
    version=VERSION["__version__"],
    description=(
        "Keras 3 memory-augmented transformer layers: Transformer-XL with "
        "few long-range memories (Rae & Razavi 2020)."
    ),
    long_description=(HERE / "README.md").read_text(),
    long_description_content_type="text/markdown",
    packages=find_packages(include=["keras_lrm", "keras_lrm.*"]),
    python_requires=">=3.10",
    install_requires=[
        "keras>=3.15",
        "numpy>=1.26",
        "tensorflow-datasets>=4.9",
        "keras-tuner>=1.4.8",
        # keras-tuner imports tensorboard on the TensorFlow backend.
        "tensorboard>=2.20",
        # learning_curve.png (the Agg backend: no display needed).
        "matplotlib>=3.8",
    ],
    extras_require={
        "cpu": [TENSORFLOW, TENSORFLOW_TEXT],
        "gpu": ["tensorflow[and-cuda]>=2.20,<2.22", TENSORFLOW_TEXT],
        # tensorflow-text would pull plain tensorflow over tensorflow-tpu:
        # install it with --no-deps (see README, "Colab / Cloud TPU").
        "tpu": ["tensorflow-tpu>=2.20,<2.22"],
        # jax: tests/test_backends.py runs the layers on the JAX backend.
        # ruff: tests/test_lint.py; a minor release may add lint findings,
        # so the range moves on purpose.
        # nbclient, nbformat, ipykernel: tests/test_notebook.py runs
        # recipes/colab_tpu.ipynb.
        # scikit-learn: KerasTuner's BayesianOptimization (recipes/tune.py
        # --tuner bayesian, tests/test_tuners.py).
        "test": ["pytest>=8", "pytest-xdist>=3.8", "jax[cpu]>=0.4.38",
                 "ruff>=0.17,<0.18", "nbclient>=0.10", "nbformat>=5.9",
                 "ipykernel>=6.29", "scikit-learn>=1.4"],
    },
    classifiers=[
        "Programming Language :: Python :: 3",
        "Topic :: Scientific/Engineering :: Artificial Intelligence",
    ],
)
