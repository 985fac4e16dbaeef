"""The entity CRF read from a cache instead of trained again at every start: 2 s of each load.

Rasa's CRFEntityExtractor keeps only its training data in the model and trains the CRF again
whenever the model is loaded (every server start, every understanding server start). Training is
deterministic, so the trained CRF is kept in ``var/cache/crf/`` under a hash of that data, the
extractor's settings and the CRF library's version, and read from there at the next load. A
missing or damaged file (its name carries its content's hash) means Rasa's own load, whose CRF is
then kept. The cache holds crfsuite's own model files (no pickle); tests/test_patch_parity.py
shows the entities are Rasa's.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections import OrderedDict
from importlib.metadata import version
from pathlib import Path
from typing import Any

from bot.services.runtime_state import CACHE_DIR

CRF_CACHE = CACHE_DIR / "crf"
_FORMAT = 1  # bump when what is cached changes meaning
_KEEP = 4  # models whose CRFs are kept: a second checkout or a test model does not evict the served one
_TAGS = ("entity", "role", "group")  # Rasa's crf_order names, the only ones used in file names

_rasa_load: Any = None


def cache_key(model_dir: Path, config: dict[str, Any]) -> tuple[str, list[str]]:
    """The hash of everything the trained CRF depends on, and the CRFs' order."""
    dataset = (model_dir / "crf_dataset.json").read_bytes()
    order_text = (model_dir / "crf_order.json").read_bytes()
    order = json.loads(order_text)
    if not (isinstance(order, list) and order and all(tag in _TAGS for tag in order)):
        raise ValueError(f"unexpected CRF order in the model: {order!r}")
    recipe = json.dumps({"format": _FORMAT, "config": config, "crfsuite": version("python-crfsuite"),
                         "sklearn_crfsuite": version("sklearn-crfsuite")}, sort_keys=True, default=str)
    digest = hashlib.sha256(recipe.encode())
    digest.update(order_text)
    digest.update(dataset)
    return digest.hexdigest()[:32], order


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


def _intact(key: str, tag: str) -> Path | None:
    """The cached file whose content matches the digest in its name: crfsuite crashes the whole
    process on a truncated model file, so nothing else is opened."""
    for path in CRF_CACHE.glob(f"{key}.{tag}.*.crfsuite"):
        try:
            if path.name.split(".")[2] == _digest(path.read_bytes()):
                return path
        except OSError:  # removed meanwhile by another process
            continue
    return None


def cached_taggers(key: str, order: list[str]) -> OrderedDict[str, Any] | None:
    """The CRFs trained earlier on exactly this data, opened; None if any is missing or damaged."""
    import sklearn_crfsuite

    taggers: OrderedDict[str, Any] = OrderedDict()
    for tag in order:
        path = _intact(key, tag)
        if path is None:
            return None
        tagger = sklearn_crfsuite.CRF(model_filename=str(path))
        try:
            if tagger.tagger_ is None:  # opens and reads the file now, not at the first message
                return None
            os.utime(path)  # most recently used: kept when older models' files are dropped
        except (OSError, ValueError):  # dropped meanwhile, or not a crfsuite model
            return None
        taggers[tag] = tagger
    return taggers


def keep_taggers(key: str, taggers: dict[str, Any]) -> None:
    """Copy each freshly trained CRF's model file into the cache; a full or read-only disk only
    means the next load trains again."""
    try:
        CRF_CACHE.mkdir(mode=0o700, parents=True, exist_ok=True)
        for tag, tagger in taggers.items():
            data = Path(tagger.modelfile.name).read_bytes()
            # Write beside the target and rename: a server starting meanwhile never reads half a file.
            handle, temporary = tempfile.mkstemp(dir=CRF_CACHE, prefix=".crf-")
            try:
                with os.fdopen(handle, "wb") as out:
                    out.write(data)
                os.replace(temporary, CRF_CACHE / f"{key}.{tag}.{_digest(data)}.crfsuite")
            except BaseException:
                Path(temporary).unlink(missing_ok=True)
                raise
        _drop_old()
    except OSError:
        pass


def _drop_old() -> None:
    """Only the files of the _KEEP most recently used models stay."""
    newest: dict[str, float] = {}
    for path in CRF_CACHE.glob("*.crfsuite"):
        try:
            used = path.stat().st_mtime
        except OSError:  # removed meanwhile by another process
            continue
        key = path.name.split(".", 1)[0]
        newest[key] = max(used, newest.get(key, 0.0))
    for key in sorted(newest, key=newest.__getitem__, reverse=True)[_KEEP:]:
        for path in CRF_CACHE.glob(f"{key}.*.crfsuite"):
            path.unlink(missing_ok=True)


def load_with_cached_crf(cls: type, config: dict[str, Any], model_storage: Any, resource: Any,
                         execution_context: Any, **kwargs: Any) -> Any:
    """CRFEntityExtractor.load (the same signature), training only when nothing is cached."""
    try:
        with model_storage.read_from(resource) as model_dir:
            key, order = cache_key(Path(model_dir), config)
    except (OSError, ValueError):  # no such resource, or not as expected: Rasa's load says what is wrong
        return _rasa_load(cls, config, model_storage, resource, execution_context, **kwargs)
    taggers = cached_taggers(key, order)
    if taggers is None:
        extractor = _rasa_load(cls, config, model_storage, resource, execution_context, **kwargs)
        if extractor.entity_taggers:
            keep_taggers(key, extractor.entity_taggers)
        return extractor
    extractor = cls(config, model_storage, resource, taggers)
    extractor.crf_order = order
    return extractor


def install() -> None:
    """Models loaded by this process from now on read their entity CRF from the cache."""
    global _rasa_load
    from rasa.nlu.extractors.crf_entity_extractor import CRFEntityExtractor

    if _rasa_load is None:
        _rasa_load = CRFEntityExtractor.load.__func__  # type: ignore[attr-defined]
    CRFEntityExtractor.load = classmethod(load_with_cached_crf)  # type: ignore[method-assign, assignment]


def uninstall() -> None:
    from rasa.nlu.extractors.crf_entity_extractor import CRFEntityExtractor

    if _rasa_load is not None:
        CRFEntityExtractor.load = classmethod(_rasa_load)  # type: ignore[method-assign, assignment]
