"""Conv2D stack for image classification (and any 2-D feature map, e.g. an MFCC image)."""

from __future__ import annotations

import keras
from keras import layers

from kerasuite.hparams import CnnConfig

_POOLING = {"max": layers.MaxPooling2D, "average": layers.AveragePooling2D}


def build_conv_stack(
    cfg: CnnConfig,
    input_shape: tuple[int, int, int],
    num_classes: int,
    input_name: str = "image",
    name: str = "cnn",
) -> keras.Model:
    """``len(cfg.filters)`` blocks of conv-BN-ReLU (x ``convs_per_block``) + pooling, then a head.

    Augmentation layers sit at the front and are identity outside training, so the exported
    graph carries none of them.
    """
    if cfg.pooling not in (*_POOLING, "none"):
        raise ValueError(f"model.cnn.pooling: expected max, average or none, got {cfg.pooling!r}")
    if not cfg.filters:
        raise ValueError("model.cnn.filters: needs at least one block")
    image = keras.Input(shape=input_shape, name=input_name)
    x = image
    if cfg.augment:
        x = layers.RandomTranslation(0.1, 0.1, fill_mode="constant", name="augment_translate")(x)
        x = layers.RandomZoom(0.1, fill_mode="constant", name="augment_zoom")(x)
    for block, filters in enumerate(cfg.filters):
        for conv in range(cfg.convs_per_block):
            x = layers.Conv2D(
                filters, cfg.kernel_size, padding="same", use_bias=not cfg.batch_norm,
                name=f"block{block}_conv{conv}",
            )(x)
            if cfg.batch_norm:
                # momentum 0.9: small data sets give few steps per epoch for the moving averages
                x = layers.BatchNormalization(momentum=0.9, name=f"block{block}_bn{conv}")(x)
            x = layers.ReLU(name=f"block{block}_relu{conv}")(x)
        if cfg.pooling != "none":
            x = _POOLING[cfg.pooling](2, name=f"block{block}_pool")(x)
    x = layers.GlobalAveragePooling2D(name="global_pool")(x)
    if cfg.dropout:
        x = layers.Dropout(cfg.dropout, name="head_dropout")(x)
    if cfg.dense_units:
        x = layers.Dense(cfg.dense_units, activation="relu", name="head_dense")(x)
    outputs = layers.Dense(num_classes, activation="softmax", name="probabilities")(x)
    # Dict inputs: every kerasuite model is fed {input_name: array}, in training and on devices.
    return keras.Model({input_name: image}, outputs, name=name)
