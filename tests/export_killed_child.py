"""Exports a tiny model to argv[1], to be killed at the moment argv[2].

Moments: `early` (no pause: the test kills it as soon as a temporary
appears), `saving` (paused inside `tf.saved_model.save`, after the
variables, before `saved_model.pb`), `before_swap` and `after_swap`
(paused just before and just after the atomic exchange),
`between_renames` (no atomic exchange; paused after the old export was
renamed aside, before the new one is renamed in). At a pause it creates
the file argv[3] and sleeps until killed.
"""

import os
import sys
import time

import tensorflow as tf
from tensorflow.python.lib.io import file_io

from keras_lrm import Placement
from keras_lrm.export import export_saved_model
from keras_lrm.export import folder_swap
from tests.helpers import small_lm

path, moment, signal_file = sys.argv[1:4]


def pause():
    with open(signal_file, "w") as handle:
        handle.write(str(os.getpid()))
    while True:
        time.sleep(1)


real_exchange = folder_swap.exchange
real_rename = tf.io.gfile.rename


def exchange(first, second):
    if moment == "before_swap":
        pause()
    if moment == "between_renames":
        return False
    done = real_exchange(first, second)
    if moment == "after_swap":
        pause()
    return done


def rename(source, target, overwrite=False):
    real_rename(source, target, overwrite)
    if moment == "between_renames" and source == path:
        pause()


real_write = file_io.atomic_write_string_to_file


def write(filename, contents, overwrite=True):
    if moment == "saving" and str(filename).endswith("saved_model.pb"):
        pause()
    real_write(filename, contents, overwrite)


file_io.atomic_write_string_to_file = write
folder_swap.exchange = exchange
tf.io.gfile.rename = rename
model = small_lm(Placement("all", None, 12, 12), num_layers=1,
                 vocab_size=256)
export_saved_model(model, path, memory_lengths=[6])
