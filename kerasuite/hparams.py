"""Model families' hyperparameters: one dataclass per builder, with the value rules of each field.

They live outside ``kerasuite.models`` (which imports Keras to register its layers) so task
configs can name them without TensorFlow, and outside any one task because a family can serve
several tasks (``cnn`` classifies images and MFCC maps). A task's config picks the sections of
its own families (``kerasuite/tasks/*_config.py``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

from kerasuite.schema import ConfigError, setting


@dataclass
class CnnConfig:
    # One conv block per entry. The third block works on 4x4 maps: cheap in compute, and it lifts
    # the parameter count past the int8 format's fixed per-tensor overhead (int8 file 0.30x float32).
    filters: tuple[int, ...] = setting((16, 32, 64), min=1, nonempty=True)
    convs_per_block: int = setting(2, min=1)
    kernel_size: int = setting(3, min=1)
    pooling: str = setting("max", choices=("max", "average", "none"))
    batch_norm: bool = True
    dropout: float = setting(0.25, min=0.0, below=1.0)
    dense_units: int = setting(128, min=0)  # 0 = no hidden dense layer
    augment: bool = True  # random translation/zoom/contrast, active in training only


@dataclass
class LstmConfig:
    embedding_dim: int = setting(64, min=1)
    units: tuple[int, ...] = setting((64,), min=1, nonempty=True)
    cell: str = setting("lstm", choices=("lstm", "gru"))
    bidirectional: bool = False
    dropout: float = setting(0.2, min=0.0, below=1.0)
    # mean | max, over the real (non-padding) positions. Max measured better on the fortunes corpus
    # (0.5690 vs 0.5497 accuracy, int8 agreement 0.989 vs 0.980; tools/benchmark_text.py, seed 42).
    pooling: str = setting("max", choices=("mean", "max"))


@dataclass
class NgramConfig:
    # Word unigrams (vocabulary ids), hashed word bigrams and hashed character n-grams of each word;
    # kerasuite/runtime/text_ngrams.py defines the ids. "tfidf": ids weighted by their
    # training-split idf, L2-normalised (kerasuite/models/layers/tfidf_bag.py); "mean": fastText.
    weighting: str = setting("tfidf", choices=("tfidf", "mean"))
    # tfidf: an id that occurs c times counts 1 + floor(log2 c) times ("log2", close to the peer's
    # sublinear 1 + ln c) or once ("binary"); manpages, seed 42, logistic regression on the ids:
    # test accuracy 0.874 vs 0.844 (tools/benchmarking/ngram_linear_probe.py)
    term_frequency: str = setting("log2", choices=("log2", "binary"))
    # tfidf: "together": one L2 norm over all ids; "apart": the word ids (words, word bigrams) and
    # the character n-gram ids each get a unit norm, as the peer's union of two TfidfVectorizers.
    # The peer normalises apart, and one joint norm cost the peer itself 0.6-1.1 points
    # (tools/benchmarking/text_peer_variants.py); part of the default recipe (README, "Text on
    # three real corpora")
    normalize: str = setting("apart", choices=("together", "apart"))
    embedding_dim: int = setting(0, min=0)  # 0 (tfidf only): one column per class, i.e. logistic regression
    # scikit-learn's C for the linear model trained by Adam (solver=adam): L2 penalty
    # ||W||^2 / (2 C n_train) per example, as the TF-IDF + logistic regression peer; 0 = no penalty.
    # The solver picks its C from c_candidates instead (the first one when there is no validation split)
    regularization_c: float = setting(10.0, min=0.0)
    # "lbfgs" (the linear tfidf model only): before Keras training, solve the logistic regression to
    # its optimum (scikit-learn, L-BFGS) for each C in c_candidates and keep the best on validation,
    # as the peer does; "adam": Keras training from zeros with regularization_c; "auto": nb_lbfgs
    # for the linear model, adam otherwise.
    # "nb_lbfgs": the same, but one-vs-rest logistic regression on Naive-Bayes-scaled features
    # (NBSVM's recipe, Wang and Manning 2012; kerasuite/models/tfidf_solver.py), still one linear
    # table, frozen after the solve. Mean of 3 seeds vs "lbfgs": packages +1.6, manpages +1.5,
    # fortunes +4.3 points; its int8 files kept parity once int8_grid (below) was added
    solver: str = setting("auto", choices=("auto", "lbfgs", "nb_lbfgs", "adam"))
    c_candidates: tuple[float, ...] = setting((1.0, 10.0, 100.0), above=0.0, nonempty=True)
    # solver=nb_lbfgs (a frozen table): put the table on the int8 grid the converter gives it and
    # clip the logits to the validation split's decision range (the training split's without
    # one), so Keras is a model its int8 file computes closely where decisions are made (README,
    # "int8 on near ties"); false: the table as solved, no clip. Other solvers: no effect
    int8_grid: bool = True
    hidden_units: int = setting(0, min=0)  # 0: linear head on the averaged bag
    dropout: float = setting(0.3, min=0.0, below=1.0)
    # hash buckets; with char_min_df the table keeps only the ids training saw, so 2**20 buckets
    # cost rows only for what the corpus holds (fortunes: 166k rows)
    bigram_buckets: int = setting(1048576, min=0)  # 0 = no word bigrams
    char_buckets: int = setting(1048576, min=0)  # 0 = no character n-grams
    char_min: int = setting(2, min=1)
    char_max: int = setting(5, min=1)
    # "word": character n-grams of each "<word>" (scikit-learn's char_wb); "text": of the whole
    # lowercased text, across word boundaries and with punctuation whatever data.text.standardize
    # does to the words (the TF-IDF peer's analyzer="char")
    # ("text" is the default: "word" cost the peer itself 1.5 points on fortunes, README)
    char_scope: str = setting("text", choices=("word", "text"))
    # 0: every hash bucket is a table row. n >= 1: the table keeps only the hashed ids training saw
    # (word bigrams in >= 1 text, character n-grams in >= n, as the peer's min_df), renumbered
    # densely (the bundle's ngram_ids.npy lists them), so buckets can be large and collide rarely
    # while the table stays the size of what training saw (the peer's min_df=2 for characters)
    char_min_df: int = setting(2, min=0)
    # ids per text; a longer text keeps its first max_features. With log2 repeats, training texts
    # need a median of 166 (packages), 335 (fortunes) and 1,076 (manpages) ids with word-scope
    # characters; whole-text characters need about 4x, and 8,192 keeps nearly every text whole
    max_features: int = setting(8192, min=1)

    @property
    def linear(self) -> bool:
        return self.weighting == "tfidf" and self.embedding_dim == 0

    @property
    def solves_linear(self) -> bool:
        return self.linear and self.solver in ("auto", "lbfgs", "nb_lbfgs")

    @property
    def solve_method(self) -> str:
        """tfidf_solver.solve's method: the solver, with "auto" resolved."""
        return "nb_lbfgs" if self.solver == "auto" else self.solver

    def validate(self, prefix: str) -> None:
        if self.embedding_dim == 0 and self.weighting != "tfidf":
            raise ConfigError(f"{prefix}embedding_dim=0 (a linear model) needs {prefix}weighting=tfidf")
        if self.solver in ("lbfgs", "nb_lbfgs") and not self.linear:
            raise ConfigError(f"{prefix}solver={self.solver} solves the linear model only (weighting=tfidf, embedding_dim=0); "
                              f"use {prefix}solver=adam")
        if self.char_buckets and self.char_min > self.char_max:
            raise ConfigError(f"{prefix}char_min ({self.char_min}) must not exceed {prefix}char_max ({self.char_max})")


