"""Task metrics that must be computed identically for Keras and TFLite outputs (pure numpy)."""
