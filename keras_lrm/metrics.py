"""Language-model metrics over exactly the weighted tokens."""

import math

import keras
from keras import ops


class _TokenNLL(keras.metrics.Metric):
    """Accumulates the summed negative log-likelihood and the token count."""

    def __init__(self, name, dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.total = self.add_variable(shape=(), initializer="zeros",
                                       name="total")
        self.count = self.add_variable(shape=(), initializer="zeros",
                                       name="count")

    def update_state(self, y_true, y_pred, sample_weight=None):
        nll = keras.losses.sparse_categorical_crossentropy(
            y_true, ops.cast(y_pred, "float32"), from_logits=True)
        weights = ops.ones_like(nll) if sample_weight is None \
            else ops.cast(sample_weight, "float32")
        self.total.assign_add(ops.sum(nll * weights))
        self.count.assign_add(ops.sum(weights))

    def mean_nll(self):
        return ops.divide_no_nan(self.total, self.count)

    def reset_state(self):
        self.total.assign(0.0)
        self.count.assign(0.0)


@keras.saving.register_keras_serializable(package="keras_lrm")
class BitsPerToken(_TokenNLL):
    """Mean cross-entropy in bits per token: BPC for byte-level models.

    Exact over the weighted tokens: padding with weight 0 does not count.
    """

    def __init__(self, name="bpc", dtype=None):
        super().__init__(name=name, dtype=dtype)

    def result(self):
        return self.mean_nll() / math.log(2.0)


@keras.saving.register_keras_serializable(package="keras_lrm")
class Perplexity(_TokenNLL):
    """`exp` of the mean cross-entropy in nats: word-level perplexity."""

    def __init__(self, name="perplexity", dtype=None):
        super().__init__(name=name, dtype=dtype)

    def result(self):
        return ops.exp(self.mean_nll())
