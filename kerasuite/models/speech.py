"""Keyword-spotting models: raw waveform in, class probabilities out, MFCC front end inside.

- ``build_ds_cnn``: the depthwise-separable CNN of "Hello Edge: Keyword Spotting on
  Microcontrollers" (Zhang et al., 2017): a strided conv over the MFCC map, then blocks of
  depthwise 3x3 + pointwise 1x1 conv, global average pooling and a softmax layer.
- ``build_speech_cnn``: the shared image conv stack (``kerasuite.models.vision``) over the MFCC map.

Both take ``{"waveform": float32 [batch, samples]}``, so the exported model needs no DSP on the
device. A per-coefficient BatchNormalization sits between the front end and the network: MFCC
coefficients differ in scale by two orders of magnitude (c0 spans ~100 dB-units), and it folds
to one MUL+ADD in TFLite.
"""

from __future__ import annotations

import keras
from keras import layers

from kerasuite.hparams import CnnConfig, DsCnnConfig, MfccConfig
from kerasuite.models.layers.mfcc import Mfcc
from kerasuite.models.vision import build_conv_stack


def mfcc_layer(cfg: MfccConfig, sample_rate: int) -> Mfcc:
    return Mfcc(
        sample_rate=sample_rate, frame_length=cfg.frame_length, frame_step=cfg.frame_step,
        fft_length=cfg.fft_length, num_mel_bins=cfg.num_mel_bins, num_coefficients=cfg.num_coefficients,
        lower_hz=cfg.lower_hz, upper_hz=cfg.upper_hz, power=cfg.power, peak_floor=cfg.peak_floor,
        magnitude_cap=cfg.magnitude_cap, mel_cap=cfg.mel_cap, amin=cfg.amin, top_db=cfg.top_db, name="mfcc",
    )


def _mfcc_map(mfcc: MfccConfig, sample_rate: int, num_samples: int, input_name: str):
    """Waveform input -> normalised MFCC map ``[frames, coefficients, 1]``."""
    waveform = keras.Input(shape=(num_samples,), name=input_name)
    front_end = mfcc_layer(mfcc, sample_rate)
    frames = front_end.num_frames(num_samples)
    x = front_end(waveform)
    x = layers.Reshape((frames, mfcc.num_coefficients, 1), name="mfcc_map")(x)
    x = layers.BatchNormalization(axis=2, momentum=0.9, name="mfcc_norm")(x)
    return waveform, x


def build_ds_cnn(
    cfg: DsCnnConfig,
    mfcc: MfccConfig,
    num_classes: int,
    sample_rate: int = 16000,
    num_samples: int = 16000,
    input_name: str = "waveform",
) -> keras.Model:
    if cfg.filters < 1 or cfg.num_blocks < 0:
        raise ValueError(f"model.ds_cnn: filters must be >= 1 and num_blocks >= 0, got {cfg.filters}, {cfg.num_blocks}")
    waveform, x = _mfcc_map(mfcc, sample_rate, num_samples, input_name)
    x = layers.Conv2D(cfg.filters, cfg.first_kernel, strides=cfg.first_stride, padding="same",
                      use_bias=False, name="conv0")(x)
    x = layers.BatchNormalization(momentum=0.9, name="conv0_bn")(x)
    x = layers.ReLU(name="conv0_relu")(x)
    for block in range(cfg.num_blocks):
        x = layers.DepthwiseConv2D(3, padding="same", use_bias=False, name=f"block{block}_depthwise")(x)
        x = layers.BatchNormalization(momentum=0.9, name=f"block{block}_depthwise_bn")(x)
        x = layers.ReLU(name=f"block{block}_depthwise_relu")(x)
        x = layers.Conv2D(cfg.filters, 1, use_bias=False, name=f"block{block}_pointwise")(x)
        x = layers.BatchNormalization(momentum=0.9, name=f"block{block}_pointwise_bn")(x)
        x = layers.ReLU(name=f"block{block}_pointwise_relu")(x)
    x = layers.GlobalAveragePooling2D(name="global_pool")(x)
    if cfg.dropout:
        x = layers.Dropout(cfg.dropout, name="head_dropout")(x)
    outputs = layers.Dense(num_classes, activation="softmax", name="probabilities")(x)
    return keras.Model({input_name: waveform}, outputs, name="ds_cnn")


def build_speech_cnn(
    cfg: CnnConfig,
    mfcc: MfccConfig,
    num_classes: int,
    sample_rate: int = 16000,
    num_samples: int = 16000,
    input_name: str = "waveform",
) -> keras.Model:
    waveform, x = _mfcc_map(mfcc, sample_rate, num_samples, input_name)
    stack = build_conv_stack(cfg, tuple(x.shape[1:]), num_classes, input_name="mfcc_map", name="cnn_stack")
    outputs = stack({"mfcc_map": x})
    return keras.Model({input_name: waveform}, outputs, name="cnn")
