"""The entity CRF comes from the cache at the second load, tags exactly as the one Rasa trained at the
first, and an unreadable cache file only means training again (bot/rasa_patches/crf_loading.py)."""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any, Iterator

import pytest
from rasa.engine.graph import ExecutionContext, GraphSchema
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.nlu.extractors.crf_entity_extractor import CRFEntityExtractor, CRFToken

from bot.rasa_patches import crf_loading
from tests.assistant import MODEL


@pytest.fixture(scope="module")
def stored_crf(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], LocalModelStorage, Any]:
    """The trained model's CRF node: its settings, the unpacked model and its resource."""
    storage, metadata = LocalModelStorage.from_model_archive(tmp_path_factory.mktemp("model"), MODEL)
    node = next(node for node in metadata.predict_schema.nodes.values() if node.uses is CRFEntityExtractor)
    return {**CRFEntityExtractor.get_default_config(), **node.config}, storage, node.resource


def load(stored_crf: tuple[dict[str, Any], LocalModelStorage, Any]) -> CRFEntityExtractor:
    config, storage, resource = stored_crf
    return CRFEntityExtractor.load(config, storage, resource, ExecutionContext(GraphSchema({}), "test"))


@pytest.fixture(scope="module")
def first_load(stored_crf, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, CRFEntityExtractor, list[Any]]:
    """The first load with the cache in place, once for the module (a training is seconds):
    nothing cached, so Rasa's own load, which trains; the cache it left, the CRF and its tagging."""
    cache = tmp_path_factory.mktemp("first") / "crf"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(crf_loading, "CRF_CACHE", cache)
        crf_loading.install()
        try:
            trained = load(stored_crf)
        finally:
            crf_loading.uninstall()
    return cache, trained, tagging(trained, stored_crf)


@pytest.fixture
def patched(first_load, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The patch installed on a copy of the cache the first load left."""
    shutil.copytree(first_load[0], tmp_path / "crf")
    monkeypatch.setattr(crf_loading, "CRF_CACHE", tmp_path / "crf")
    crf_loading.install()
    try:
        yield tmp_path / "crf"
    finally:
        crf_loading.uninstall()


def tagging(extractor: CRFEntityExtractor, stored_crf: tuple[dict[str, Any], LocalModelStorage, Any]) -> list[Any]:
    """The entity CRF's marginals for every 20th training sentence."""
    config, storage, resource = stored_crf
    with storage.read_from(resource) as model_dir:
        sentences = json.loads((Path(model_dir) / "crf_dataset.json").read_text(encoding="utf-8"))[::20]
    tagger = extractor.entity_taggers["entity"]
    return [tagger.predict_marginals_single(
        CRFEntityExtractor._crf_tokens_to_features([CRFToken.create_from_dict(t) for t in sentence], config, False))
        for sentence in sentences]


def test_the_second_load_reads_the_cache_and_tags_the_same(stored_crf, first_load, patched: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    cache, trained, trained_tagging = first_load
    assert sorted(path.name.split(".")[1] for path in cache.glob("*.crfsuite")) == sorted(trained.entity_taggers)

    def no_training(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("trained again although the CRF was cached")

    monkeypatch.setattr(CRFEntityExtractor, "train_model", no_training)
    cached = load(stored_crf)
    assert cached.crf_order == trained.crf_order
    found = tagging(cached, stored_crf)
    assert len(found) > 100 and found == trained_tagging


@pytest.mark.parametrize("damage", ["truncated", "not a model"])
def test_an_unreadable_cache_file_means_training_again(stored_crf, first_load, patched: Path, damage: str) -> None:
    cached_file = next(patched.glob("*.entity.*.crfsuite"))
    whole = cached_file.read_bytes()
    cached_file.write_bytes(whole[: len(whole) // 2] if damage == "truncated" else b"not a crfsuite model")
    again = load(stored_crf)
    assert tagging(again, stored_crf) == first_load[2]
    assert cached_file.read_bytes() == whole  # kept anew


def test_the_cache_keeps_the_files_of_the_most_recently_used_models(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(crf_loading, "CRF_CACHE", tmp_path)
    for age, key in enumerate("abcdef"):  # a is the newest
        for tag in ("entity", "role"):
            path = tmp_path / f"{key * 32}.{tag}.{'0' * 16}.crfsuite"
            path.write_bytes(b"model")
            os.utime(path, (1_000_000 - age, 1_000_000 - age))
    crf_loading._drop_old()
    assert sorted({path.name[0] for path in tmp_path.glob("*.crfsuite")}) == list("abcd")[: crf_loading._KEEP]
    assert len(list(tmp_path.glob("*.crfsuite"))) == 2 * crf_loading._KEEP
