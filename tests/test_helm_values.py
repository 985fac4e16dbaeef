"""The Helm ingress (deploy/helm/values.rasa.yml) lets the internet reach the public channel
routes only, not the HTTP API, the agent console or the outreach demo. Each path is matched as
Kubernetes matches it; what the rasa chart (1.17) does with the values is modelled from its
templates/ingress.yaml: `path` (default "/", ImplementationSpecific) plus `extraPaths`."""
from __future__ import annotations

from typing import Any

import pytest
import yaml

from tests.conftest import ROOT

VALUES = yaml.safe_load((ROOT / "deploy" / "helm" / "values.rasa.yml").read_text(encoding="utf-8"))
RELEASE = "fanzha"  # docs/deployment.md: helm install fanzha rasa/rasa -f deploy/helm/values.rasa.yml

PUBLIC = (
    "/chat", "/chat/mask", "/widget.js", "/static/chat.js", "/static/vendor/socket.io.min.js",
    "/socket.io/", "/webhooks/rest/webhook", "/webhooks/wechat/webhook",
    "/webhooks/rest/picture", "/webhooks/socketio/picture",
    "/webhooks/voice/webhook", "/webhooks/voice/status", "/webhooks/voice/dial", "/webhooks/voice/whisper",
)
PRIVATE = (
    "/", "/console", "/console/login", "/console/api/login", "/console/api/tickets/1/claim",
    "/model/parse", "/model", "/conversations/abc/tracker", "/conversations/abc/messages",
    "/conversations/abc/trigger_intent", "/status", "/version", "/domain", "/webhook",
    "/webhooks/rest/", "/webhooks/console/", "/webhooks/socketio/", "/demo", "/demo/api/quiz",
    "/chatty", "/staticky", "/socket.iox",
)


def ingress_rules(values: dict[str, Any]) -> list[tuple[str, str]]:
    ingress = values.get("ingress") or {}
    if not ingress.get("enabled"):
        return []
    rules = [(ingress.get("path", "/"), ingress.get("pathType", "ImplementationSpecific"))]
    return rules + [(extra["path"], extra.get("pathType", "ImplementationSpecific")) for extra in ingress.get("extraPaths") or []]


def reaches(url_path: str, rule: tuple[str, str]) -> bool:
    path, kind = rule
    if kind == "Exact":
        return url_path == path
    if kind == "Prefix":  # whole path elements: /static matches /static/x, not /staticky
        elements = path.rstrip("/").split("/")
        return url_path.split("/")[: len(elements)] == elements
    return url_path.startswith(path)  # ImplementationSpecific: ingress-nginx matches a plain prefix


def test_only_the_public_routes_are_reachable_from_the_internet():
    rules = ingress_rules(VALUES)
    exposed = [url for url in PRIVATE if any(reaches(url, rule) for rule in rules)]
    assert exposed == [], f"the ingress exposes {exposed}"
    unreachable = [url for url in PUBLIC if not any(reaches(url, rule) for rule in rules)]
    assert unreachable == [], f"residents, WeChat or Twilio cannot reach {unreachable}"


def test_every_path_is_exact_or_whole_element_prefix():
    # ImplementationSpecific means whatever the controller makes of it (ingress-nginx: a string prefix).
    assert {kind for _, kind in ingress_rules(VALUES)} <= {"Exact", "Prefix"}


def test_the_extra_paths_reach_the_charts_own_service():
    # The chart names its Service <release>-rasa (rasa-common.names.fullname) unless overridden.
    service = VALUES.get("fullnameOverride") or f"{RELEASE}-rasa"
    for extra in VALUES["ingress"]["extraPaths"]:
        assert extra["backend"] == {"service": {"name": service, "port": {"name": "http"}}}, extra["path"]


def test_the_service_itself_stays_inside_the_cluster():
    assert (VALUES.get("service") or {}).get("type", "ClusterIP") == "ClusterIP"


@pytest.mark.parametrize(
    "url, rule, expected",
    [
        ("/static/x.js", ("/static", "Prefix"), True),
        ("/static", ("/static/", "Prefix"), True),
        ("/staticky", ("/static", "Prefix"), False),
        ("/anything", ("/", "Prefix"), True),
        ("/chat/mask", ("/chat", "Exact"), False),
        ("/chatty", ("/chat", "ImplementationSpecific"), True),
    ],
)
def test_paths_match_as_kubernetes_matches_them(url, rule, expected):
    assert reaches(url, rule) is expected


def test_the_servers_trust_the_ingress_as_their_one_proxy():
    # Without it the console's cookie is never Secure behind the ingress's TLS (request.scheme
    # stays http) and every resident shares the ingress's address in the per-address limits.
    env = {entry["name"]: entry.get("value") for entry in VALUES.get("extraEnv") or []}
    assert env.get("FANZHA_PROXIES_COUNT") == "1"


def test_the_ingress_lets_a_screenshot_through():
    # ingress-nginx refuses bodies over 1 MB unless told otherwise: most phone screenshots would
    # get a 413 at the ingress before the server's own cap is ever reached.
    from bot.channels.request_checks import MAX_PICTURE_POST_BYTES

    size = VALUES["ingress"]["annotations"]["nginx.ingress.kubernetes.io/proxy-body-size"]
    assert size.endswith("m") and int(size[:-1]) * 1024 * 1024 >= MAX_PICTURE_POST_BYTES
