"""Text classification: IMDB from TFDS, folders of .txt files, text,label CSVs, synthetic topics.

The sequence families (lstm, transformer) take int32 token ids; the ``ngram`` family takes int32
n-gram ids (word unigrams, hashed word bigrams and character n-grams). The ``TextVectorization``
vocabulary is adapted on the training split and travels as ``vocab.txt`` (run folder and export
bundle); ``kerasuite.runtime.text`` repeats the tokenization and ``kerasuite.runtime.text_ngrams``
the n-gram ids on devices without TensorFlow (training computes the n-gram ids with that module).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from kerasuite.config import RunConfig
from kerasuite.data import text as text_data
from kerasuite.data.pipeline import array_rows, make_pipeline
from kerasuite.errors import UserError
from kerasuite.io_utils import write_npy_atomic, write_text_atomic
from kerasuite.models.attention import build_transformer_classifier
from kerasuite.models.layers.tfidf_bag import TfidfBag, inverse_document_frequency
from kerasuite.models.layers.token_and_position_embedding import (
    TokenAndPositionEmbedding,
)
from kerasuite.models import tfidf_solver
from kerasuite.models.ngram import build_ngram_classifier
from kerasuite.models.sequence import build_sequence_classifier
from kerasuite.runtime.device_spec import MediaPipeTokenization, TextSpec
from kerasuite.runtime.text import vocabulary_text
from kerasuite.runtime.text_ngrams import NgramFeaturizer, NgramSpec, kept_hashed_ids
from kerasuite.tasks.base import Heldout, Task, TaskData
from kerasuite.tasks.classification import ClassificationMixin
from kerasuite.tensorboard_projector import write_embedding_projector

INPUT_NAME = "tokens"
KEPT_IDS_FILE = "ngram_ids.npy"  # the kept hashed n-gram ids, in the bundle and the run folder
NGRAM_INPUT_NAME = "ngram_ids"  # its own name: runtimes (MediaPipe) tell n-gram ids from token ids by it
SAMPLE_TEXTS = 200  # first test texts the TensorBoard "true -> predicted" table picks its rows from
SAMPLE_ROWS = 16


@dataclasses.dataclass(frozen=True)
class SolverRows:
    train_ids: np.ndarray
    train_labels: np.ndarray
    validation_ids: np.ndarray | None
    validation_labels: np.ndarray | None


@dataclasses.dataclass(kw_only=True)
class TextTaskData(TaskData):
    """text classification's data as typed fields: the adapted vocabulary and how text becomes ids."""

    vocabulary: list[str]  # TextVectorization's tokens; id = position (0 padding, 1 OOV)
    sequence_length: int  # ids per text the model takes (the n-gram family: max_features)
    standardize: str  # data.text.standardize, repeated on devices
    ngrams: NgramSpec | None = None  # the ngram family's hashing; None for token-id families
    ngram_ids: int = 0  # the ngram family's id space (vocabulary + hash buckets, or + kept hashed ids)
    ngram_kept: np.ndarray | None = None  # the kept hashed ids (model.ngram.char_min_df >= 1), else None
    idf: np.ndarray | None = None  # the tfidf ngram model's per-id idf, from the training split
    # the linear ngram model's solver input: ids and labels of the training and validation splits
    solver_rows: "SolverRows | None" = None
    sample_texts: list[str] = dataclasses.field(default_factory=list)  # for TensorBoard's samples table
    sample_labels: list[int] = dataclasses.field(default_factory=list)

    @property
    def vocabulary_size(self) -> int:
        return len(self.vocabulary)


def _build(builder, family_cfg, data: TextTaskData) -> keras.Model:
    try:
        return builder(family_cfg, data.vocabulary_size, data.sequence_length,
                       len(data.labels), input_name=INPUT_NAME)
    except ValueError as error:  # builders name the offending config key
        raise UserError(str(error)) from None


def _build_lstm(config: RunConfig, data: TextTaskData) -> keras.Model:
    # cell=gru: the exporter unrolls each GRU as HoistedGRU (TFLite has no fused GRU op)
    return _build(build_sequence_classifier, config.model.lstm, data)


def _build_transformer(config: RunConfig, data: TextTaskData) -> keras.Model:
    return _build(build_transformer_classifier, config.model.transformer, data)


