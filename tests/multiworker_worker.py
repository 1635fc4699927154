"""One worker of tests/test_multiworker.py (run as a subprocess).

Usage: python -m tests.multiworker_worker RECORDS_DIR OUTPUT.npz
with TF_CONFIG naming this worker. Trains a few steps with
MultiWorkerMirroredStrategy and saves its weights and replica memory.
"""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from keras_lrm import Placement  # noqa: E402
from keras_lrm.data import load_manifest  # noqa: E402
from keras_lrm.data.streams import StreamSource  # noqa: E402
from keras_lrm.data.streams import distribute_streams  # noqa: E402
from keras_lrm.data.streams import train_layout  # noqa: E402
from keras_lrm.distribute import resolve_strategy  # noqa: E402
from keras_lrm.models import MemoryTransformerLM  # noqa: E402
from keras_lrm.training import StatefulLM  # noqa: E402

BATCH, SEGMENT, STEPS = 4, 8, 5


def build(batch_size):
    keras.utils.set_random_seed(7)
    lm = MemoryTransformerLM(256, 2, 16, 2, 32, SEGMENT,
                             Placement("last", 1, 16, 8))
    model = StatefulLM(lm, batch_size)
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
    return lm, model


def main(records, output):
    strategy = resolve_strategy(sys.argv[3] if len(sys.argv) > 3
                                else "multiworker")
    source = StreamSource.from_manifest(load_manifest(records), "train")
    layout = train_layout(source.num_tokens, BATCH, SEGMENT)
    with strategy.scope():
        lm, model = build(BATCH)
    model.fit(distribute_streams(strategy, source, layout), epochs=1,
              steps_per_epoch=STEPS, shuffle=False, verbose=0)
    arrays = {f"weight_{i}": w for i, w in enumerate(lm.get_weights())}
    for replica, state in enumerate(model.replica_memory("train")):
        for key, value in state.items():
            arrays[f"replica_{replica}_{key}"] = np.asarray(value)
    np.savez(output, **arrays)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
