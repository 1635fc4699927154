"""Tokenizers: exact round trips, Transformer-XL words, save and load."""

import os

import numpy as np
import pytest
import tensorflow as tf

from keras_lrm.data import ByteTokenizer
from keras_lrm.data import SentencePieceTokenizer
from keras_lrm.data import WikiText103Corpus
from keras_lrm.data import WordTokenizer
from keras_lrm.data import get_tokenizer
from keras_lrm.data import load_tokenizer
from tests.data import samples


def test_bytes_round_trip_any_bytes():
    texts = [b"", b"hello\n", bytes(range(256)), b"\xff\xfe caf\xc3\xa9"]
    tokenizer = ByteTokenizer()
    ids = tokenizer.tokenize(texts)
    assert isinstance(ids, tf.RaggedTensor) and ids.dtype == tf.int32
    assert ids.to_list() == [list(t) for t in texts]
    assert tokenizer.detokenize(ids).numpy().tolist() == texts
    assert tokenizer.detokenize(list(b"abc")).numpy() == b"abc"
    assert tokenizer.tokenize(tf.constant(texts)).to_list() == ids.to_list()
    assert tokenizer.vocab_size == 256 and tokenizer.name == "bytes"


def wiki_tokenizer(tmp_path):
    corpus = WikiText103Corpus(str(samples.write_wikitext(tmp_path)))
    return corpus, WordTokenizer.build(corpus.texts("train"), progress=False)


def test_word_vocabulary_comes_from_train_only(tmp_path):
    corpus, tokenizer = wiki_tokenizer(tmp_path)
    vocab = [t.decode() for t in tokenizer.vocabulary]
    assert vocab[:2] == ["<unk>", "<eos>"]
    # By count, ties by first appearance: "=" x6, "game" x5, then "is"
    # and "." x3 each, "is" seen first.
    assert vocab[2:6] == ["=", "game", "is", "."]
    assert "Homarus" not in vocab and "Robert" not in vocab
    train_words = set(samples.WIKI_TRAIN.split())
    assert set(vocab) == train_words | {"<eos>"}


def test_word_tokenize_follows_transformer_xl(tmp_path):
    corpus, tokenizer = wiki_tokenizer(tmp_path)
    index = {t.decode(): i for i, t in enumerate(tokenizer.vocabulary)}
    lines = list(corpus.texts("valid"))
    ids = tokenizer.tokenize(lines).to_list()
    expected = [
        [index.get(w, index["<unk>"]) for w in line.decode().split()] +
        [index["<eos>"]]
        for line in lines
    ]
    assert ids == expected
    assert ids[0] == [index["<eos>"]]  # a blank line is just <eos>
    # Unseen valid words are <unk>; the train word "game" is known.
    assert ids[3].count(index["<unk>"]) == 4
    assert index["game"] in ids[3]
    # A text of several lines: one <eos> per line, no extra for the end.
    whole = tokenizer.tokenize([b"".join(lines), b""]).to_list()
    assert whole == [sum(expected, []), []]


def test_word_split_matches_python_str_split():
    text = "a\u00a0b c\u2003d\te\u3000f \x1cg  h"
    tokenizer = WordTokenizer(["<unk>", "<eos>"] + text.split())
    ids = tokenizer.tokenize([text.encode()]).to_list()[0]
    assert ids == list(range(2, 2 + len(text.split()))) + [1]


def test_word_detokenize_puts_lines_back(tmp_path):
    _, tokenizer = wiki_tokenizer(tmp_path)
    text = b"The game is a game .\n\n= Gameplay =\n"
    ids = tokenizer.tokenize([text])
    assert tokenizer.detokenize(ids).numpy().tolist() == [text]
    assert tokenizer.detokenize(ids[0]).numpy() == text
    assert tokenizer.detokenize([[tokenizer.unk_id, 1]]).numpy()[0] == \
        b"<unk>\n"


def test_word_build_limits():
    texts = [b"a a a b b c\n", b"d c\n"]
    limited = WordTokenizer.build(texts, max_size=4, progress=False)
    assert limited.vocabulary == [b"<unk>", b"<eos>", b"a", b"b"]
    common = WordTokenizer.build(texts, min_count=2, progress=False)
    assert common.vocabulary == [b"<unk>", b"<eos>", b"a", b"b", b"c"]
    with pytest.raises(ValueError, match="Received: max_size=1"):
        WordTokenizer.build(texts, max_size=1)


def test_word_vocabulary_checks():
    with pytest.raises(ValueError, match="Received: unk_token='<unk>'"):
        WordTokenizer(["<eos>", "a"])
    with pytest.raises(ValueError, match=r"repeated tokens=\[b'a'\]"):
        WordTokenizer(["<unk>", "<eos>", "a", "a"])
    with pytest.raises(ValueError, match="newlines"):
        WordTokenizer(["<unk>", "<eos>", "a\nb"])


def spm_path(tmp_path):
    path = tmp_path / "char.model"
    path.write_bytes(samples.sentencepiece_model(["\u2581"] + list("abcde")))
    return str(path)


def test_sentencepiece_wraps_a_model_file(tmp_path):
    tokenizer = SentencePieceTokenizer(spm_path(tmp_path))
    assert tokenizer.vocab_size == 9
    ids = tokenizer.tokenize([b"ab cab", b"e"])
    assert ids.to_list() == [[4, 5, 3, 6, 4, 5], [8]]
    assert tokenizer.detokenize(ids).numpy().tolist() == [b"ab cab", b"e"]
    bad = tmp_path / "bad.model"
    bad.write_bytes(b"not a model")
    with pytest.raises(ValueError, match="bad.model"):
        SentencePieceTokenizer(str(bad))


@pytest.mark.parametrize("kind", ["bytes", "words", "sentencepiece"])
def test_save_and_load_round_trip(tmp_path, kind):
    if kind == "bytes":
        tokenizer = ByteTokenizer()
    elif kind == "words":
        tokenizer = wiki_tokenizer(tmp_path)[1]
    else:
        tokenizer = SentencePieceTokenizer(spm_path(tmp_path))
    directory = str(tmp_path / "saved")
    tokenizer.save(directory)
    assert not [n for n in os.listdir(directory) if ".tmp-" in n]
    loaded = load_tokenizer(directory)
    assert type(loaded) is type(tokenizer)
    assert loaded.get_config() == tokenizer.get_config()
    text = [b"The game abc\n"]
    np.testing.assert_array_equal(loaded.tokenize(text).to_list(),
                                  tokenizer.tokenize(text).to_list())


def test_load_tokenizer_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="tokenizer.json"):
        load_tokenizer(str(tmp_path))
    _, tokenizer = wiki_tokenizer(tmp_path)
    directory = tmp_path / "saved"
    tokenizer.save(str(directory))
    with open(directory / "vocab.txt", "ab") as f:
        f.write(b"extra\n")
    with pytest.raises(ValueError, match="vocab.txt does not match"):
        load_tokenizer(str(directory))


def test_get_tokenizer(tmp_path):
    assert isinstance(get_tokenizer("bytes"), ByteTokenizer)
    corpus, built = wiki_tokenizer(tmp_path)
    words = get_tokenizer("words", corpus, progress=False)
    assert words.vocabulary == built.vocabulary
    with pytest.raises(ValueError, match="Received: corpus=None"):
        get_tokenizer("words")
    with pytest.raises(ValueError, match="Received: name='bpe'"):
        get_tokenizer("bpe")
