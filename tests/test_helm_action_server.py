"""On Kubernetes, too, only the Rasa servers reach the action servers: both charts' pods get the
shared secret from the same Secret key, and the NetworkPolicy (deploy/helm/) lets in exactly the
pods values.rasa.yml labels, on the port the action server listens on. Read from the files as the
charts use them (rasa 1.17, rasa-action-server 1.0: `podLabels` go onto the pods, `extraEnv`
into the container)."""
from __future__ import annotations

from typing import Any

import yaml

from bot.services.action_token import ENV_ACTION_TOKEN
from tests.conftest import ROOT

HELM = ROOT / "deploy" / "helm"


def load(name: str) -> Any:
    return yaml.safe_load((HELM / name).read_text(encoding="utf-8"))


ACTIONS, RASA, POLICY = load("values.action-server.yml"), load("values.rasa.yml"), load("networkpolicy.action-server.yml")


def secret_of(values: dict[str, Any], name: str) -> dict[str, Any]:
    [entry] = [env for env in values["extraEnv"] if env["name"] == name]
    return entry["valueFrom"]["secretKeyRef"]


def selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    return all(labels.get(key) == value for key, value in selector["matchLabels"].items())


def test_both_servers_get_the_same_secret_from_the_secret() -> None:
    assert secret_of(ACTIONS, ENV_ACTION_TOKEN) == secret_of(RASA, ENV_ACTION_TOKEN) == {
        "name": "fanzha-secrets", "key": "action-token"}


def test_the_network_policy_admits_only_the_rasa_servers_to_the_action_servers() -> None:
    assert (POLICY["apiVersion"], POLICY["kind"], POLICY["spec"]["policyTypes"]) == (
        "networking.k8s.io/v1", "NetworkPolicy", ["Ingress"])
    spec = POLICY["spec"]
    assert selects(spec["podSelector"], ACTIONS["podLabels"])
    assert not selects(spec["podSelector"], RASA["podLabels"])
    [rule] = spec["ingress"]
    [source] = rule["from"]
    assert set(source) == {"podSelector"}  # no namespaceSelector or ipBlock: these pods only
    assert selects(source["podSelector"], RASA["podLabels"])
    assert not selects(source["podSelector"], ACTIONS["podLabels"])
    assert rule["ports"] == [{"protocol": "TCP", "port": ACTIONS["applicationSettings"]["port"]}]


def test_the_action_servers_start_with_the_actions_package_that_checks_callers() -> None:
    # actions/__init__.py attaches actions/caller_check.py to the rasa_sdk server it is run in.
    assert ACTIONS["command"] == ["/app/.venv/bin/rasa"]
    assert ACTIONS["args"][:4] == ["run", "actions", "--actions", "actions"]
