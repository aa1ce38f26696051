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

import keras
from keras import layers, ops

from kerasuite.hparams import TwoTowerConfig
from kerasuite.models.layers.candidate_top_k import CandidateTopK
from kerasuite.models.layers.catalogue_features import CatalogueFeatures
from kerasuite.models.layers.catalogue_logits import CatalogueLogits
from kerasuite.models.layers.history_dropout import HistoryDropout
from kerasuite.models.layers.in_batch_logits import InBatchLogits
from kerasuite.models.layers.index_embedding import IndexEmbedding
from kerasuite.models.layers.interest_pooling import InterestPooling
from kerasuite.models.layers.masked_mean_pooling import MaskedMeanPooling
from kerasuite.models.layers.masked_sqrt_pooling import MaskedSqrtPooling
from kerasuite.models.layers.padding_mask import PaddingMask

QUERY_TOWER = "query_tower"
CANDIDATE_TOWER = "candidate_tower"
CATALOGUE_LAYER = "catalogue_features"


@dataclasses.dataclass(frozen=True)
class RecsysInputSizes:
    """Vocabulary sizes of the id and side-feature inputs (0 = the feature is absent)."""

    num_users: int  # including the OOV row 0
    num_items: int  # including the unknown row 0
    num_genres: int = 0
    title_vocabulary: int = 0  # token indices incl. padding 0 and OOV 1
    title_length: int = 0
    sampling_correction: bool = False


def input_sizes(arrays, sampling_correction: bool = False) -> RecsysInputSizes:
    """The sizes of a ``kerasuite.data.recsys.RecsysArrays`` set's id and side-feature inputs."""
    return RecsysInputSizes(
        num_users=arrays.num_users, num_items=arrays.num_items,
        num_genres=arrays.item_genres.shape[1],
        title_vocabulary=len(arrays.title_tokens) + 2 if arrays.has_titles else 0,
        title_length=arrays.item_title_ids.shape[1] if arrays.has_titles else 0,
        sampling_correction=sampling_correction,
    )


def build_topk_model(query_tower: keras.Model, candidate_embeddings, k: int, history_length: int = 0) -> keras.Model:
    """``user_index [+ history] -> {"scores", "candidate_row"}``: the query tower followed by
    brute-force top-k over a constant candidate matrix, so a device gets recommendations from one
    invoke. With a history its items are never returned (already seen; the evaluation and the
    query-tower path of ``kerasuite.runtime.recsys`` skip them too)."""
    num_candidates, dim = candidate_embeddings.shape
    retrieval = CandidateTopK(num_candidates, dim, k=min(k, num_candidates), name="top_k")
    retrieval.update_candidates(candidate_embeddings)
    inputs = query_inputs(history_length)
    # candidate row = item index - 1, so the padding index 0 becomes row -1: nothing excluded
    seen_rows = inputs["history"] - 1 if history_length else None
    scores, rows = retrieval(query_tower(inputs), exclude_rows=seen_rows)
    return keras.Model(inputs, {"scores": scores, "candidate_row": rows}, name="retrieve_top_k")


def _mlp(x, hidden_units: tuple[int, ...], output_dim: int, prefix: str, suffix: str = ""):
    for position, units in enumerate(hidden_units):
        x = layers.Dense(units, activation="relu", name=f"{prefix}_hidden_{position}{suffix}")(x)
    x = layers.Dense(output_dim, name=f"{prefix}_projection{suffix}")(x)
    # Unit-length embeddings: the temperature then sets the logit scale, and int8 quantization
    # of the query tower sees a bounded output range.
    return layers.UnitNormalization(name=f"{prefix}_normalize{suffix}")(x)


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


def title_mean(sizes: RecsysInputSizes, dim: int, prefix: str, suffix: str = ""):
    """``title token ids -> mean of their embeddings`` over the real tokens, zeros for an empty
    title. Keras' masked GlobalAveragePooling1D divides by the token count, so an item with no
    title tokens (the unknown-item row 0 of every feature table, a new item on a device) got 0/0:
    NaN from the float files, and a refused DIV by zero, crashing the invoke, in int8."""
    embedding = layers.Embedding(sizes.title_vocabulary, dim, name=f"{prefix}_title_embedding{suffix}")
    mask = PaddingMask(name=f"{prefix}_title_mask{suffix}")
    pooling = MaskedMeanPooling(name=f"{prefix}_title_mean{suffix}")
    return lambda tokens: pooling([embedding(tokens), mask(tokens)])


