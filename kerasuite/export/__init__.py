"""Edge export: any Keras model to TFLite per mode (converted in a child process), proven against
Keras on every applicable runtime, written as a device bundle.

``export_model`` (the one export path) and ``OutputSpec`` are imported lazily so that
``python -m kerasuite.export --help`` and usage errors never load TensorFlow.
"""


def __getattr__(name):
    if name in ("export_model", "BundleInfo", "ExportReport"):
        from kerasuite.export import api

        return getattr(api, name)
    if name in ("OutputSpec", "Agreement", "TOP1"):
        from kerasuite.export import spec

        return getattr(spec, name)
    raise AttributeError(name)