def _build_ngram(config: RunConfig, data: TextTaskData) -> keras.Model:
    try:
        model = build_ngram_classifier(config.model.ngram, data.ngram_ids, data.sequence_length,
                                       len(data.labels), input_name=NGRAM_INPUT_NAME, idf=data.idf,
                                       train_examples=data.num_train_examples, split_at=_character_ids_start(config, data))
    except ValueError as error:
        raise UserError(str(error)) from None
    if data.solver_rows is not None:
        rows = data.solver_rows
        solved = tfidf_solver.solve(model.get_layer("tfidf_bag"), rows.train_ids, rows.train_labels,
                                    rows.validation_ids, rows.validation_labels,
                                    config.model.ngram.c_candidates, len(data.labels),
                                    method=config.model.ngram.solve_method, int8_grid=config.model.ngram.int8_grid)
        scores = ", ".join(f"C={c:g}: {score:.4f}" for c, score in solved.candidates.items())
        print(f"ngram: logistic regression ({config.model.ngram.solve_method}) solved in {solved.seconds:.1f} s, C={solved.c:g}"
              + (f" (validation accuracy {scores})" if solved.validation_accuracy is not None
                 else " (no validation split: the first of model.ngram.c_candidates)"), flush=True)
    return model


def _character_ids_start(config: RunConfig, data: TextTaskData) -> int:
    """The first character n-gram id when the bag normalises word and character ids apart, else 0
    (the featurizer's layout: vocabulary, word bigram buckets, character buckets)."""
    cfg = config.model.ngram
    if cfg.weighting != "tfidf" or cfg.normalize != "apart" or not data.ngrams.char_buckets:
        return 0
    first_char = len(data.vocabulary) + data.ngrams.bigram_buckets
    if data.ngram_kept is None:
        return first_char
    return len(data.vocabulary) + int(np.searchsorted(data.ngram_kept, first_char))


def _layer_or_none(model: keras.Model, name: str):
    try:
        return model.get_layer(name)
    except ValueError:
        return None


def ngram_spec(config: RunConfig) -> NgramSpec:
    cfg = config.model.ngram
    spec = NgramSpec(cfg.max_features, cfg.bigram_buckets, cfg.char_buckets, cfg.char_min, cfg.char_max,
                     repeats=("once" if cfg.term_frequency == "binary" else "log2") if cfg.weighting == "tfidf" else "all",
                     kept_ids=KEPT_IDS_FILE if cfg.char_min_df else "", char_scope=cfg.char_scope)
    try:
        spec.check()
    except ValueError as error:
        raise UserError(str(error)) from None
    return spec


