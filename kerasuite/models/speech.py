"""Keyword-spotting models: raw waveform in, class probabilities out, MFCC front end inside.

- ``build_ds_cnn``: the depthwise-separable CNN of "Hello Edge: Keyword Spotting on
  Microcontrollers" (Zhang et al., 2017): a strided conv over the MFCC map, then blocks of
  depthwise 3x3 + pointwise 1x1 conv, global average pooling and a softmax layer.
- ``build_speech_cnn``: the shared image conv stack (``kerasuite.models.vision``) over the MFCC map.
- ``build_bc_resnet``: broadcasted residual blocks ("Broadcasted Residual Learning for Efficient
  Keyword Spotting", Kim et al., 2021): a depthwise conv along the coefficient axis keeps the 2-D
  map, its average over that axis goes through a dilated depthwise conv along time and a 1x1 conv,
  and the 1-D result is broadcast back onto the map. Departures from the paper, for int8 and
  microcontroller runtimes: BatchNormalization instead of SubSpectral normalisation, ReLU instead of
  swish, the ds_cnn head (global average, softmax layer); and the input is the 10-coefficient MFCC
  map every family shares, not 40 log-mel bands.

Both take ``{"waveform": float32 [batch, samples]}``, so the exported model needs no DSP on the
device. A per-coefficient BatchNormalization sits between the front end and the network: MFCC
coefficients differ in scale by two orders of magnitude (c0 spans ~100 dB-units), and it folds
to one MUL+ADD in TFLite.

BatchNormalization's moving statistics are what the trained model uses at inference; they start
at mean 0 / variance 1 and move by ``1 - momentum`` per optimizer step. With momentum 0.9, 16
steps (a small set at batch 64 for 8 epochs) leave 19% of the initial values in them and the
model predicts one class whatever it learnt; ``batch_norm_momentum`` ties the momentum to the
planned steps so the initial values are forgotten in every run.
"""

from __future__ import annotations

import math

import keras
from keras import layers

from kerasuite.hparams import (
    BC_RESNET_STAGE_CHANNELS,
    BC_RESNET_STAGE_COEFFICIENT_STRIDE,
    BC_RESNET_STAGE_DILATION,
    BcResNetConfig,
    CnnConfig,
    DsCnnConfig,
    KwsTrainingConfig,
    MfccConfig,
)
from kerasuite.models.layers.cepstral_warp import (
    CepstralWarp,
    band_centres_hz,
    cepstral_warp_bank,
)
from kerasuite.models.layers.logit_penalty import LogitPenalty
from kerasuite.models.layers.mfcc import Mfcc
from kerasuite.models.layers.nucleus_mask import NucleusMask
from kerasuite.models.layers.spec_augment import SpecAugment
from kerasuite.models.vision import build_conv_stack

# What is left of the initial moving statistics at the end of training, at most.
_INITIAL_STATISTICS_RESIDUE = 1e-3
# The momentum of long runs: the moving averages then cover the last ~10 steps.
_MAX_MOMENTUM = 0.9


def batch_norm_momentum(planned_steps: int) -> float:
    """The BatchNormalization momentum for a run of ``planned_steps`` optimizer steps: 0.9 when
    that forgets the initial statistics (``0.9 ** steps <= 1e-3``: 66 steps or more), lower for
    short runs so that ``momentum ** steps`` still reaches 1e-3."""
    steps = max(1, int(planned_steps))
    return min(_MAX_MOMENTUM, math.exp(math.log(_INITIAL_STATISTICS_RESIDUE) / steps))


def set_batch_norm_momentum(model: keras.Model, momentum: float) -> None:
    """Every BatchNormalization layer of ``model``, nested models included (before training)."""
    for layer in model._flatten_layers(include_self=False, recursive=True):
        if isinstance(layer, layers.BatchNormalization):
            layer.momentum = float(momentum)


def mfcc_layer(cfg: MfccConfig, sample_rate: int) -> Mfcc:
    return Mfcc(
        sample_rate=sample_rate, frame_length=cfg.frame_length, frame_step=cfg.frame_step,
        fft_length=cfg.fft_length, num_mel_bins=cfg.num_mel_bins, num_coefficients=cfg.num_coefficients,
        lower_hz=cfg.lower_hz, upper_hz=cfg.upper_hz, power=cfg.power, peak_floor=cfg.peak_floor,
        magnitude_cap=cfg.magnitude_cap, mel_cap=cfg.mel_cap, amin=cfg.amin, top_db=cfg.top_db,
        lifter=cfg.lifter, db_offset=cfg.db_offset, mel_low_gain=cfg.mel_low_gain,
        pairwise_max=cfg.pairwise_max,
        magnitude_directions=cfg.magnitude_directions, frames_per_group=cfg.frames_per_group, name="mfcc",
    )


