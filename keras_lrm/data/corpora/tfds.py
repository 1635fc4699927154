"""TensorFlow Datasets text corpora: PG-19 and Tiny Shakespeare."""

# The split names of this library and of TFDS.
TFDS_SPLITS = {"train": "train", "valid": "validation", "test": "test"}
# The text feature of the datasets known here.
TEXT_KEYS = {"pg19": "book_text", "tiny_shakespeare": "text"}


class TFDSCorpus:
    """A text dataset prepared by `tensorflow_datasets`, read in order.

    Each example's `text_key` feature is one document (a PG-19 book, or the
    whole Tiny Shakespeare split). Reading never downloads unless
    `download=True`: offline, a missing dataset fails at once with a message
    saying how to prepare it, instead of TFDS retrying the network.

    Order: the split is read with `shuffle_files=False` and one file at a
    time (`ReadConfig(interleave_cycle_length=1)`), so the documents come
    in the order stored by the builder, the same on every read. (TFDS
    stores examples in a fixed order given by its example keys, unless the
    builder sets `disable_shuffling`, where it is the generation order;
    PG-19's builder does not, so its books come in the fixed, key-hashed
    order.)

    To prepare the data on a machine with internet access:
    `tfds build pg19 --data_dir=DIR` (or `python -c "import
    tensorflow_datasets as tfds; tfds.builder('pg19',
    data_dir='DIR').download_and_prepare()"`), then copy `DIR` here and
    pass `data_dir="DIR"`.

    Args:
        name: the TFDS dataset name, e.g. `"pg19"`, `"tiny_shakespeare"`.
        data_dir: the TFDS data folder; `None` is TFDS's default
            (`~/tensorflow_datasets`).
        download: download and prepare the dataset when it is missing.
        text_key: the feature holding the text; `None` picks it for the
            datasets known here (`"book_text"` for PG-19, `"text"`
            otherwise).

    Example:

    >>> corpus = TFDSCorpus("tiny_shakespeare", download=True)
    >>> text = next(corpus.texts("train"))
    """

    def __init__(self, name, data_dir=None, download=False, text_key=None):
        if not isinstance(name, str) or not name:
            raise ValueError(
                f"`name` must be a TFDS dataset name. Received: name={name!r}"
            )
        if text_key is not None and not isinstance(text_key, str):
            raise ValueError(
                f"`text_key` must be a feature name or None. "
                f"Received: text_key={text_key!r}"
            )
        self.name = name
        self.data_dir = data_dir
        self.download = bool(download)
        self.text_key = text_key or TEXT_KEYS.get(name, "text")
        self._builder = None

    def builder(self):
        """The TFDS builder (made once; prepared first if `download`)."""
        if self._builder is None:
            import tensorflow_datasets as tfds

            builder = tfds.builder(self.name, data_dir=self.data_dir)
            if self.download:
                builder.download_and_prepare()
            self._builder = builder
        return self._builder

    def texts(self, split):
        """Yields the `text_key` feature of each example of `split`."""
        if split not in TFDS_SPLITS:
            raise ValueError(
                f"`split` must be one of {tuple(TFDS_SPLITS)}. "
                f"Received: split={split!r}"
            )
        import tensorflow_datasets as tfds

        builder = self.builder()
        try:
            dataset = builder.as_dataset(
                split=TFDS_SPLITS[split],
                shuffle_files=False,
                read_config=tfds.ReadConfig(interleave_cycle_length=1),
            )
        except AssertionError as error:
            raise FileNotFoundError(self._missing_message(builder)) from error
        if self.text_key not in dataset.element_spec:
            raise ValueError(
                f"Dataset {self.name!r} has no feature {self.text_key!r}; "
                f"it has {sorted(dataset.element_spec)}. "
                f"Received: text_key={self.text_key!r}"
            )
        key = self.text_key
        for text in dataset.map(lambda x: x[key]).prefetch(2):
            yield text.numpy()

    def _missing_message(self, builder):
        where = builder.data_dir
        return (
            f"TFDS dataset {self.name!r} is not prepared in {where}. On a "
            f"machine with internet access run `tfds build {self.name} "
            f"--data_dir=DIR` and copy DIR here (then pass data_dir=DIR), "
            "or pass download=True to prepare it now. "
            f"Received: data_dir={self.data_dir!r}"
        )

    def sources(self):
        """Dataset name, version and the size of each prepared split.

        TFDS checks its own files, so these stand in for checksums:
        `{"name": "pg19/validation", "version", "size": bytes,
        "num_examples", "sha256": None}` per split, or a single entry
        without sizes when the split information is not known.
        """
        info = self.builder().info
        version = str(info.version)
        entries = [
            {
                "name": f"{self.name}/{split}",
                "version": version,
                "size": int(info.splits[split].num_bytes),
                "num_examples": int(info.splits[split].num_examples),
                "sha256": None,
            }
            for split in sorted(info.splits)
        ]
        return entries or [{"name": self.name, "version": version,
                            "size": None, "sha256": None}]

    def get_config(self):
        # `download` is left out: it changes how, not what, data is read.
        return {"name": self.name, "data_dir": self.data_dir,
                "text_key": self.text_key}

    def __repr__(self):
        return (f"TFDSCorpus({self.name!r}, data_dir={self.data_dir!r}, "
                f"download={self.download})")