@dataclass
class TransformerConfig:
    embedding_dim: int = setting(64, min=1)
    num_heads: int = setting(2, min=1)
    ff_dim: int = setting(128, min=1)
    num_blocks: int = setting(2, min=1)
    dropout: float = setting(0.1, min=0.0, below=1.0)
    pooling: str = setting("mean", choices=("mean", "first"))
    attention_mask: bool = True  # keep attention off padding (token id 0)

    def validate(self, prefix: str) -> None:
        if self.embedding_dim % self.num_heads:
            raise ConfigError(f"{prefix}embedding_dim ({self.embedding_dim}) must be divisible by "
                              f"{prefix}num_heads ({self.num_heads})")


@dataclass
class TwoTowerConfig:
    embedding_dim: int = setting(32, min=1)
    hidden_units: tuple[int, ...] = setting((64,), min=1)
    temperature: float = setting(0.05, above=0.0)
    remove_accidental_hits: bool = True
    # logQ correction: in-batch negatives are drawn by popularity, so without it the model learns
    # to demote popular items (Debian dependency set, 5 epochs: recall@10 0.09 without, 0.47 with)
    sampling_correction: bool = True
    top_k: int = setting(100, min=1)
    # history_two_tower: the user's training items (most recent first) mean-pooled over the item embedding
    history_length: int = setting(50, min=1)  # items kept per user; longer histories are truncated
    # Also feed the user id embedding. Off: with it the tower memorises each user's full item set
    # and reads the training target off as "the item missing from this history" (Debian set:
    # training loss 0.8, validation loss 5.7, recall@10 0.35 with it; 0.68 without).
    use_user_id: bool = False
    # history_two_tower: what the softmax normalises over. "catalogue": every item (the candidate
    # tower runs over the whole catalogue each step; no sampling bias, so no logQ correction;
    # cost grows with the catalogue). "in_batch": the other positives of the batch. Debian
    # validation copy with history_dropout 0.3: recall@10 0.664 catalogue vs 0.661 in-batch, at
    # 3.5x the training time, so in-batch stays the default.
    softmax: str = setting("in_batch", choices=("in_batch", "catalogue"))
    # history_two_tower, training only: each history item is dropped with this probability, so the
    # tower cannot rely on the exact item set (the "which item is missing" shortcut). Debian set,
    # validation copy (one training item per user held out), 8 epochs: recall@10 0.643 at 0,
    # 0.661 at 0.3, 0.657 at 0.5 (EASE 0.692).
    history_dropout: float = setting(0.3, min=0.0, below=1.0)
    # history_two_tower: how the history's item embeddings are pooled. "mean"; "sqrt": sum / sqrt(n),
    # so a longer history gives a larger input, as Mult-DAE normalises its input. Debian validation
    # copy, 8 epochs: recall@10 0.664 sqrt vs 0.658 mean.
    history_pooling: str = setting("sqrt", choices=("mean", "sqrt"))
    # history_two_tower: query vectors per user. 1: one pooled vector. K > 1: K attention-pooled
    # "interests" (ComiRec-SA), each through the query MLP; a candidate's score is its best
    # interest's dot product, in training and on the device. Debian validation copy, seed 42,
    # recall@10: 0.677 at 1, 0.686 at 4, 0.689 at 8, 0.691 at 16 (EASE 0.690). Test splits, one
    # benchmark run, 16 vs 1: Debian 0.731 vs 0.720 (EASE 0.739), MovieLens-format 0.305 vs 0.299,
    # synthetic clusters 0.323 vs 0.333, at 3.2x the training time. With the weight average it
    # ties EASE on Debian (0.738 vs 0.739); history_two_tower's default was 16 until three
    # one-vector members (below) did better (retrieval_config's family preset; README, retrieval).
    interests: int = setting(1, min=1)
    interest_attention_units: int = setting(64, min=1)
    # history_two_tower: independently initialised query/candidate tower pairs trained side by side,
    # each on its own in-batch softmax (an ensemble in one graph). Their unit embeddings are
    # concatenated, so a candidate's score is the sum of the members' dot products and the bundle
    # stays one query vector against candidates.npy. Debian test split, three seeds' runs of one
    # vector scored together: recall@10 0.730 each, 0.742 for two, 0.747 for three (EASE 0.739);
    # trained together at history_two_tower's default of 3: 0.743 (3 seeds). 1 here: two_tower.
    members: int = setting(1, min=1)