def item_feature_vector(inputs: dict, sizes: RecsysInputSizes, dim: int, prefix: str, item_embedding=None,
                        suffix: str = ""):
    """Item id embedding (``item_embedding`` when shared with the query tower) concatenated with
    the optional genre and title sub-towers."""
    item_embedding = item_embedding or layers.Embedding(sizes.num_items, dim, name=f"{prefix}_item_embedding{suffix}")
    parts = [item_embedding(inputs["item_index"])]
    if "item_genres" in inputs:
        parts.append(layers.Dense(dim, name=f"{prefix}_genre_projection{suffix}")(inputs["item_genres"]))
    if "item_title" in inputs:
        parts.append(title_mean(sizes, dim, prefix, suffix)(inputs["item_title"]))
    return parts[0] if len(parts) == 1 else layers.Concatenate(name=f"{prefix}_item_features{suffix}")(parts)


def _candidate_path(cfg: TwoTowerConfig, sizes: RecsysInputSizes, item_embedding):
    """``features dict -> unit candidate embedding`` with every layer created once, so the same
    weights can score the batch's candidates and the whole catalogue."""
    dim = cfg.embedding_dim
    genres = layers.Dense(dim, name="candidate_genre_projection") if sizes.num_genres else None
    title = title_mean(sizes, dim, "candidate") if sizes.title_vocabulary and sizes.title_length else None
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
            parts.append(title(inputs["item_title"]))
        x = concat(parts) if concat is not None else parts[0]
        for layer in hidden:
            x = layer(x)
        return normalize(projection(x))

    return apply


def build_query_tower(cfg: TwoTowerConfig, sizes: RecsysInputSizes) -> keras.Model:
    inputs = query_inputs()
    x = IndexEmbedding(sizes.num_users, cfg.embedding_dim, name="user_embedding")(inputs["user_index"])
    return keras.Model(inputs, _mlp(x, cfg.hidden_units, cfg.embedding_dim, "query"), name=QUERY_TOWER)


def history_query_vector(cfg: TwoTowerConfig, sizes: RecsysInputSizes, inputs: dict, item_embedding,
                         suffix: str = ""):
    """The query side of :func:`build_history_two_tower`: the history items' embeddings (the
    layer the candidate tower uses too) pooled over the real positions (``cfg.history_pooling``:
    sum / sqrt(n) or mean), with the user id embedding beside it
    when ``cfg.use_user_id`` (index 0, the OOV row, for a user the model never saw). With
    ``cfg.interests`` > 1 the history is attention-pooled into that many vectors instead, and
    the result is ``[batch, interests, dim]``."""
    # Builtin TFLite ops only (NOT_EQUAL, CAST, MUL, SUM, MAXIMUM, SQRT, DIV): no SELECT, which TFLM
    # lacks for int32.
    not_padding = ops.not_equal(inputs["history"], 0)
    if cfg.interests > 1:
        if cfg.use_user_id:  # the run's config check refuses this before TensorFlow starts
            raise ValueError("model.two_tower.interests > 1 does not combine with model.two_tower.use_user_id")
        pooling = InterestPooling(cfg.interests, cfg.interest_attention_units, name=f"history_interests{suffix}")
    elif cfg.history_pooling == "sqrt":
        pooling = MaskedSqrtPooling(name=f"history_sqrt{suffix}")
    else:
        pooling = MaskedMeanPooling(name=f"history_mean{suffix}")
    x = pooling([item_embedding(inputs["history"]), not_padding])
    if cfg.use_user_id:
        user = IndexEmbedding(sizes.num_users, cfg.embedding_dim, name=f"user_embedding{suffix}")(inputs["user_index"])
        x = layers.Concatenate(name=f"query_features{suffix}")([x, user])
    return _mlp(x, cfg.hidden_units, cfg.embedding_dim, "query", suffix)


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
    if cfg.members > 1:
        return _history_ensemble(cfg, sizes)
    item_embedding = IndexEmbedding(sizes.num_items, cfg.embedding_dim, name="item_embedding")
    query_in = query_inputs(cfg.history_length)
    candidate_in = candidate_inputs(sizes)
    # training only; the dropped items are no negatives of this user's (the masks below read the draw)
    history = HistoryDropout(cfg.history_dropout, name="history_dropout")(query_in["history"])
    query = history_query_vector(cfg, sizes, {**query_in, "history": history}, item_embedding)
    if cfg.softmax == "catalogue":
        candidate_path = _candidate_path(cfg, sizes, item_embedding)
        candidate = candidate_path(candidate_in)  # first: the node the exported candidate tower is cut from
        catalogue_in = CatalogueFeatures(sizes.num_items, sizes.num_genres,
                                         sizes.title_length if sizes.title_vocabulary else 0,
                                         name=CATALOGUE_LAYER)(candidate_in["item_index"])
        catalogue = candidate_path(dict(zip(("item_index", "item_genres", "item_title"), catalogue_in)))
        logits = CatalogueLogits(cfg.temperature, name="catalogue_logits")(
            query, catalogue, candidate, history)
        return keras.Model({**query_in, **candidate_in}, logits, name="history_two_tower")
    candidate = _mlp(item_feature_vector(candidate_in, sizes, cfg.embedding_dim, "candidate", item_embedding),
                     cfg.hidden_units, cfg.embedding_dim, "candidate")
    inputs, probability = _training_inputs(query_in, candidate_in, sizes)
    logits = InBatchLogits(cfg.temperature, cfg.remove_accidental_hits, sizes.sampling_correction,
                           name="in_batch_logits")(query, candidate, candidate_in["item_index"], probability,
                                                   query_history=history)
    return keras.Model(inputs, logits, name="history_two_tower")


