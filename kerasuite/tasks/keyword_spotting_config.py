"""keyword_spotting's config: audio data, the MFCC front end, the ``ds_cnn``, ``cnn`` and
``bc_resnet`` families, presets. No TensorFlow here."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from kerasuite.config import ConfigError, DataConfig, ModelConfig, RunConfig, TaskSpec
from kerasuite.data.settings import AudioDataConfig
from kerasuite.hparams import BcResNetConfig, CnnConfig, DsCnnConfig, KwsTrainingConfig, MfccConfig


@dataclass
class AudioData(DataConfig):
    schemes: ClassVar[tuple[str, ...]] = ("folder", "tfds", "synthetic")
    synthetic_generator: ClassVar[str] = "tones"

    source: str = "tfds:speech_commands"
    audio: AudioDataConfig = field(default_factory=AudioDataConfig)


@dataclass
class KeywordModels(ModelConfig):
    families: ClassVar = {"ds_cnn": ("mfcc", "kws_training", "ds_cnn"), "cnn": ("mfcc", "kws_training", "cnn"),
                          "bc_resnet": ("mfcc", "kws_training", "bc_resnet")}

    family: str = "ds_cnn"
    mfcc: MfccConfig = field(default_factory=MfccConfig)  # the front end every family shares
    ds_cnn: DsCnnConfig = field(default_factory=DsCnnConfig)
    cnn: CnnConfig = field(default_factory=CnnConfig)
    bc_resnet: BcResNetConfig = field(default_factory=BcResNetConfig)
    kws_training: KwsTrainingConfig = field(default_factory=KwsTrainingConfig)  # training-only measures


def check(config: RunConfig) -> None:
    nyquist = config.data.audio.sample_rate / 2
    if config.model.mfcc.upper_hz > nyquist:
        raise ConfigError(f"model.mfcc.upper_hz ({config.model.mfcc.upper_hz}) must be at most half of "
                          f"data.audio.sample_rate ({nyquist})")


SPEC = TaskSpec(
    name="keyword_spotting",
    implementation="kerasuite.tasks.keyword_spotting:KeywordSpotting",
    data=AudioData,
    model=KeywordModels,
    presets={
        "default": {
            # A cosine decay: at a constant rate the validation accuracy of these small models
            # swung by several points from one epoch to the next (0.93-0.99 over epochs 25-30).
            "train.epochs": 30, "train.batch_size": 64, "train.learning_rate": 3e-3, "train.lr_schedule": "cosine",
            # The image defaults (random translation/zoom of the picture) make no sense on an
            # MFCC map: time shift and noise already happen on the waveform. Three blocks: with
            # two (32, 64) the receptive field was ~0.2 s of a 1 s word and accuracy 0.86.
            "model.cnn.filters": (16, 32, 64), "model.cnn.convs_per_block": 1, "model.cnn.dense_units": 64,
            "model.cnn.augment": False,
        },
        "quick": {"data.source": "synthetic:tones", "model.ds_cnn.filters": 16, "model.ds_cnn.num_blocks": 2,
                  "train.epochs": 2},
        # 2 epochs at batch 32 (6 optimizer steps) left the tiny model at chance (0.25, the
        # majority baseline); 8 epochs at batch 16 and a higher rate reach 0.96 in ~30 s.
        "tiny": {"data.source": "synthetic:tones", "model.ds_cnn.filters": 8, "model.ds_cnn.num_blocks": 1,
                 "train.batch_size": 16, "train.epochs": 8, "train.learning_rate": 0.01},
    },
    check=check,
)