@dataclass
class EaseConfig:
    """The EASE baseline reported by retrieval and ranking (kerasuite/metrics/ease.py)."""

    enabled: bool = True
    lambdas: tuple[float, ...] = setting((5.0, 20.0, 100.0, 500.0), above=0.0, nonempty=True)  # chosen on validation
    # larger catalogues are skipped with a note: items x items float32 matrices (1 GiB each at 16384)
    max_items: int = setting(16384, min=1)


@dataclass
class RankingConfig:
    embedding_dim: int = setting(32, min=1)
    hidden_units: tuple[int, ...] = setting((64, 32), min=1)
    cross_layers: int = setting(2, min=1)  # dcn only
    dropout: float = setting(0.0, min=0.0, below=1.0)


# Framing concatenates frame_length / gcd(frame_length, frame_step) strided slices; beyond this
# many the graph gets silly, and every sensible setting (e.g. 640/320, 400/160, 480/160) is far below.
MAX_FRAME_PIECES = 16


@dataclass
class MfccConfig:
    frame_length: int = setting(640, min=1)  # 40 ms at 16 kHz
    frame_step: int = setting(320, min=1)  # 20 ms
    fft_length: int = setting(1024, min=1)
    num_mel_bins: int = setting(40, min=1)
    num_coefficients: int = setting(10, min=1)
    lower_hz: float = setting(20.0, min=0.0)
    upper_hz: float = setting(4000.0, above=0.0)
    # Defaults chosen for int8 export (kerasuite/models/layers/mfcc.py explains the numerics):
    # mel of the magnitude (1.0) keeps a 48 dB range in int8 where power (2.0) keeps 24 dB;
    # clips peaking at >= peak_floor are scaled to peak 1 (None = off); magnitude_cap and
    # mel_cap bound the int8 ranges (values for 640-sample frames of peak-normalised audio,
    # about the 99th percentile of speech; None = off); amin is the mel floor, a few int8 steps
    # of mel_cap; top_db (None = off) clips to top_db below the clip max.
    # librosa's own defaults are power=2.0, amin=1e-10, top_db=80 and no normalisation or caps.
    power: float = setting(1.0, above=0.0)
    peak_floor: Optional[float] = setting(0.05, above=0.0)
    magnitude_cap: Optional[float] = setting(96.0, above=0.0)
    mel_cap: Optional[float] = setting(3.2, above=0.0)
    amin: float = setting(0.02, above=0.0)
    top_db: Optional[float] = setting(None, above=0.0)
    # int8 resolution of the MFCC tensor (mfcc.py explains): librosa's sinusoidal lifter (0 = off)
    # evens out the coefficients' spreads, and db_offset (added to every dB value; ~12 is minus
    # the mean log-mel of peak-normalised speech) centres c0 on zero. The normalisation layer
    # after the front end undoes both in float. Off by default: lifter=22, db_offset=12 cut the
    # MFCC tensor's step per coefficient spread 3.7x but left int8 agreement unchanged (the
    # error comes from the linear int8 mel before LOG; tools/benchmarking/speech_int8_layers.py).
    lifter: float = setting(0.0, min=0.0)
    db_offset: float = 0.0
    # int8 resolution before the LOG (mfcc.py, Mfcc._log): with a gain G > 1 the mel is also
    # computed G times larger (capped by the same relu6), and small values take their log from
    # that copy: G times finer int8 steps near amin, the float function unchanged. 1 = off.
    mel_low_gain: float = setting(16.0, min=1.0)
    # Directions of the square-free magnitude (power=1.0): the spectrum tensor is this many times
    # the bins, so fewer directions shrink flash and arena; the magnitude error is 1 - cos(pi/J)
    # centred (+-0.97% at 16, +-3.9% at 8).
    magnitude_directions: int = setting(16, min=4)
    # Frames transformed per group (0 = all at once): the TFLM arena holds one group's FFT
    # intermediates instead of the whole clip's; each group adds its ops to the file.
    frames_per_group: int = setting(0, min=0)
    # The magnitude's maximum over directions as halving rounds of MAXIMUM instead of one
    # REDUCE_MAX (the same function). For an int16x8 export: TFLM has no int16 REDUCE_MAX, so that
    # op runs in float there and holds the projections in float (arena 1.27 MB against 0.86 MB;
    # tools/benchmarking/kws_int16_front_end.py). The int8 graph does not need it.
    pairwise_max: bool = False

    def validate(self, prefix: str) -> None:
        """The MFCC layer's own rules (kerasuite/models/layers/mfcc.py), checked before TensorFlow;
        ``upper_hz`` against the sample rate is the task's check (it spans sections)."""
        if self.frame_step > self.frame_length:
            raise ConfigError(f"{prefix}frame_step ({self.frame_step}) must be at most "
                              f"{prefix}frame_length ({self.frame_length})")
        if self.frame_length // math.gcd(self.frame_length, self.frame_step) > MAX_FRAME_PIECES:
            raise ConfigError(f"{prefix}frame_step ({self.frame_step}) must divide {prefix}frame_length "
                              f"({self.frame_length}) more evenly (at most {MAX_FRAME_PIECES} pieces per frame)")
        if self.power not in (1.0, 2.0):
            raise ConfigError(f"{prefix}power: must be 1.0 (magnitude) or 2.0 (power), got {self.power}")
        if self.magnitude_cap is not None and self.power != 1.0:
            raise ConfigError(f"{prefix}magnitude_cap needs {prefix}power=1.0 (or magnitude_cap=none)")
        if self.mel_cap is not None and self.mel_cap <= self.amin:
            raise ConfigError(f"{prefix}mel_cap ({self.mel_cap}) must be above {prefix}amin ({self.amin})")
        if self.mel_low_gain > 1.0 and (self.mel_cap is None or self.amin * self.mel_low_gain >= self.mel_cap):
            raise ConfigError(f"{prefix}mel_low_gain ({self.mel_low_gain}) needs {prefix}mel_cap set and "
                              f"{prefix}amin * mel_low_gain below it (or mel_low_gain=1)")
        if self.num_coefficients > self.num_mel_bins:
            raise ConfigError(f"{prefix}num_coefficients ({self.num_coefficients}) must be at most "
                              f"{prefix}num_mel_bins ({self.num_mel_bins})")
        if self.upper_hz <= self.lower_hz:
            raise ConfigError(f"{prefix}upper_hz ({self.upper_hz}) must be above {prefix}lower_hz ({self.lower_hz})")
        if self.fft_length < self.frame_length:
            raise ConfigError(f"{prefix}fft_length ({self.fft_length}) must be at least "
                              f"{prefix}frame_length ({self.frame_length})")


