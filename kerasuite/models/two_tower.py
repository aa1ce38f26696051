"""Two-tower retrieval: a query tower (user) and a candidate tower (item + side features) trained
with an in-batch softmax built from keras-rs layers.

The trainable model maps a batch of (user, item) positives to a ``[batch, batch]`` logit matrix:
row i scores user i against every item in the batch, and the diagonal holds the positives. The
query tower alone is what ships; the candidate tower is run once over the catalogue to give the
candidate matrix a device scores against.

Ids arrive as integer indices (0 = out of vocabulary), mapped outside the graph, so the exported
query tower is a GATHER plus dense layers: builtin TFLite ops only, and an unknown user still
gets an embedding (the learned OOV row).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import keras
import keras_rs
from keras import layers, ops

from kerasuite.hparams import TwoTowerConfig
from kerasuite.models.layers.masked_mean_pooling import MaskedMeanPooling
from kerasuite.models.layers.masked_sqrt_pooling import MaskedSqrtPooling

QUERY_TOWER = "query_tower"
CANDIDATE_TOWER = "candidate_tower"
CATALOGUE_LAYER = "catalogue_features"
# A logit this low has exp() == 0 in float32 after the max-subtraction in softmax.
_MASKED_LOGIT = -1e9


@dataclasses.dataclass(frozen=True)
class RecsysInputSizes:
    """Vocabulary sizes of the id and side-feature inputs (0 = the feature is absent)."""

    num_users: int  # including the OOV row 0
    num_items: int  # including the unknown row 0
    num_genres: int = 0
    title_vocabulary: int = 0  # token indices incl. padding 0 and OOV 1
    title_length: int = 0
    sampling_correction: bool = False


@keras.saving.register_keras_serializable(package="kerasuite")
class IndexEmbedding(layers.Embedding):
    """``keras.layers.Embedding`` whose lookup converts to a bare TFLite GATHER.

    Keras' TensorFlow ``take`` wraps the indices in a negative-index fix-up (LESS, ADD and a
    SELECT_V2 on int32, which TFLM has no kernel for). Indices here are never negative (0 is the
    unknown/padding row), so the fix-up is dead weight in the exported query tower.
    """

    def call(self, inputs):
        if keras.backend.backend() != "tensorflow":
            return super().call(inputs)
        import tensorflow as tf

        return tf.gather(ops.convert_to_tensor(self.embeddings), ops.cast(inputs, "int32"))


@keras.saving.register_keras_serializable(package="kerasuite")
class AccidentalHitRemoval(keras_rs.layers.RemoveAccidentalHits):
    """keras-rs ``RemoveAccidentalHits`` with a mask that masks.

    keras-rs 0.4 adds ``smallest_normal / 100`` (about 1e-40) to the accidental hits, which leaves
    float32 logits unchanged (upstream PR keras-team/keras-rs#206), so the in-batch softmax kept
    penalising the model for scoring a user's positive item when it appears twice in a batch.
    Same call signature; the accidental hits get a logit of -1e9 instead.
    """

    def call(self, logits, labels, candidate_ids):
        positive = ops.argmax(labels, axis=-1)
        positive_ids = ops.take(candidate_ids, positive, axis=0)  # [batch]
        same_id = ops.equal(ops.expand_dims(positive_ids, -1), ops.expand_dims(candidate_ids, 0))
        accidental = ops.logical_and(same_id, ops.equal(labels, 0))
        return ops.where(accidental, ops.cast(_MASKED_LOGIT, logits.dtype), logits)


@keras.saving.register_keras_serializable(package="kerasuite")
class InBatchLogits(layers.Layer):
    """Scores every query in the batch against every candidate in the batch.

    ``logits[i, j] = <query_i, candidate_j> / temperature``; the positives sit on the diagonal.
    Optionally removes accidental hits (the same item appearing twice in a batch) and applies the
    logQ sampling-probability correction, both with keras-rs layers.
    """

    def __init__(self, temperature: float = 0.05, remove_accidental_hits: bool = True,
                 sampling_correction: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if temperature <= 0:
            raise ValueError(f"temperature must be positive, got {temperature}")
        self.temperature = temperature
        self.remove_accidental_hits = remove_accidental_hits
        self.sampling_correction = sampling_correction
        self._hits = AccidentalHitRemoval() if remove_accidental_hits else None
        self._correction = keras_rs.layers.SamplingProbabilityCorrection() if sampling_correction else None

    def build(self, *input_shapes):  # no weights of its own or in its keras-rs sub-layers
        self.built = True

    def call(self, query, candidate, candidate_ids, sampling_probability=None, query_history=None):
        logits = ops.matmul(query, ops.transpose(candidate)) / self.temperature
        if self._correction is not None:
            if sampling_probability is None:
                raise ValueError("sampling_correction=True needs the candidates' sampling probability")
            probability = ops.broadcast_to(ops.expand_dims(sampling_probability, 0), ops.shape(logits))
            logits = self._correction(logits, probability)
        if self._hits is not None:
            labels = ops.eye(ops.shape(logits)[0], dtype=logits.dtype)
            logits = self._hits(logits, labels, candidate_ids)
        if query_history is not None:
            # A candidate in the query's own history is a known positive of that user, not a
            # negative (and evaluation removes seen items anyway): mask it like an accidental hit.
            in_history = ops.any(ops.equal(ops.expand_dims(query_history, -1),
                                           ops.reshape(candidate_ids, (1, 1, -1))), axis=1)
            in_history = ops.logical_and(in_history, ops.expand_dims(ops.not_equal(candidate_ids, 0), 0))
            keep_positive = ops.logical_not(ops.cast(ops.eye(ops.shape(logits)[0]), "bool"))
            logits = ops.where(ops.logical_and(in_history, keep_positive),
                               ops.cast(_MASKED_LOGIT, logits.dtype), logits)
        return logits

    def compute_output_shape(self, query_shape, candidate_shape, *args):
        return (query_shape[0], candidate_shape[0])

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(temperature=self.temperature, remove_accidental_hits=self.remove_accidental_hits,
                      sampling_correction=self.sampling_correction)
        return config


@keras.saving.register_keras_serializable(package="kerasuite")
class InBatchSoftmaxLoss(keras.losses.Loss):
    """Softmax cross-entropy of ``[batch, batch]`` logits whose positives are the diagonal.

    ``y_true`` is ignored: the label of row i is column i by construction of the batch.
    """

    def call(self, y_true, y_pred):
        labels = ops.arange(ops.shape(y_pred)[0])
        return keras.losses.sparse_categorical_crossentropy(labels, y_pred, from_logits=True)


@keras.saving.register_keras_serializable(package="kerasuite")
class CandidateTopK(keras_rs.layers.BruteForceRetrieval):
    """keras-rs ``BruteForceRetrieval`` that survives a ``.keras`` round trip.

    The keras-rs 0.4 layer creates its candidate variable only in ``update_candidates`` (so a
    reloaded layer has nowhere to put the saved matrix) and its ``get_config`` stores a bound
    method under ``return_scores``. Here the matrix shape is a constructor argument, the variable
    is created in ``build`` and saved with the model, and the config is plain values. The output
    is ``(scores, candidate rows)`` of the top ``k`` by dot product; in TFLite that is
    FULLY_CONNECTED + TOPK_V2 with the matrix as a constant.
    """

    def __init__(self, num_candidates: int, embedding_dim: int, k: int = 10, **kwargs: Any) -> None:
        if not 1 <= k <= num_candidates:
            raise ValueError(f"k must be in [1, num_candidates={num_candidates}], got {k}")
        super().__init__(k=k, return_scores=True, **kwargs)
        self.num_candidates = num_candidates
        self.embedding_dim = embedding_dim

    def build(self, input_shape=None):
        if self.candidate_embeddings is None:
            self.candidate_embeddings = self.add_weight(
                shape=(self.num_candidates, self.embedding_dim), initializer="zeros",
                trainable=False, name="candidate_embeddings")
        self.built = True

    def update_candidates(self, candidate_embeddings, candidate_ids=None) -> None:
        if candidate_ids is not None:
            raise ValueError("CandidateTopK returns candidate rows; map rows to ids outside the graph")
        if not self.built:
            self.build()
        super().update_candidates(candidate_embeddings)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.k), (input_shape[0], self.k)

    def get_config(self) -> dict[str, Any]:
        config = layers.Layer.get_config(self)  # skips keras-rs's unserializable entry
        config.update(num_candidates=self.num_candidates, embedding_dim=self.embedding_dim, k=self.k)
        return config


def build_topk_model(query_tower: keras.Model, candidate_embeddings, k: int, history_length: int = 0) -> keras.Model:
    """``user_index [+ history] -> {"scores", "candidate_row"}``: the query tower followed by
    brute-force top-k over a constant candidate matrix, so a device gets recommendations from one
    invoke."""
    num_candidates, dim = candidate_embeddings.shape
    retrieval = CandidateTopK(num_candidates, dim, k=min(k, num_candidates), name="top_k")
    retrieval.update_candidates(candidate_embeddings)
    inputs = query_inputs(history_length)
    scores, rows = retrieval(query_tower(inputs))
    return keras.Model(inputs, {"scores": scores, "candidate_row": rows}, name="retrieve_top_k")


def _mlp(x, hidden_units: tuple[int, ...], output_dim: int, prefix: str):
    for position, units in enumerate(hidden_units):
        x = layers.Dense(units, activation="relu", name=f"{prefix}_hidden_{position}")(x)
    x = layers.Dense(output_dim, name=f"{prefix}_projection")(x)
    # Unit-length embeddings: the temperature then sets the logit scale, and int8 quantization
    # of the query tower sees a bounded output range.
    return layers.UnitNormalization(name=f"{prefix}_normalize")(x)


def query_inputs(history_length: int = 0) -> dict[str, keras.KerasTensor]:
    inputs = {"user_index": keras.Input(shape=(), dtype="int32", name="user_index")}
    if history_length:
        inputs["history"] = keras.Input(shape=(history_length,), dtype="int32", name="history")
    return inputs


def candidate_inputs(sizes: RecsysInputSizes) -> dict[str, keras.KerasTensor]:
    inputs = {"item_index": keras.Input(shape=(), dtype="int32", name="item_index")}
    if sizes.num_genres:
        inputs["item_genres"] = keras.Input(shape=(sizes.num_genres,), dtype="float32", name="item_genres")
    if sizes.title_vocabulary and sizes.title_length:
        inputs["item_title"] = keras.Input(shape=(sizes.title_length,), dtype="int32", name="item_title")
    return inputs


def item_feature_vector(inputs: dict, sizes: RecsysInputSizes, dim: int, prefix: str, item_embedding=None):
    """Item id embedding (``item_embedding`` when shared with the query tower) concatenated with
    the optional genre and title sub-towers."""
    item_embedding = item_embedding or layers.Embedding(sizes.num_items, dim, name=f"{prefix}_item_embedding")
    parts = [item_embedding(inputs["item_index"])]
    if "item_genres" in inputs:
        parts.append(layers.Dense(dim, name=f"{prefix}_genre_projection")(inputs["item_genres"]))
    if "item_title" in inputs:
        tokens = layers.Embedding(sizes.title_vocabulary, dim, mask_zero=True,
                                  name=f"{prefix}_title_embedding")(inputs["item_title"])
        parts.append(layers.GlobalAveragePooling1D(name=f"{prefix}_title_mean")(tokens))
    return parts[0] if len(parts) == 1 else layers.Concatenate(name=f"{prefix}_item_features")(parts)


def _candidate_path(cfg: TwoTowerConfig, sizes: RecsysInputSizes, item_embedding):
    """``features dict -> unit candidate embedding`` with every layer created once, so the same
    weights can score the batch's candidates and the whole catalogue."""
    dim = cfg.embedding_dim
    genres = layers.Dense(dim, name="candidate_genre_projection") if sizes.num_genres else None
    title = None
    if sizes.title_vocabulary and sizes.title_length:
        title = (layers.Embedding(sizes.title_vocabulary, dim, mask_zero=True, name="candidate_title_embedding"),
                 layers.GlobalAveragePooling1D(name="candidate_title_mean"))
    concat = layers.Concatenate(name="candidate_item_features") if genres or title else None
    hidden = [layers.Dense(units, activation="relu", name=f"candidate_hidden_{position}")
              for position, units in enumerate(cfg.hidden_units)]
    projection = layers.Dense(dim, name="candidate_projection")
    normalize = layers.UnitNormalization(name="candidate_normalize")

    def apply(inputs: dict):
        parts = [item_embedding(inputs["item_index"])]
        if genres is not None:
            parts.append(genres(inputs["item_genres"]))
        if title is not None:
            parts.append(title[1](title[0](inputs["item_title"])))
        x = concat(parts) if concat is not None else parts[0]
        for layer in hidden:
            x = layer(x)
        return normalize(projection(x))

    return apply


@keras.saving.register_keras_serializable(package="kerasuite")
class CatalogueFeatures(layers.Layer):
    """The candidate-tower inputs of every catalogue item (rows = item index 1..N), held as
    non-trainable weights so they are saved with the model. The call input only anchors the
    layer in the functional graph; its values are ignored."""

    def __init__(self, num_items: int, num_genres: int = 0, title_length: int = 0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.num_items = num_items
        self.num_genres = num_genres
        self.title_length = title_length

    def build(self, input_shape=None):
        rows = self.num_items - 1
        self.item_index = self.add_weight(shape=(rows,), dtype="int32", initializer="zeros",
                                          trainable=False, name="item_index")
        self.item_genres = (self.add_weight(shape=(rows, self.num_genres), initializer="zeros", trainable=False,
                                            name="item_genres") if self.num_genres else None)
        self.item_title = (self.add_weight(shape=(rows, self.title_length), dtype="int32", initializer="zeros",
                                           trainable=False, name="item_title") if self.title_length else None)
        self.built = True

    def set_catalogue(self, features: dict) -> None:
        if not self.built:
            self.build()
        self.item_index.assign(features["item_index"])
        if self.item_genres is not None:
            self.item_genres.assign(features["item_genres"])
        if self.item_title is not None:
            self.item_title.assign(features["item_title"])

    def call(self, anchor):
        out = [ops.convert_to_tensor(self.item_index)]
        out.append(ops.convert_to_tensor(self.item_genres) if self.item_genres is not None else ops.zeros((1,)))
        out.append(ops.convert_to_tensor(self.item_title) if self.item_title is not None else ops.zeros((1,), "int32"))
        return out

    def compute_output_shape(self, input_shape):
        rows = self.num_items - 1
        return [(rows,), (rows, self.num_genres) if self.num_genres else (1,),
                (rows, self.title_length) if self.title_length else (1,)]

    def compute_output_spec(self, anchor):
        shapes = self.compute_output_shape(None)
        dtypes = ["int32", "float32", "int32"]
        return [keras.KerasTensor(shape, dtype=dtype) for shape, dtype in zip(shapes, dtypes)]

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(num_items=self.num_items, num_genres=self.num_genres, title_length=self.title_length)
        return config


@keras.saving.register_keras_serializable(package="kerasuite")
class CatalogueLogits(layers.Layer):
    """``logits[i, r] = <query_i, catalogue_r> / temperature`` over every catalogue row, with the
    query's own history items (its other known positives) masked out; row r is item index r + 1.
    The label of example i is its item's row (:class:`CatalogueSoftmaxLoss`)."""

    def __init__(self, temperature: float = 0.05, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if temperature <= 0:
            raise ValueError(f"temperature must be positive, got {temperature}")
        self.temperature = temperature

    def build(self, *input_shapes):
        self.built = True

    def call(self, query, catalogue, positive, query_history):
        logits = ops.matmul(query, ops.transpose(catalogue)) / self.temperature
        batch, rows = ops.shape(logits)[0], ops.shape(logits)[1]
        history = ops.cast(query_history, "int32")
        # count of each item in the row's history, by scatter (a one-hot would be batch x length x N);
        # padding (index 0) lands in a spare last column that is cut off
        row_ids = ops.broadcast_to(ops.expand_dims(ops.arange(batch, dtype="int32"), 1), ops.shape(history))
        columns = ops.where(ops.equal(history, 0), rows, history - 1)
        indices = ops.reshape(ops.stack([row_ids, columns], axis=-1), (-1, 2))
        counts = ops.scatter(indices, ops.ones((ops.shape(indices)[0],), logits.dtype), (batch, rows + 1))
        masked = ops.where(counts[:, :rows] > 0, ops.cast(_MASKED_LOGIT, logits.dtype), logits)
        # The batch candidates' embedding enters with weight 0: it keeps the batch candidate path
        # (the one the exported candidate tower is cut from, with all its inputs) in the graph.
        return masked + 0.0 * ops.sum(query * positive, axis=-1, keepdims=True)

    def compute_output_shape(self, query_shape, catalogue_shape, *args):
        return (query_shape[0], catalogue_shape[0])

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(temperature=self.temperature)
        return config


@keras.saving.register_keras_serializable(package="kerasuite")
class CatalogueSoftmaxLoss(keras.losses.Loss):
    """Softmax cross-entropy over the catalogue; ``y_true`` is the positive item's row."""

    def call(self, y_true, y_pred):
        return keras.losses.sparse_categorical_crossentropy(ops.cast(y_true, "int32"), y_pred, from_logits=True)


def build_query_tower(cfg: TwoTowerConfig, sizes: RecsysInputSizes) -> keras.Model:
    inputs = query_inputs()
    x = IndexEmbedding(sizes.num_users, cfg.embedding_dim, name="user_embedding")(inputs["user_index"])
    return keras.Model(inputs, _mlp(x, cfg.hidden_units, cfg.embedding_dim, "query"), name=QUERY_TOWER)


def history_query_vector(cfg: TwoTowerConfig, sizes: RecsysInputSizes, inputs: dict, item_embedding):
    """The query side of :func:`build_history_two_tower`: the history items' embeddings (the
    layer the candidate tower uses too) pooled over the real positions (``cfg.history_pooling``:
    sum / sqrt(n) or mean), with the user id embedding beside it
    when ``cfg.use_user_id`` (index 0, the OOV row, for a user the model never saw)."""
    # Builtin TFLite ops only (NOT_EQUAL, CAST, MUL, SUM, MAXIMUM, SQRT, DIV): no SELECT, which TFLM
    # lacks for int32.
    not_padding = ops.not_equal(inputs["history"], 0)
    pooling = MaskedSqrtPooling(name="history_sqrt") if cfg.history_pooling == "sqrt" else MaskedMeanPooling(
        name="history_mean")
    x = pooling([item_embedding(inputs["history"]), not_padding])
    if cfg.use_user_id:
        user = IndexEmbedding(sizes.num_users, cfg.embedding_dim, name="user_embedding")(inputs["user_index"])
        x = layers.Concatenate(name="query_features")([x, user])
    return _mlp(x, cfg.hidden_units, cfg.embedding_dim, "query")


def build_candidate_tower(cfg: TwoTowerConfig, sizes: RecsysInputSizes, item_embedding=None) -> keras.Model:
    inputs = candidate_inputs(sizes)
    x = item_feature_vector(inputs, sizes, cfg.embedding_dim, "candidate", item_embedding)
    return keras.Model(inputs, _mlp(x, cfg.hidden_units, cfg.embedding_dim, "candidate"), name=CANDIDATE_TOWER)


def _check_dim(cfg: TwoTowerConfig) -> None:
    if cfg.embedding_dim < 1:
        raise ValueError(f"model.two_tower.embedding_dim must be positive, got {cfg.embedding_dim}")


def build_two_tower(cfg: TwoTowerConfig, sizes: RecsysInputSizes) -> keras.Model:
    """The trainable model: ``{user_index, item_index, item features...} -> [batch, batch] logits``.

    With ``sizes.sampling_correction`` it also takes ``item_sampling_probability`` (the item's
    share of training interactions) for the logQ correction.
    """
    _check_dim(cfg)
    return _assemble(cfg, sizes, build_query_tower(cfg, sizes), build_candidate_tower(cfg, sizes), 0)


def build_history_two_tower(cfg: TwoTowerConfig, sizes: RecsysInputSizes) -> keras.Model:
    """As :func:`build_two_tower`, with the query tower reading the user's history
    (``history``: int32 ``[batch, cfg.history_length]`` item indices, 0-padded) through the item
    embedding the candidate tower uses. In-batch candidates found in the query's history are
    masked out of the softmax (they are that user's positives, not negatives).

    The graph is flat (no nested tower models): Keras cannot reload nested models that share a
    layer, so :func:`towers` cuts the two towers out of it by layer name instead.
    """
    _check_dim(cfg)
    if cfg.history_length < 1:
        raise ValueError(f"model.two_tower.history_length must be positive, got {cfg.history_length}")
    item_embedding = IndexEmbedding(sizes.num_items, cfg.embedding_dim, name="item_embedding")
    query_in = query_inputs(cfg.history_length)
    candidate_in = candidate_inputs(sizes)
    query = history_query_vector(cfg, sizes, query_in, item_embedding)
    if cfg.softmax == "catalogue":
        candidate_path = _candidate_path(cfg, sizes, item_embedding)
        candidate = candidate_path(candidate_in)  # first: the node the exported candidate tower is cut from
        catalogue_in = CatalogueFeatures(sizes.num_items, sizes.num_genres,
                                         sizes.title_length if sizes.title_vocabulary else 0,
                                         name=CATALOGUE_LAYER)(candidate_in["item_index"])
        catalogue = candidate_path(dict(zip(("item_index", "item_genres", "item_title"), catalogue_in)))
        logits = CatalogueLogits(cfg.temperature, name="catalogue_logits")(
            query, catalogue, candidate, query_in["history"])
        return keras.Model({**query_in, **candidate_in}, logits, name="history_two_tower")
    candidate = _mlp(item_feature_vector(candidate_in, sizes, cfg.embedding_dim, "candidate", item_embedding),
                     cfg.hidden_units, cfg.embedding_dim, "candidate")
    inputs = {**query_in, **candidate_in}
    probability = None
    if sizes.sampling_correction:
        probability = keras.Input(shape=(), dtype="float32", name="item_sampling_probability")
        inputs["item_sampling_probability"] = probability
    logits = InBatchLogits(cfg.temperature, cfg.remove_accidental_hits, sizes.sampling_correction,
                           name="in_batch_logits")(query, candidate, candidate_in["item_index"], probability,
                                                   query_history=query_in["history"])
    return keras.Model(inputs, logits, name="history_two_tower")


def _assemble(cfg: TwoTowerConfig, sizes: RecsysInputSizes, query_tower: keras.Model, candidate_tower: keras.Model,
              history_length: int, name: str = "two_tower") -> keras.Model:
    query_in = query_inputs(history_length)
    candidate_in = candidate_inputs(sizes)
    inputs = {**query_in, **candidate_in}
    probability = None
    if sizes.sampling_correction:
        probability = keras.Input(shape=(), dtype="float32", name="item_sampling_probability")
        inputs["item_sampling_probability"] = probability
    logits = InBatchLogits(cfg.temperature, cfg.remove_accidental_hits, sizes.sampling_correction,
                           name="in_batch_logits")(
        query_tower(query_in), candidate_tower(candidate_in), candidate_in["item_index"], probability,
        query_in.get("history"))
    return keras.Model(inputs, logits, name=name)


def towers(model: keras.Model) -> tuple[keras.Model, keras.Model]:
    """The (query, candidate) sub-models of a model made by :func:`build_two_tower` (nested
    models) or :func:`build_history_two_tower` (cut out of the flat graph)."""
    names = {layer.name for layer in model.layers}
    if QUERY_TOWER in names:
        return model.get_layer(QUERY_TOWER), model.get_layer(CANDIDATE_TOWER)
    inputs = model.input
    query_names = ("user_index", "history")
    query = keras.Model({k: inputs[k] for k in query_names}, model.get_layer("query_normalize").output,
                        name=QUERY_TOWER)
    candidate = keras.Model({k: v for k, v in inputs.items() if k in ("item_index", "item_genres", "item_title")},
                            model.get_layer("candidate_normalize").output, name=CANDIDATE_TOWER)
    return query, candidate