def _mfcc_map(mfcc: MfccConfig, sample_rate: int, num_samples: int, input_name: str,
              training: KwsTrainingConfig | None = None):
    """Waveform input -> normalised MFCC map ``[frames, coefficients, 1]`` (in training, warped
    and SpecAugment-masked when ``training`` asks for them)."""
    waveform = keras.Input(shape=(num_samples,), name=input_name)
    front_end = mfcc_layer(mfcc, sample_rate)
    frames = front_end.num_frames(num_samples)
    x = front_end(waveform)
    if training is not None and training.vocal_tract_warp:
        bank = cepstral_warp_bank(front_end.dct_matrix, band_centres_hz(
            mfcc.num_mel_bins, mfcc.lower_hz, mfcc.upper_hz), training.vocal_tract_warp)
        x = CepstralWarp(bank, name="vocal_tract_warp")(x)
    coefficients = x
    x = layers.Reshape((frames, mfcc.num_coefficients, 1), name="mfcc_map")(x)
    x = layers.BatchNormalization(axis=2, momentum=0.9, name="mfcc_norm")(x)
    if training is not None and training.nucleus_mask_probability:
        x = NucleusMask(training.nucleus_mask_probability, training.nucleus_mask_db,
                        float(front_end.dct_matrix[:, 0].sum()), name="nucleus_mask")([x, coefficients])
    if training is not None and (training.time_masks or training.frequency_masks):
        x = SpecAugment(training.time_masks, training.time_mask_frames, training.frequency_masks,
                        training.frequency_mask_coefficients, name="spec_augment")(x)
    return waveform, x


def _classifier(x, num_classes: int, training: KwsTrainingConfig | None):
    """Features -> class probabilities; with ``logit_penalty`` the logits are a tensor of their
    own and their squared norm is added to the training loss (spectral decoupling)."""
    if training is None or not training.logit_penalty:
        return layers.Dense(num_classes, activation="softmax", name="probabilities")(x)
    logits = layers.Dense(num_classes, name="logits")(x)
    logits = LogitPenalty(training.logit_penalty, name="logit_penalty")(logits)
    return layers.Softmax(name="probabilities")(logits)


def build_ds_cnn(
    cfg: DsCnnConfig,
    mfcc: MfccConfig,
    num_classes: int,
    sample_rate: int = 16000,
    num_samples: int = 16000,
    input_name: str = "waveform",
    training: KwsTrainingConfig | None = None,
) -> keras.Model:
    if cfg.filters < 1 or cfg.num_blocks < 0:
        raise ValueError(f"model.ds_cnn: filters must be >= 1 and num_blocks >= 0, got {cfg.filters}, {cfg.num_blocks}")
    waveform, x = _mfcc_map(mfcc, sample_rate, num_samples, input_name, training)
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
    outputs = _classifier(x, num_classes, training)
    return keras.Model({input_name: waveform}, outputs, name="ds_cnn")


def build_speech_cnn(
    cfg: CnnConfig,
    mfcc: MfccConfig,
    num_classes: int,
    sample_rate: int = 16000,
    num_samples: int = 16000,
    input_name: str = "waveform",
    training: KwsTrainingConfig | None = None,
) -> keras.Model:
    waveform, x = _mfcc_map(mfcc, sample_rate, num_samples, input_name, training)
    stack = build_conv_stack(cfg, tuple(x.shape[1:]), num_classes, input_name="mfcc_map", name="cnn_stack")
    outputs = stack({"mfcc_map": x})
    return keras.Model({input_name: waveform}, outputs, name="cnn")


