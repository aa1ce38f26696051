"""keras-rs ``RemoveAccidentalHits`` whose mask really masks (in-batch softmax)."""

from __future__ import annotations

import keras
import keras_rs
from keras import ops

# A logit this low has exp() == 0 in float32 after the max-subtraction in softmax.
MASKED_LOGIT = -1e9


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
        return ops.where(accidental, ops.cast(MASKED_LOGIT, logits.dtype), logits)