class TextClassification(ClassificationMixin, Task):
    name = "text_classification"
    families = {"lstm": _build_lstm, "transformer": _build_transformer, "ngram": _build_ngram}
    # Batch 1 baked into the export: the converter fuses an LSTM into UNIDIRECTIONAL_SEQUENCE_LSTM
    # only when its state has a static shape. Devices classify one text at a time anyway.
    export_batch_size = 1

    def build_report(self, model: keras.Model) -> dict:
        solved = getattr(_layer_or_none(model, "tfidf_bag"), "solved", None)
        return {"ngram_solver": tfidf_solver.report(solved)} if solved is not None else {}

    def load_data(self, config: RunConfig) -> TextTaskData:
        text_data.check_text_config(config.data.text)  # before reading a large source
        spec = ngram_spec(config) if config.model.family == "ngram" else None
        raw = text_data.load(config.data.source, config)
        vectorizer = text_data.build_vectorizer(raw.train.texts, config.data.text)
        vocabulary = [str(token) for token in vectorizer.get_vocabulary()]
        sequence_length, ngram_ids, idf, solver_rows, kept = config.data.text.sequence_length, 0, None, None, None
        if spec is None:
            vectorize = text_data.vectorize_fn(vectorizer, INPUT_NAME)

            def pipeline(split: text_data.TextSplit, training: bool) -> tf.data.Dataset:
                return make_pipeline(
                    text_data.as_dataset(split), training=training, batch_size=config.train.batch_size,
                    map_fn=vectorize, cache=config.data.cache, shuffle_buffer=config.data.shuffle_buffer,
                    seed=config.seed, auto_shard="DATA",
                )
        else:
            # The device's own featurizer computes the training ids: identical by construction.
            if spec.kept_ids:
                every_bucket = NgramFeaturizer(vocabulary, dataclasses.replace(spec, kept_ids=""),
                                               config.data.text.standardize)
                kept = kept_hashed_ids(every_bucket, raw.train.texts, config.model.ngram.char_min_df)
            featurizer = NgramFeaturizer(vocabulary, spec, config.data.text.standardize, kept)
            sequence_length, ngram_ids = spec.max_features, featurizer.num_ids
            ids = {"train": featurizer.encode_batch(raw.train.texts)}
            if raw.validation is not None:
                ids["validation"] = featurizer.encode_batch(raw.validation.texts)
            if config.model.ngram.weighting == "tfidf":
                idf = inverse_document_frequency(ids["train"], featurizer.num_ids)
            if config.model.ngram.solves_linear:
                solver_rows = SolverRows(ids["train"], np.asarray(raw.train.labels), ids.get("validation"),
                                         None if raw.validation is None else np.asarray(raw.validation.labels))

            def pipeline(split: text_data.TextSplit, training: bool) -> tf.data.Dataset:
                split_ids = (ids["train"] if split is raw.train else ids["validation"] if split is raw.validation
                             else featurizer.encode_batch(split.texts))
                rows = array_rows(({NGRAM_INPUT_NAME: split_ids}, split.labels))
                return make_pipeline(rows, training=training, batch_size=config.train.batch_size,
                                     seed=config.seed, auto_shard="DATA")

        return TextTaskData(
            train=pipeline(raw.train, True),
            validation=pipeline(raw.validation, False) if raw.validation is not None else None,
            test=pipeline(raw.test, False),
            num_train_examples=len(raw.train),
            labels=raw.class_names,
            validation_source=raw.validation_source,
            data_notes=raw.notes,
            vocabulary=vocabulary,
            sequence_length=sequence_length,
            standardize=config.data.text.standardize,
            ngrams=spec,
            ngram_ids=ngram_ids,
            ngram_kept=kept,
            idf=idf,
            solver_rows=solver_rows,
            sample_texts=list(raw.test.texts[:SAMPLE_TEXTS]),
            sample_labels=raw.test.labels[:SAMPLE_TEXTS].tolist(),
        )

    def heldout(self, data: TextTaskData, limit: int) -> Heldout:
        return self.collect_heldout(data.test, limit)

    # -- bundle ------------------------------------------------------------------------------
    def write_bundle_extras(self, data: TextTaskData, bundle_dir: Path) -> None:
        write_text_atomic(Path(bundle_dir) / "vocab.txt", vocabulary_text(data.vocabulary))
        _write_kept_ids(data, bundle_dir)

    def device_spec(self, data: TextTaskData, config: RunConfig) -> TextSpec:
        common = dict(vocabulary="vocab.txt", sequence_length=data.sequence_length, standardize=data.standardize,
                      split="whitespace", pad_id=0, oov_id=1, tokens=tuple(data.vocabulary))
        if data.ngrams is not None:
            return TextSpec(
                **common, input=NGRAM_INPUT_NAME, ngrams=data.ngrams,
                note=(
                    "n-gram ids, not a token sequence (kerasuite/runtime/text_ngrams.py): standardize and "
                    "split as for the token models; per word, its vocab.txt id (1 if absent), then "
                    "V + fnv1a32(prev + ' ' + word) % bigram_buckets (from the second word), then "
                    "V + bigram_buckets + fnv1a32(g) % char_buckets for each character n-gram g of "
                    + ("'<' + word + '>' by start and length (char_min..char_max)" if data.ngrams.char_scope == "word"
                       else "nothing per word; after all words, the same for each character n-gram of the whole "
                            "text, ASCII-lowercased with punctuation kept and each whitespace run one space "
                            "(char_scope=text), by start and length (char_min..char_max)")
                    + ", V = lines in vocab.txt; "
                    "repeats: all = every occurrence, once = the first, log2 = occurrences 1, 2, 4, 8, ... of an id in this text; "
                    "keep the first sequence_length ids, pad with 0; int32 [1, sequence_length]."
                    + (" Kept ids: a hashed id becomes V + its position in the sorted int32 list in "
                       f"{data.ngrams.kept_ids}, or is dropped (takes no place) when absent; repeats and "
                       "the first sequence_length apply after that." if data.ngrams.kept_ids else "")
                ),
            )
        from kerasuite.export.mediapipe_text import regex_tokenizer

        mediapipe = regex_tokenizer(data.vocabulary, data.standardize)
        return TextSpec(
            # MediaPipe Tasks' TextClassifier tokenizes from the file's metadata (RegexTokenizer):
            # what it reproduces exactly, and what an app must still do to the text itself.
            mediapipe=MediaPipeTokenization(tokenizer="RegexTokenizer", delimiter=mediapipe.input.delim_regex,
                                            exact=mediapipe.exact, app_must=mediapipe.remaining),
            **common,
            input=INPUT_NAME,
            note=(
                "decode UTF-8; standardize (lower = ASCII A-Z only; split/strip punctuation = each of the "
                "32 ASCII punctuation characters becomes a space / is deleted); split on ASCII whitespace; id = line number in vocab.txt, 1 if absent; "
                "keep the first sequence_length ids, pad with 0; int32 [1, sequence_length]. "
                "The fused LSTM keeps state between invokes: call reset_all_variables() before each "
                "(kerasuite.runtime does)."
            ),
        )

    # -- TensorBoard -------------------------------------------------------------------------
    def write_run_files(self, data: TextTaskData, run_dir: Path) -> None:
        # The run keeps its own vocab.txt beside model.keras: the ids model.keras expects.
        write_text_atomic(Path(run_dir) / "vocab.txt", vocabulary_text(data.vocabulary))
        _write_kept_ids(data, run_dir)

    def callbacks(self, model, data: TextTaskData, log_dir: Path, config: RunConfig) -> list:
        from kerasuite.tensorboard_images import ConfusionMatrixCallback

        return [
            ConfusionMatrixCallback(data.validation or data.test, data.labels, log_dir),
            EmbeddingProjectorCallback(data.vocabulary, Path(log_dir) / "validation"),
            TextSamplesCallback(data.sample_texts, data.sample_labels, data.test, data.labels, log_dir),
        ]


