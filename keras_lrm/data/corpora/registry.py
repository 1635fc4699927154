"""The corpora by name: `CORPORA` and `get_corpus`."""

from keras_lrm.data.corpora.enwik8 import Enwik8Corpus
from keras_lrm.data.corpora.stdlib import StdlibCorpus
from keras_lrm.data.corpora.text_files import TextFilesCorpus
from keras_lrm.data.corpora.tfds import TFDSCorpus
from keras_lrm.data.corpora.wikitext import WikiText103Corpus
from keras_lrm.data.options import make_with_options

CORPORA = ("stdlib", "enwik8", "wikitext103", "pg19", "tiny_shakespeare",
           "text")


def get_corpus(name, path=None, **kwargs):
    """Makes a corpus by name.

    Args:
        name: one of `CORPORA`:
            - `"stdlib"`: `StdlibCorpus(**kwargs)` (`path`, if given, is
              its `root`);
            - `"enwik8"`: `Enwik8Corpus(path, **kwargs)`, `path` the
              `enwik8` or `enwik8.zip` file;
            - `"wikitext103"`: `WikiText103Corpus(path)`, `path` the
              `wikitext-103` folder;
            - `"pg19"`, `"tiny_shakespeare"`: `TFDSCorpus(name,
              data_dir=path, **kwargs)`;
            - `"text"`: `TextFilesCorpus(path, **kwargs)`, `path` a file,
              folder or glob (`max_bytes` limits it as it does `stdlib`).
        path: the local data, as above.
        **kwargs: passed to the corpus class.

    Returns:
        The corpus.

    Example:

    >>> corpus = get_corpus("stdlib", max_bytes=1_000_000)
    >>> corpus.name
    'stdlib'
    """
    if name == "stdlib":
        return make_with_options(StdlibCorpus, kwargs, root=path)
    if name in ("pg19", "tiny_shakespeare"):
        return make_with_options(TFDSCorpus, kwargs, name=name,
                                 data_dir=path)
    if name not in CORPORA:
        raise ValueError(
            f"`name` must be one of {CORPORA}. Received: name={name!r}"
        )
    if path is None:
        raise ValueError(
            f"Corpus {name!r} needs `path`: the local data to read. "
            "Received: path=None"
        )
    if name == "enwik8":
        return make_with_options(Enwik8Corpus, kwargs, path=path)
    if name == "wikitext103":
        return make_with_options(WikiText103Corpus, kwargs, directory=path)
    return make_with_options(TextFilesCorpus, kwargs, pattern=path)

