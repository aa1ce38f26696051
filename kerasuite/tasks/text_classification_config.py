"""text_classification's config: text data, the ``lstm``, ``transformer`` and ``ngram`` families, presets.
No TensorFlow here."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from kerasuite.config import DataConfig, ModelConfig, TaskSpec
from kerasuite.data.settings import TextDataConfig
from kerasuite.hparams import LstmConfig, NgramConfig, TransformerConfig


@dataclass
class TextData(DataConfig):
    schemes: ClassVar[tuple[str, ...]] = ("tfds", "folder", "csv", "synthetic")
    synthetic_generator: ClassVar[str] = "topics"

    source: str = "tfds:imdb_reviews"
    text: TextDataConfig = field(default_factory=TextDataConfig)


@dataclass
class TextModels(ModelConfig):
    families: ClassVar = {"lstm": ("lstm",), "transformer": ("transformer",), "ngram": ("ngram",)}

    # ngram: the family closest to TF-IDF + logistic regression on three real corpora (still below
    # it), in a fraction of the sequence models' training time (README, "Text on three real corpora")
    family: str = "ngram"
    lstm: LstmConfig = field(default_factory=LstmConfig)
    transformer: TransformerConfig = field(default_factory=TransformerConfig)
    ngram: NgramConfig = field(default_factory=NgramConfig)


SPEC = TaskSpec(
    name="text_classification",
    implementation="kerasuite.tasks.text_classification:TextClassification",
    data=TextData,
    model=TextModels,
    integer_inputs=True,
    presets={
        # Small text sets overfit within a few epochs, and val_loss turns up several epochs before
        # val accuracy stops rising (fortunes corpus: the transformer's best accuracy came at
        # epoch 8 of 13, its lowest val_loss at epoch 2), so stop on accuracy and keep the best.
        "default": {"train.epochs": 30, "train.early_stopping_patience": 5, "train.early_stopping_metric": "accuracy"},
        # quick and tiny size an lstm (the family their figures and tests describe); --model overrides
        "quick": {"model.family": "lstm", "data.source": "synthetic:topics", "data.text.max_tokens": 1000,
                  "data.text.sequence_length": 48,
                  "model.lstm.embedding_dim": 16, "model.lstm.units": (16,), "train.epochs": 2},
        "tiny": {"model.family": "lstm", "data.source": "synthetic:topics", "data.text.max_tokens": 400, "data.text.sequence_length": 24,
                 "model.lstm.embedding_dim": 8, "model.lstm.units": (8,), "train.batch_size": 32,
                 "train.epochs": 8,  # 2 epochs leave near-uniform outputs that int8 rounding reorders
                 "train.learning_rate": 0.01},
    },
    family_presets={
        # The linear TF-IDF model is solved before Keras trains (model.ngram.solver); with the
        # default NB solver its table is frozen and the epochs only record validation metrics, with
        # the other solvers a short cosine schedule settles it. Words without punctuation, as the
        # peer's \b\w\w+\b: the character n-grams of the whole text keep the punctuation (manual
        # pages' "()", "_" and "/" carry the section), model.ngram.char_scope=text.
        "ngram": {"data.text.standardize": "lower_and_strip_punctuation", "train.epochs": 10,
                  "train.lr_schedule": "cosine", "train.batch_size": 32},
    },
)
