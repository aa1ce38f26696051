"""Custom Keras layers, one per file, each registered for safe .keras loading."""