@dataclass
class KwsTrainingConfig:
    """Training-only measures of keyword-spotting models (none of them is in the exported graph)."""

    time_masks: int = setting(0, min=0)  # SpecAugment bands of frames zeroed on the normalised MFCC map
    time_mask_frames: int = setting(8, min=0)  # widest band, in frames (20 ms each by default)
    frequency_masks: int = setting(0, min=0)  # SpecAugment bands of MFCC coefficients zeroed
    frequency_mask_coefficients: int = setting(2, min=0)
    label_smoothing: float = setting(0.0, min=0.0, below=1.0)
    # Vocal tract length perturbation on the MFCCs: each example's spectral envelope warped by a
    # factor in [1 - w, 1 + w] (kerasuite/models/layers/cepstral_warp.py); 0 = off.
    vocal_tract_warp: float = setting(0.0, min=0.0, below=0.5)
    # Share of examples whose loudest frames (within nucleus_mask_db of the clip's loudest, the
    # vowel nucleus) are masked, so the model also learns the consonants around them
    # (kerasuite/models/layers/nucleus_mask.py); 0 = off.
    nucleus_mask_probability: float = setting(0.0, min=0.0, max=1.0)
    nucleus_mask_db: float = setting(6.0, min=0.0)
    # Spectral decoupling (Pezeshki et al., NeurIPS 2021, "Gradient starvation"): this times half
    # the mean squared norm of the logits is added to the loss, so a feature learnt first (a
    # word's vowel) does not starve the learning of others (its consonants); 0 = off.
    logit_penalty: float = setting(0.0, min=0.0)


