"""Readers that turn a raw input file into model inputs on a device, by preprocessing kind.

``READERS[kind]`` is "module:function"; the function takes ``(path, preprocessing, bundle_dir)``
and returns batch-1 arrays keyed by the model's input names, before quantization.
"""

READERS: dict[str, str] = {
    "image": "kerasuite.runtime.image:read_image",
    "text": "kerasuite.runtime.text:read_text",
    "audio": "kerasuite.runtime.audio:read_audio",
    "recsys_user": "kerasuite.runtime.recsys:read_user",
    "recsys_pair": "kerasuite.runtime.recsys:read_pair",
}
