"""Stream batches split by rows over the replicas of a `tf.distribute`
strategy, so each replica's memory continues its own rows."""

import tensorflow as tf

from keras_lrm.data.streams.batches import stream_dataset


def distribute_streams(strategy, source, layout, start_window=0):
    """`stream_dataset` split by rows over the replicas of `strategy`.

    Each input pipeline (one per worker) reads the rows of its replicas and
    hands its replicas their rows in turn, so replica `r` always receives
    the same rows and its memory continues them. With one replica this is
    `stream_dataset` itself. A distributed dataset has no length Keras can
    see, so with several replicas pass `steps_per_epoch` (`fit`),
    `validation_steps` and `steps` (`evaluate`): `layout.num_windows`, or
    fewer. Without them Keras averages its losses over one step too many.
    """
    replicas = strategy.num_replicas_in_sync
    if layout.batch_size % replicas:
        raise ValueError(
            f"`batch_size` must be divisible by the {replicas} replicas. "
            f"Received: batch_size={layout.batch_size}"
        )
    if replicas == 1:
        return stream_dataset(source, layout, start_window=start_window)

    def dataset_fn(context):
        pipelines = context.num_input_pipelines
        local = replicas // pipelines
        per_replica = context.get_per_replica_batch_size(layout.batch_size)
        first = context.input_pipeline_id * local * per_replica
        rows = range(first, first + local * per_replica)
        dataset = stream_dataset(source, layout, rows, start_window)
        return dataset.map(
            lambda batch: tf.reshape(
                batch, [local, per_replica, layout.segment_length + 1])
        ).unbatch()

    return strategy.distribute_datasets_from_function(dataset_fn)
