"""Edge artifacts: TFLite conversion, measurement, manifests, signing and publishing."""
