"""Device-side helpers: numpy + LiteRT only. Nothing in this package may import TensorFlow."""