def _write_kept_ids(data: TextTaskData, folder: Path) -> None:
    if data.ngram_kept is not None:
        write_npy_atomic(Path(folder) / KEPT_IDS_FILE, np.asarray(data.ngram_kept, np.int32))


def token_embedding_matrix(model: keras.Model, vocabulary_size: int) -> np.ndarray:
    """The learned ``[vocabulary_size, dim]`` token table of any text family."""
    for layer in model.layers:
        if isinstance(layer, TokenAndPositionEmbedding):
            return np.asarray(layer.token_embedding.embeddings)
        if isinstance(layer, keras.layers.Embedding) and layer.input_dim >= vocabulary_size:
            # the ngram family's table starts with the vocabulary's rows (unigram ids)
            return np.asarray(layer.embeddings)[:vocabulary_size]
        if isinstance(layer, TfidfBag):  # rows are words (for the linear model: per-class weights)
            return np.asarray(layer.table)[:vocabulary_size]
    raise ValueError("the model has no token embedding of the vocabulary's size")


class EmbeddingProjectorCallback(keras.callbacks.Callback):
    """Writes the token embeddings for TensorBoard's Embedding Projector when training ends:
    a checkpoint of the table, ``metadata.tsv`` (one vocabulary token per row) and the
    ``projector_config.pbtxt`` that links them."""

    def __init__(self, vocabulary: list[str], projector_dir: Path):
        super().__init__()
        self.vocabulary = list(vocabulary)
        self.projector_dir = Path(projector_dir)

    def on_train_end(self, logs=None):
        matrix = token_embedding_matrix(self.model, len(self.vocabulary))
        # Row 0 is padding (""), which would be a blank metadata row: name it.
        names = [["<pad>" if i == 0 else token] for i, token in enumerate(self.vocabulary)]
        write_embedding_projector(self.projector_dir, "token_embedding", matrix, names)


class TextSamplesCallback(keras.callbacks.Callback):
    """A markdown table of test texts with true and predicted labels, when training ends."""

    def __init__(self, texts: list[str], labels: list[int], test: tf.data.Dataset, class_names: list[str], log_dir: Path):
        super().__init__()
        self.texts, self.labels, self.class_names = list(texts), list(labels), list(class_names)
        self.test = test
        self.writer = tf.summary.create_file_writer(str(Path(log_dir) / "validation"))

    def on_train_end(self, logs=None):
        if not self.texts:
            return
        inputs, _ = next(iter(self.test.unbatch().batch(len(self.texts))))
        predicted = np.argmax(self.model(inputs, training=False), axis=-1)
        rows = ["| true | predicted | | text |", "|---|---|---|---|"]
        for index in sample_rows(np.asarray(self.labels), predicted, SAMPLE_ROWS):
            text, label, guess = self.texts[index], self.labels[index], int(predicted[index])
            shown = " ".join(text.split())[:200].replace("|", "\\|")
            mark = "ok" if label == guess else "WRONG"
            rows.append(f"| {self.class_names[label]} | {self.class_names[guess]} | {mark} | {shown} |")
        with self.writer.as_default():
            tf.summary.text("samples_true_predicted", "\n".join(rows), step=0)
        self.writer.flush()


def sample_rows(labels: np.ndarray, predicted: np.ndarray, count: int) -> list[int]:
    """Rows for the samples table: misclassified and correct ones in proportion to the error rate
    (at least one of each where there are any), each part taken round-robin over the true classes,
    so the table shows what the confusion matrix counts instead of the first texts of one class."""
    wrong = [i for i in range(len(labels)) if labels[i] != predicted[i]]
    right = [i for i in range(len(labels)) if labels[i] == predicted[i]]
    wanted_wrong = min(len(wrong), max(1 if wrong else 0, round(count * len(wrong) / max(len(labels), 1))))
    chosen = _round_robin(wrong, labels, wanted_wrong) + _round_robin(right, labels, count - wanted_wrong)
    return sorted(chosen)


def _round_robin(indices: list[int], labels: np.ndarray, count: int) -> list[int]:
    by_class: dict[int, list[int]] = {}
    for index in indices:
        by_class.setdefault(int(labels[index]), []).append(index)
    queues = [list(reversed(v)) for _, v in sorted(by_class.items())]
    picked: list[int] = []
    while len(picked) < count and any(queues):
        for queue in queues:
            if queue and len(picked) < count:
                picked.append(queue.pop())
    return picked