def _history_ensemble(cfg: TwoTowerConfig, sizes: RecsysInputSizes) -> keras.Model:
    """``cfg.members`` history two-towers side by side, sharing only the inputs: each member has
    its own item embedding, towers, in-batch softmax and draw of dropped history items
    (``cfg.history_dropout``), so each learns what it would alone and the members' errors partly
    cancel when their scores are added.
    The output is the members' ``[batch, batch]`` logit blocks side by side, ``[batch, members *
    batch]``, which :class:`~kerasuite.models.losses.InBatchSoftmaxLoss` averages block by block;
    :func:`towers` concatenates the members' unit embeddings, so one dot product adds the scores."""
    if cfg.interests > 1 or cfg.softmax != "in_batch":
        raise ValueError("model.two_tower.members > 1 needs interests=1 and the in-batch softmax")
    query_in = query_inputs(cfg.history_length)
    candidate_in = candidate_inputs(sizes)
    inputs, probability = _training_inputs(query_in, candidate_in, sizes)
    blocks = []
    for member in range(cfg.members):
        suffix = f"_{member}"
        item_embedding = IndexEmbedding(sizes.num_items, cfg.embedding_dim, name=f"item_embedding{suffix}")
        # each member its own draw of dropped history items: a shared draw makes the members agree
        history = HistoryDropout(cfg.history_dropout, name=f"history_dropout{suffix}")(query_in["history"])
        query = history_query_vector(cfg, sizes, {**query_in, "history": history}, item_embedding, suffix)
        candidate = _mlp(item_feature_vector(candidate_in, sizes, cfg.embedding_dim, "candidate", item_embedding, suffix),
                         cfg.hidden_units, cfg.embedding_dim, "candidate", suffix)
        # the member's own draw masks the in-batch candidates, as one tower's does
        blocks.append(InBatchLogits(cfg.temperature, cfg.remove_accidental_hits, sizes.sampling_correction,
                                    name=f"in_batch_logits{suffix}")(
            query, candidate, candidate_in["item_index"], probability, query_history=history))
    logits = layers.Concatenate(axis=1, name="member_logits")(blocks)
    return keras.Model(inputs, logits, name="history_two_tower")


def _training_inputs(query_in: dict, candidate_in: dict, sizes: RecsysInputSizes):
    """The trainable model's inputs (both towers', plus the items' sampling probability for the
    logQ correction when ``sizes.sampling_correction``) and that probability input (or None)."""
    inputs = {**query_in, **candidate_in}
    probability = None
    if sizes.sampling_correction:
        probability = keras.Input(shape=(), dtype="float32", name="item_sampling_probability")
        inputs["item_sampling_probability"] = probability
    return inputs, probability


def member_count(model: keras.Model) -> int:
    """How many tower pairs :func:`build_history_two_tower` put side by side in ``model`` (1 when
    it has no members)."""
    names = {layer.name for layer in model.layers}
    count = 0
    while f"query_normalize_{count}" in names:
        count += 1
    return max(count, 1)


def _assemble(cfg: TwoTowerConfig, sizes: RecsysInputSizes, query_tower: keras.Model, candidate_tower: keras.Model,
              history_length: int, name: str = "two_tower") -> keras.Model:
    query_in = query_inputs(history_length)
    candidate_in = candidate_inputs(sizes)
    inputs, probability = _training_inputs(query_in, candidate_in, sizes)
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
    query = keras.Model({k: inputs[k] for k in query_names}, _tower_output(model, "query"), name=QUERY_TOWER)
    candidate = keras.Model({k: v for k, v in inputs.items() if k in ("item_index", "item_genres", "item_title")},
                            _tower_output(model, "candidate"), name=CANDIDATE_TOWER)
    return query, candidate


def _tower_output(model: keras.Model, side: str):
    """The ``side`` ("query" or "candidate") tower's unit embedding in a flat history model; with
    several members their embeddings concatenated (score = sum of the members' dot products)."""
    members = member_count(model)
    if members == 1:
        return model.get_layer(f"{side}_normalize").output
    return layers.Concatenate(name=f"{side}_members")(
        [model.get_layer(f"{side}_normalize_{member}").output for member in range(members)])
