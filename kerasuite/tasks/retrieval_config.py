"""retrieval's config: interaction data, the ``two_tower`` and ``history_two_tower`` families, presets. No TensorFlow here."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from kerasuite.config import ConfigError, DataConfig, ModelConfig, RunConfig, TaskSpec
from kerasuite.data.settings import RecsysDataConfig
from kerasuite.hparams import EaseConfig, TwoTowerConfig


@dataclass
class RetrievalData(DataConfig):
    schemes: ClassVar[tuple[str, ...]] = ("tfds", "csv", "synthetic")
    synthetic_generator: ClassVar[str] = "clusters"

    source: str = "tfds:movielens/100k-ratings"
    recsys: RecsysDataConfig = field(default_factory=RecsysDataConfig)

    def validate(self, prefix: str) -> None:
        super().validate(prefix)
        from kerasuite.data.movielens import check_csv_source  # standard library only

        check_csv_source(self.source, self.recsys)


@dataclass
class RetrievalModels(ModelConfig):
    families: ClassVar = {"two_tower": ("two_tower",), "history_two_tower": ("two_tower",)}

    family: str = "two_tower"
    two_tower: TwoTowerConfig = field(default_factory=TwoTowerConfig)
    ease: EaseConfig = field(default_factory=EaseConfig)  # the baseline beside every family


def check(config: RunConfig) -> None:
    two_tower = config.model.two_tower
    if two_tower.interests > 1 and config.model.family != "history_two_tower":
        raise ConfigError(f"model.two_tower.interests: several interests pool a history; "
                          f"--model {config.model.family} reads none (use --model history_two_tower)")
    if two_tower.members > 1:
        if config.model.family != "history_two_tower":
            raise ConfigError(f"model.two_tower.members: an ensemble of history towers; --model {config.model.family} "
                              f"has none (use --model history_two_tower)")
        if two_tower.interests > 1:
            raise ConfigError(f"model.two_tower.interests={two_tower.interests} does not combine with "
                              f"model.two_tower.members={two_tower.members} (history_two_tower's default is 3: the "
                              f"members' scores add up only as one vector each); add model.two_tower.members=1")
        if two_tower.softmax != "in_batch":
            raise ConfigError(f"model.two_tower.members={two_tower.members} trains each member on its in-batch softmax;"
                              f" model.two_tower.softmax={two_tower.softmax} is not supported with it")
    if two_tower.interests > 1 and two_tower.use_user_id:
        raise ConfigError(f"model.two_tower.interests={two_tower.interests} does not combine with "
                          f"model.two_tower.use_user_id=true; add model.two_tower.interests=1")


SPEC = TaskSpec(
    name="retrieval",
    implementation="kerasuite.tasks.retrieval:Retrieval",
    data=RetrievalData,
    model=RetrievalModels,
    check=check,
    integer_inputs=True,
    presets={
        "default": {
            # 16 steps per call, as ranking: millisecond steps (tools/benchmarking/steps_per_execution.py).
            "train.epochs": 8, "train.batch_size": 256, "train.learning_rate": 0.01, "train.steps_per_execution": 16,
            "export.parity.dynamic.min_agreement": 0.9, "export.parity.dynamic.max_metric_drop": 0.02,
            "export.parity.int8.min_agreement": 0.9, "export.parity.int8.max_metric_drop": 0.02,
        },
        "quick": {"data.source": "synthetic:clusters,users=300,items=200", "model.two_tower.embedding_dim": 16,
                  "model.two_tower.hidden_units": (32,), "model.two_tower.top_k": 50, "train.epochs": 2},
        "tiny": {"data.source": "synthetic:clusters,users=60,items=40,clusters=4,per_user=8",
                 "model.two_tower.embedding_dim": 8, "model.two_tower.hidden_units": (8,),
                 "model.two_tower.top_k": 20, "train.batch_size": 32, "train.epochs": 3},
    },
    family_presets={
        # The history tower pools many items into one vector and the Debian item-item structure is
        # high-rank (EASE's matrix cut to rank 32 gives recall@10 0.44, rank 128 0.56, full 0.69 on
        # the validation copy), so it gets a wider embedding, trained longer at a lower rate.
        # Validation copy of the Debian set, recall@10: 0.658 with two_tower's settings, 0.664 with
        # sqrt pooling, 0.672 also with rate 0.003 and 16 epochs, 0.681 also at dimension 128.
        # Batch 1024 (more in-batch negatives, 4x fewer steps): 0.687 / 0.683 against 0.675 / 0.680
        # at 256 (seeds 42 / 1, one session).
        # An average of the weights over about the last 100 steps (train.ema_momentum): on the
        # validation copy (EASE 0.691), seed 42, 16 interests gave 0.691 without it, 0.703 at 0.99 and
        # 0.703 at 0.995; on the Debian test split one vector goes from 0.718 to 0.729 (3 seeds).
        # 16 attention-pooled interests: Debian test split 0.738 against one vector's 0.729 (EASE
        # 0.739; 3 seeds), the other two sets within their noise, at about 3x the training time.
        # Three one-vector members side by side (model.two_tower.members), each with its own
        # history-dropout draw: Debian test split 0.743 against EASE's 0.739 and 16 interests'
        # 0.738 (3 seeds, ahead of EASE on each), validation copy 0.708 against 16 interests' 0.701,
        # at about 16 interests' training time (README, retrieval).
        "history_two_tower": {
            "model.two_tower.embedding_dim": 128, "model.two_tower.hidden_units": (256,),
            "model.two_tower.members": 3, "train.ema_momentum": 0.99,
            "train.learning_rate": 0.003, "train.epochs": 16, "train.batch_size": 1024,
        },
    },
)