# BC-ResNet's stages (Kim et al., Interspeech 2021): channels (x width), the stride along the
# coefficient axis of each stage's first block, and the temporal dilation of its blocks.
BC_RESNET_STAGE_CHANNELS = (8, 12, 16, 20)
BC_RESNET_STAGE_COEFFICIENT_STRIDE = (1, 2, 2, 1)
BC_RESNET_STAGE_DILATION = (1, 2, 4, 8)


@dataclass
class BcResNetConfig:
    # Broadcasted residual learning ("BC-ResNet"): stage widths are width x BC_RESNET_STAGE_CHANNELS,
    # as BC-ResNet-width; 2 -> about 26k parameters with our head
    width: float = setting(2.0, above=0.0)
    blocks_per_stage: tuple[int, ...] = setting((2, 2, 4, 4), min=1, nonempty=True)
    dropout: float = setting(0.1, min=0.0, below=1.0)  # on the temporal branch of every block

    def validate(self, prefix: str) -> None:
        if len(self.blocks_per_stage) > len(BC_RESNET_STAGE_CHANNELS):
            raise ConfigError(f"{prefix}blocks_per_stage: at most {len(BC_RESNET_STAGE_CHANNELS)} stages, "
                              f"got {len(self.blocks_per_stage)}")


@dataclass
class DsCnnConfig:
    filters: int = setting(64, min=1)
    num_blocks: int = setting(4, min=0)
    first_kernel: tuple[int, int] = setting((10, 4), min=1)
    first_stride: tuple[int, int] = setting((2, 2), min=1)
    dropout: float = setting(0.2, min=0.0, below=1.0)
