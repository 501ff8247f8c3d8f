"""modelkit: the TensorFlow side of tfplat (inspect, warmup, edge build/publish, device client).

Importing the package imports nothing heavy: TensorFlow is loaded only by the commands that
convert or run models, so `edge publish`, `edge keygen` and the device client start fast and
run where TensorFlow is not installed.
"""

__version__ = "0.1.0"