def _broadcast_block(x, channels: int, coefficient_stride: int, dilation: int, dropout: float, name: str):
    """One BC-ResNet block on ``[frames, coefficients, channels]``; a transition block (new width
    or a stride) starts with a 1x1 conv and has no identity shortcut."""
    transition = x.shape[-1] != channels or coefficient_stride != 1
    shortcut = x
    if transition:
        x = layers.Conv2D(channels, 1, use_bias=False, name=f"{name}_expand")(x)
        x = layers.BatchNormalization(momentum=0.9, name=f"{name}_expand_bn")(x)
        x = layers.ReLU(name=f"{name}_expand_relu")(x)
    two_d = layers.DepthwiseConv2D((1, 3), padding="same", use_bias=False, name=f"{name}_coefficient_depthwise")(x)
    if coefficient_stride != 1:
        # Subsample after a stride-1 conv rather than a (1, s) depthwise stride: TensorFlow's CPU
        # depthwise kernel refuses unequal strides on some CPUs (seen on AMD EPYC; it ran where
        # oneDNN took the op). A 1x1 max pool only picks every s-th coefficient (exact in int8);
        # for an odd coefficient count it equals the strided conv.
        two_d = layers.MaxPooling2D((1, 1), strides=(1, coefficient_stride), name=f"{name}_coefficient_subsample")(two_d)
    two_d = layers.BatchNormalization(momentum=0.9, name=f"{name}_coefficient_bn")(two_d)
    one_d = layers.AveragePooling2D((1, two_d.shape[2]), name=f"{name}_coefficient_mean")(two_d)
    one_d = layers.DepthwiseConv2D((3, 1), dilation_rate=(dilation, 1), padding="same", use_bias=False,
                                   name=f"{name}_temporal_depthwise")(one_d)
    one_d = layers.BatchNormalization(momentum=0.9, name=f"{name}_temporal_bn")(one_d)
    one_d = layers.ReLU(name=f"{name}_temporal_relu")(one_d)
    one_d = layers.Conv2D(channels, 1, name=f"{name}_pointwise")(one_d)
    if dropout:
        one_d = layers.SpatialDropout2D(dropout, name=f"{name}_dropout")(one_d)
    # [frames, 1, channels] broadcast over the coefficient axis: the "broadcasted residual"
    branches = [two_d, one_d] if transition else [shortcut, two_d, one_d]
    return layers.ReLU(name=f"{name}_relu")(layers.Add(name=f"{name}_add")(branches))


def build_bc_resnet(
    cfg: BcResNetConfig,
    mfcc: MfccConfig,
    num_classes: int,
    sample_rate: int = 16000,
    num_samples: int = 16000,
    input_name: str = "waveform",
    training: KwsTrainingConfig | None = None,
) -> keras.Model:
    cfg.validate("model.bc_resnet.")  # the builder is public: the same rule without the CLI
    waveform, x = _mfcc_map(mfcc, sample_rate, num_samples, input_name, training)
    x = layers.Conv2D(max(1, round(16 * cfg.width)), 5, strides=(1, 2), padding="same", use_bias=False, name="conv0")(x)
    x = layers.BatchNormalization(momentum=0.9, name="conv0_bn")(x)
    x = layers.ReLU(name="conv0_relu")(x)
    for stage, blocks in enumerate(cfg.blocks_per_stage):
        channels = max(1, round(BC_RESNET_STAGE_CHANNELS[stage] * cfg.width))
        for block in range(blocks):
            stride = BC_RESNET_STAGE_COEFFICIENT_STRIDE[stage] if block == 0 and x.shape[2] > 1 else 1
            x = _broadcast_block(x, channels, stride, BC_RESNET_STAGE_DILATION[stage], cfg.dropout,
                                 name=f"stage{stage}_block{block}")
    x = layers.DepthwiseConv2D(3, padding="same", use_bias=False, name="head_depthwise")(x)
    x = layers.Conv2D(max(1, round(32 * cfg.width)), 1, use_bias=False, name="head_pointwise")(x)
    x = layers.BatchNormalization(momentum=0.9, name="head_bn")(x)
    x = layers.ReLU(name="head_relu")(x)
    x = layers.GlobalAveragePooling2D(name="global_pool")(x)
    outputs = _classifier(x, num_classes, training)
    return keras.Model({input_name: waveform}, outputs, name="bc_resnet")


@keras.saving.register_keras_serializable(package="kerasuite")
class SmoothedSparseCrossentropy(keras.losses.Loss):
    """Cross-entropy against integer labels smoothed to ``1 - s + s/K`` / ``s/K`` (Keras' sparse
    loss has no ``label_smoothing``). Defined here, not in the task, so that
    ``import kerasuite.models`` registers it and a saved model.keras loads in any process."""

    def __init__(self, num_classes: int, label_smoothing: float, name: str = "smoothed_sparse_crossentropy", **kwargs):
        super().__init__(name=name, **kwargs)
        self.num_classes, self.label_smoothing = int(num_classes), float(label_smoothing)

    def call(self, y_true, y_pred):
        one_hot = keras.ops.one_hot(keras.ops.cast(keras.ops.reshape(y_true, (-1,)), "int32"), self.num_classes)
        return keras.losses.categorical_crossentropy(one_hot, y_pred, label_smoothing=self.label_smoothing)

    def get_config(self):
        return {**super().get_config(), "num_classes": self.num_classes, "label_smoothing": self.label_smoothing}
