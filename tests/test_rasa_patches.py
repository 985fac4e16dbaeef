"""fanzha's changes to Rasa (bot/rasa_patches/): the lighter model loader keeps no training state, the
event-type cache gives the same classes, and one call installs and uninstalls them all. That the
answers are stock Rasa's, with every change in place: tests/test_patch_parity.py."""
from __future__ import annotations

from typing import Any

import pytest
import yaml
from rasa.core.agent import Agent

from bot.rasa_patches import event_types
from tests.conftest import ROOT


def holdout_texts(every: int = 4) -> list[str]:
    """A spread of the held-out NLU test file: every intent, not every example."""
    data = yaml.safe_load((ROOT / "tests" / "nlu" / "holdout.yml").read_text(encoding="utf-8"))
    texts = [line[2:].strip() for item in data["nlu"] for line in item["examples"].splitlines() if line.startswith("- ")]
    return texts[::every]


def test_the_serving_loader_keeps_no_training_state(plain_serving_agent: Agent) -> None:
    """Rasa's own loader keeps each model's optimiser (two more copies of every weight); the
    answers are Rasa's own: tests/test_patch_parity.py."""
    nodes = plain_serving_agent.processor.graph_runner._instantiated_nodes.values()  # type: ignore[attr-defined]
    models = [node._component.model for node in nodes if hasattr(getattr(node, "_component", None), "model")
              and hasattr(node._component.model, "run_inference")]
    assert len(models) == 3  # DIET, ResponseSelector, TED
    assert all(model.optimizer is None for model in models)


def test_event_types_are_remembered_with_the_same_answers() -> None:
    from rasa.shared.core.events import Event
    from rasa.shared.utils.common import all_subclasses

    names = {cls.type_name for cls in all_subclasses(Event) if getattr(cls, "type_name", None)}
    expected = {name: Event.resolve_by_type(name) for name in names}
    event_types.install()
    try:
        assert {name: Event.resolve_by_type(name) for name in names} == expected
        assert len(names) > 15
        with pytest.raises(ValueError, match="Unknown event name"):
            Event.resolve_by_type("no_such_event")
    finally:
        event_types.uninstall()


def rasa_as_it_stands() -> dict[str, Any]:
    """Every place of Rasa (and Sanic's defaults) that a change in bot/rasa_patches/ replaces."""
    import rasa.core.processor
    import rasa.core.run
    import rasa.server
    from rasa.core.actions.action import RemoteAction
    from rasa.core.policies.ted_policy import TEDPolicy
    from rasa.core.processor import MessageProcessor
    from rasa.nlu.extractors.crf_entity_extractor import CRFEntityExtractor
    from rasa.nlu.selectors.response_selector import ResponseSelector
    from rasa.shared.core.events import Event
    from rasa.utils.tensorflow.models import RasaModel
    from sanic.config import DEFAULT_CONFIG

    return {
        "model_loading": RasaModel.__dict__["load"].__func__,
        "crf_loading": CRFEntityExtractor.__dict__["load"].__func__,
        "event_types": Event.__dict__["resolve_by_type"].__func__,
        "proxy": tuple(DEFAULT_CONFIG.get(name) for name in ("PROXIES_COUNT", "REAL_IP_HEADER", "FORWARDED_SECRET")),
        "ted_shortcut": (TEDPolicy.__dict__["predict_action_probabilities"], rasa.core.processor.DaskGraphRunner),
        "faq_selector": ResponseSelector.__dict__["process"],
        "api_guard": rasa.server.create_app,
        "nlu_offload": (MessageProcessor.__dict__["parse_message"], rasa.core.run.close_resources),
        "origins": rasa.server.configure_cors,
        "action_guard": (RemoteAction.__dict__["run"], RemoteAction.__dict__["_validate_action_result"]),
    }


def test_one_call_makes_every_change_and_one_call_takes_them_all_back(monkeypatch: pytest.MonkeyPatch,
                                                                       tmp_path: Any) -> None:
    import os
    import sys

    from bot import rasa_patches

    monkeypatch.setitem(sys.modules, "jax", sys.modules.get("jax"))  # model_loading hides JAX: put it back after
    for name in ("TF_ENABLE_ONEDNN_OPTS", "TF_INTER_OP_PARALLELISM_THREADS", "TF_INTRA_OP_PARALLELISM_THREADS"):
        monkeypatch.setenv(name, os.environ.get(name, "0"))
    monkeypatch.setenv("FANZHA_PROXIES_COUNT", "1")  # the changes that depend on a setting, all set
    monkeypatch.setenv("FANZHA_NLU_URL", f"unix:{tmp_path}/nlu.sock")
    monkeypatch.setenv("FANZHA_ACTION_TOKEN", "t" * 40)
    stock = rasa_as_it_stands()
    assert set(stock) == set(rasa_patches.EVERY_PATCH)
    rasa_patches.install()
    try:
        patched = rasa_as_it_stands()
    finally:
        rasa_patches.uninstall()
    assert [name for name in stock if patched[name] == stock[name]] == []  # each one changed Rasa
    assert rasa_as_it_stands() == stock  # and each one was put back


def test_importing_fanzhas_code_changes_nothing_in_rasa() -> None:
    """No change is made by an import: only rasa_patches.install() makes them."""
    import subprocess
    import sys

    script = (
        "import importlib, pkgutil, bot\n"
        "from tests.test_rasa_patches import rasa_as_it_stands\n"
        "stock = rasa_as_it_stands()\n"
        "names = [m.name for m in pkgutil.walk_packages(bot.__path__, 'bot.')]\n"
        "for name in names + ['actions']: importlib.import_module(name)\n"
        "changed = [k for k, v in rasa_as_it_stands().items() if v != stock[k]]\n"
        "print(len(names), changed)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    count, changed = done.stdout.strip().splitlines()[-1].split(" ", 1)
    assert int(count) > 80 and changed == "[]"
