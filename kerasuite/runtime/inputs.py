"""Readers that turn a raw input file into model inputs on a device, by preprocessing kind.

Each kind's reader is named by its typed spec (``kerasuite.runtime.device_spec``,
``DeviceSpec.reader``): "module:function", called with ``(path, spec, bundle_dir)`` and returning
batch-1 arrays keyed by the model's input names, before quantization. ``READERS`` is that table,
derived from the specs so it cannot disagree with them.
"""

from kerasuite.runtime.device_spec import kinds

READERS: dict[str, str] = {kind: cls.reader for kind, cls in kinds().items() if cls.reader}
