"""Model builders. Importing this package registers every custom layer with Keras
serialization, so ``keras.saving.load_model(..., safe_mode=True)`` works in any process."""

from kerasuite.models import vision  # noqa: F401
from kerasuite.models import losses, ranking, two_tower  # noqa: F401
from kerasuite.models import attention, ngram, sequence  # noqa: F401
from kerasuite.models import speech  # noqa: F401
from kerasuite.models.layers import gather_category_encoding, gather_integer_lookup, hoisted_gru, nearest_up_sampling  # noqa: F401,E501  (the exporter's swaps for users' models)
from kerasuite.models.layers import bounded_mask_score_attention  # noqa: F401  (the same)
