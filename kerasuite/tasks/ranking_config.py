"""ranking's config: interaction data, the ``dcn`` and ``mlp`` families, presets. No TensorFlow here."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from kerasuite.config import DataConfig, ModelConfig, TaskSpec
from kerasuite.data.settings import RecsysDataConfig
from kerasuite.hparams import EaseConfig, RankingConfig


@dataclass
class RankingData(DataConfig):
    schemes: ClassVar[tuple[str, ...]] = ("tfds", "csv", "synthetic")
    synthetic_generator: ClassVar[str] = "clusters"

    source: str = "tfds:movielens/100k-ratings"
    recsys: RecsysDataConfig = field(default_factory=RecsysDataConfig)

    def validate(self, prefix: str) -> None:
        super().validate(prefix)
        from kerasuite.data.movielens import check_csv_source  # standard library only

        check_csv_source(self.source, self.recsys)


@dataclass
class RankingModels(ModelConfig):
    families: ClassVar = {"dcn": ("ranking",), "mlp": ("ranking",)}

    family: str = "dcn"
    ranking: RankingConfig = field(default_factory=RankingConfig)
    ease: EaseConfig = field(default_factory=EaseConfig)  # implicit mode's EASE AUC baseline


SPEC = TaskSpec(
    name="ranking",
    implementation="kerasuite.tasks.ranking:Ranking",
    data=RankingData,
    model=RankingModels,
    integer_inputs=True,
    presets={
        "default": {
            # 16 steps per call: a step computes for ~2-3 ms, and Keras' per-call Python overhead
            # made one step per call 1.3-1.4x slower (tools/benchmarking/steps_per_execution.py).
            "train.epochs": 6, "train.batch_size": 256, "train.learning_rate": 0.003, "train.steps_per_execution": 16,
            "export.parity.float32.max_abs_diff": 1e-3, "export.parity.float32.min_agreement": None,
            "export.parity.float16.max_abs_diff": 2e-2, "export.parity.float16.min_agreement": None,
            # quantized scores: judged by the metric they feed (0.02 rmse or auc)
            "export.parity.dynamic.min_agreement": None, "export.parity.dynamic.max_metric_drop": 0.02,
            # Full-integer DCN scores are right on average (mean |diff| 0.03 rating points,
            # rmse +0.003) but ~5% of pairs move by 0.1-0.65 points, because the cross layers
            # multiply quantized activations: the metric judges them, and the per-example bound
            # is loose (the device's golden check takes twice what the file showed instead).
            "export.parity.int8.min_agreement": None, "export.parity.int8.max_metric_drop": 0.02,
            "export.parity.int8.max_abs_diff": 1.0,
        },
        "quick": {"data.source": "synthetic:clusters,users=300,items=200", "model.ranking.embedding_dim": 8,
                  "model.ranking.hidden_units": (32, 16), "train.epochs": 2},
        "tiny": {"data.source": "synthetic:clusters,users=60,items=40,clusters=4,per_user=8",
                 "model.ranking.embedding_dim": 4, "model.ranking.hidden_units": (8,), "model.ranking.cross_layers": 1,
                 "train.batch_size": 32},
    },
)
