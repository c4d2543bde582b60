"""snnconv from Python: load an ONNX model or an SNN model file, run it on numpy arrays (dense, quantized or
spiking), quantize and convert it, save the SNN model file. A thin layer over the C++ library that the
`snnconv` command runs: the same functions, the same messages, bit-identical outputs (docs/python.md)."""
from ._snnconv import (  # noqa: F401  (re-exported)
    Error, RuntimeFailure, UsageError, UnsupportedError, Model, Ledger, NirModel, load, price, report, __version__,
)

__all__ = ["Error", "RuntimeFailure", "UsageError", "UnsupportedError", "Model", "Ledger", "NirModel", "load", "price",
           "report", "__version__"]
