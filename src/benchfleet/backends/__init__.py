"""Inference engines: one protocol (``base.Backend``), the registry (``registry``), one file per engine and the
ONNX graph walker the PyTorch and TensorFlow engines share."""

from benchfleet.backends.base import Backend, default_threads
from benchfleet.backends.registry import BACKENDS, DEVICES, make_backend

__all__ = ["BACKENDS", "DEVICES", "Backend", "default_threads", "make_backend"]
