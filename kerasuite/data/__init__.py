"""Data sources and the canonical tf.data pipeline."""
