"""Code that runs on edge devices (no TensorFlow)."""
