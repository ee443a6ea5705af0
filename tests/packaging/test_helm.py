"""helm/pullinfra, linted and rendered by Helm's own Go SDK (helm-python-sdk, no binary),
its config.toml loaded by pullinfra's config loader as each replica would load it."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

import helm_python
import jsonschema
import pytest
import yaml

from agent.config import load_config
from agent.config.shard import hosts_for_shard

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "helm" / "pullinfra"
RELEASE = "fleet"
FULLNAME = "fleet-pullinfra"

EVERYTHING_ON: dict[str, Any] = {
    "shards": 2,
    "source": {"url": "ssh://git@git.example.com/infra/fleet.git", "verify": "head"},
    "deployments": [{"name": "web", "inventory": "inventories/web.py", "deploys": ["web.py"],
                     "limit": ["eu"], "paths": ["web/"], "mode": "apply",
                     "data": {"app_port": 8080, "tier": "front"}}],
    "notify": [{"type": "webhook", "name": "ops", "url": "https://hooks.example.com/p",
                "on": ["changed", "failed"], "secretRef": {"name": "notify", "key": "ops"}}],
    "secrets": {
        "gitSSH": {"name": "git-ssh", "keyKey": "id", "knownHostsKey": "known_hosts"},
        "fleetSSH": {"name": "fleet-ssh", "keyKey": "id", "knownHostsKey": "known_hosts"},
        "gitToken": {"name": "git-token", "key": "token"},
        "apiToken": {"name": "api", "key": "token"},
        "webhookSecret": {"name": "hooks", "key": "secret"},
        "allowedSigners": {"name": "signers", "key": "allowed_signers"},
    },
    "serviceMonitor": {"enabled": True}, "prometheusRule": {"enabled": True},
    "networkPolicy": {"enabled": True,
                      "ingressFrom": [{"namespaceSelector": {"matchLabels": {"name": "mon"}}}]},
}


def render(values: dict[str, Any] | None = None,
           chart_path: Path = CHART) -> dict[str, dict[str, Any]]:
    """{kind: object} of the rendered chart (each kind appears once in this chart)."""
    chart = helm_python.Chart.load(chart_path)
    try:
        out = chart.render(values or {}, name=RELEASE, namespace="ops")
    finally:
        chart.close()
    objects = [doc for text in out.values() for doc in yaml.safe_load_all(text) if doc]
    kinds = [o["kind"] for o in objects]
    assert len(kinds) == len(set(kinds)), kinds
    return {o["kind"]: o for o in objects}


def pod_env(statefulset: dict[str, Any], ordinal: int,
            secret_values: dict[tuple[str, str], str]) -> dict[str, str]:
    """The container's environment as the kubelet sets it for replica `ordinal`."""
    (container,) = statefulset["spec"]["template"]["spec"]["containers"]
    env = {}
    for item in container.get("env", []):
        if "value" in item:
            env[item["name"]] = item["value"]
            continue
        source = item["valueFrom"]
        if "fieldRef" in source:
            assert source["fieldRef"]["fieldPath"] == "metadata.name"
            env[item["name"]] = f"{statefulset['metadata']['name']}-{ordinal}"
        else:
            ref = source["secretKeyRef"]
            env[item["name"]] = secret_values[(ref["name"], ref["key"])]
    return env


def load_as_replica(objects: dict[str, dict[str, Any]], ordinal: int, tmp_path: Path,
                    secret_values: dict[tuple[str, str], str] | None = None):
    """The rendered config.toml, with the pod's mounts and env, through load_config."""
    mounts = tmp_path / "mounts"
    text = objects["ConfigMap"]["data"]["config.toml"].replace("/etc/pullinfra/",
                                                               f"{mounts}/")
    for path in re.findall(rf"{re.escape(str(mounts))}/[^\"]+", text):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text("stand-in for a mounted Secret key\n")
    config = tmp_path / f"config-{ordinal}.toml"
    config.write_text(text)
    return load_config(config, env=pod_env(objects["StatefulSet"], ordinal,
                                           secret_values or {}))


@pytest.mark.parametrize("kube_version", [None, "v1.27.0"])  # 1.27: no pod-index label yet
def test_lint_with_strict_on_is_clean_for_the_defaults_and_everything_on(kube_version):
    for values in ({}, EVERYTHING_ON):
        result = helm_python.lint(CHART, values, strict=True, kube_version=kube_version)
        assert result == {"total_charts_linted": 1, "messages": [], "errors": []}, result


def test_strict_lint_reports_a_bad_value():
    """The clean-lint assertion above can fail: a schema violation is an error."""
    result = helm_python.lint(CHART, {"shards": 0}, strict=True)
    assert any("/shards" in error for error in result["errors"]), result


def test_the_default_values_render_a_statefulset_its_config_and_service(tmp_path):
    objects = render()
    assert set(objects) == {"ConfigMap", "StatefulSet", "Service", "PodDisruptionBudget"}
    assert objects["StatefulSet"]["spec"]["replicas"] == 1
    config = load_as_replica(objects, 0, tmp_path)
    assert config.source.url == "https://git.example.com/infra/fleet.git"
    assert (config.shard.index, config.shard.count) == (0, 1)
    assert [d.name for d in config.deployment] == ["fleet"]
    assert config.http.listen == "0.0.0.0:9469" and str(config.state.dir) == "/var/lib/pullinfra"


def test_three_shards_each_replica_loads_its_own_index(tmp_path):
    objects = render({"shards": 3})
    assert objects["StatefulSet"]["spec"]["replicas"] == 3
    hosts = [f"web-{n:02d}" for n in range(30)]
    owned = []
    for ordinal in range(3):
        config = load_as_replica(objects, ordinal, tmp_path)
        assert (config.shard.index, config.shard.count) == (ordinal, 3)
        assert config.instance == f"{FULLNAME}-{ordinal}"
        owned.append(hosts_for_shard(hosts, config.shard.index, config.shard.count))
    assert sorted(h for part in owned for h in part) == sorted(hosts)  # each host once
    assert all(owned)


def test_every_optional_feature_renders_and_its_config_loads(tmp_path):
    objects = render(EVERYTHING_ON)
    assert set(objects) == {"ConfigMap", "StatefulSet", "Service", "PodDisruptionBudget",
                            "ServiceMonitor", "PrometheusRule", "NetworkPolicy"}
    secrets = {("git-token", "token"): "gh-token", ("api", "token"): "api-token",
               ("hooks", "secret"): "hook-secret", ("notify", "ops"): "notify-secret"}
    config = load_as_replica(objects, 1, tmp_path, secrets)
    assert (config.shard.index, config.shard.count) == (1, 2)
    assert config.source.token.get_secret_value() == "gh-token"
    assert config.http.token.get_secret_value() == "api-token"
    assert config.http.webhook_secret_for("github") == "hook-secret"
    (notify,) = config.notify
    assert (notify.notifier, notify.secret.get_secret_value()) == ("ops", "notify-secret")
    assert config.source.ssh_key.name == "id" and config.source.allowed_signers is not None
    (deployment,) = config.deployment
    assert deployment.limit == ["eu"] and deployment.paths == ["web/"]
    assert deployment.data["app_port"] == 8080
    assert deployment.data["ssh_key"].endswith("/fleet-ssh/id")
    assert deployment.data["ssh_strict_host_key_checking"] == "yes"
    rules = objects["PrometheusRule"]["spec"]["groups"]
    assert rules == yaml.safe_load((ROOT / "monitoring" / "alerts.yaml").read_text())["groups"]
    monitor = objects["ServiceMonitor"]["spec"]["endpoints"]
    assert monitor == [{"port": "http", "path": "/metrics", "interval": "30s"}]
    policy = objects["NetworkPolicy"]["spec"]
    assert policy["ingress"][0]["from"] == EVERYTHING_ON["networkPolicy"]["ingressFrom"]
    mounts = {m["mountPath"] for m in
              objects["StatefulSet"]["spec"]["template"]["spec"]["containers"][0]["volumeMounts"]}
    assert {"/etc/pullinfra/git-ssh", "/etc/pullinfra/fleet-ssh"} <= mounts
    rendered = json.dumps(objects)
    for secret in secrets.values():
        assert secret not in rendered  # secrets are references, never values
    assert "Secret" not in objects


def test_the_pod_is_locked_down_probed_and_keeps_its_state_on_a_claim():
    spec = render()["StatefulSet"]["spec"]
    pod = spec["template"]["spec"]
    (container,) = pod["containers"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["automountServiceAccountToken"] is False
    security = container["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert security["seccompProfile"] == {"type": "RuntimeDefault"}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert container["command"] == ["pullinfra"]
    assert container["args"] == ["agent", "--config", "/etc/pullinfra/config.toml"]
    (claim,) = spec["volumeClaimTemplates"]
    assert claim["metadata"]["name"] == "state"
    assert {"name": "state", "mountPath": "/var/lib/pullinfra"} in container["volumeMounts"]
    assert {"name": "tmp", "emptyDir": {}} in pod["volumes"]


def test_values_yaml_validates_against_the_schema():
    schema = json.loads((CHART / "values.schema.json").read_text())
    jsonschema.Draft7Validator.check_schema(schema)
    jsonschema.validate(yaml.safe_load((CHART / "values.yaml").read_text()), schema)


@pytest.mark.parametrize("bad, why", [
    ({"shards": 0}, "shards"),
    ({"shards": "three"}, "shards"),
    ({"replicas": 3}, "replicas"),
    ({"source": {"url": "https://g/r.git", "verify": "maybe"}}, "verify"),
    ({"secrets": {"gitToken": "ghp_literal_token"}}, "gitToken"),
    ({"notify": [{"type": "webhook", "name": "ops", "url": "https://h/p", "secret": "x"}]},
     "secret"),
    ({"deployments": []}, "deployments"),
    ({"secrets": {"apiToken": {"name": "api", "key": "token", "value": "s3cret"}}}, "value"),
    ({"networkPolicy": {"enabled": True, "egressPorts": []}}, "egressPorts"),
])
def test_bad_values_are_refused_by_helm(bad, why):
    with pytest.raises(helm_python.HelmError, match=why):
        render(bad)


SECRET_WORDS = re.compile(r"token|password|passphrase|secret|private|key|credential", re.I)
REFERENCE_KEYS = {"name", "key", "keyKey", "knownHostsKey"}


def is_reference(node: Any) -> bool:
    """A Secret reference: {name, key...} naming a Secret and keys inside it, no value."""
    return isinstance(node, dict) and "name" in node and set(node) <= REFERENCE_KEYS


def literal_secrets(node: Any, path: str = "") -> list[str]:
    """Paths in values where a secret-looking key holds a literal instead of a reference.

    Inside a reference, `key`/`keyKey` name a key of the Secret, so they may be strings.
    """
    found = []
    if isinstance(node, dict):
        inside_reference = is_reference(node)
        for key, value in node.items():
            here = f"{path}.{key}" if path else key
            literal = isinstance(value, str | int | float) and value != ""
            if SECRET_WORDS.search(key) and literal and not inside_reference:
                found.append(here)
            found += literal_secrets(value, here)
    elif isinstance(node, list):
        for index, item in enumerate(node):
            found += literal_secrets(item, f"{path}[{index}]")
    return found


def test_values_yaml_holds_no_secret_values_only_references():
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert literal_secrets(values) == []
    for name, ref in values["secrets"].items():
        assert is_reference(ref), name
        assert ref["name"] == "", f"secrets.{name} names a Secret by default"


@pytest.mark.parametrize("values, found", [
    ({"a": {"apiToken": "s3cret"}}, ["a.apiToken"]),
    ({"secrets": {"gitToken": "ghp_literal"}}, ["secrets.gitToken"]),
    ({"http": {"password": "hunter2", "webhook_secret": "x"}},
     ["http.password", "http.webhook_secret"]),
    ({"ssh": {"privateKey": "-----BEGIN OPENSSH PRIVATE KEY-----"}}, ["ssh.privateKey"]),
    ({"notify": [{"name": "ops", "secretRef": {"name": "n", "key": "ops"}, "key": "raw"}]},
     ["notify[0].key"]),
    ({"secrets": {"gitSSH": {"name": "g", "keyKey": "id", "knownHostsKey": "kh"}}}, []),
])
def test_the_secret_value_check_tells_literals_from_references(values, found):
    assert literal_secrets(values) == found


def test_files_alerts_yaml_is_a_relative_link_to_the_one_rules_file():
    link = CHART / "files" / "alerts.yaml"
    assert link.is_symlink()
    assert os.readlink(link) == "../../../monitoring/alerts.yaml"
    assert link.resolve() == (ROOT / "monitoring" / "alerts.yaml").resolve()


def test_the_prometheus_rule_is_rendered_from_the_rules_file_not_a_copy(tmp_path):
    """A chart copy whose files/alerts.yaml is another rules file renders that file's groups."""
    copy = tmp_path / "pullinfra"
    shutil.copytree(CHART, copy, symlinks=True)
    (copy / "files" / "alerts.yaml").unlink()
    rules = {"groups": [{"name": "stand-in", "rules": [
        {"alert": "StandIn", "expr": "up == 0", "for": "5m", "labels": {"severity": "page"},
         "annotations": {"summary": "a stand-in rule"}}]}]}
    (copy / "files" / "alerts.yaml").write_text(yaml.safe_dump(rules))
    objects = render({"prometheusRule": {"enabled": True, "labels": {"release": "prom"}}}, copy)
    rule = objects["PrometheusRule"]
    assert rule["spec"] == rules
    assert rule["metadata"]["labels"]["release"] == "prom"


def test_the_packaged_chart_carries_the_rules_themselves(tmp_path):
    """`helm package` follows the link, so the archive works without the repository."""
    chart = helm_python.Chart.load(CHART)
    try:
        archive = chart.save(tmp_path)
    finally:
        chart.close()
    packaged = helm_python.Chart.load(archive)
    try:
        out = packaged.render({"prometheusRule": {"enabled": True}}, name=RELEASE)
    finally:
        packaged.close()
    (text,) = [t for name, t in out.items() if name.endswith("prometheusrule.yaml")]
    groups = yaml.safe_load(text)["spec"]["groups"]
    assert groups == yaml.safe_load((ROOT / "monitoring" / "alerts.yaml").read_text())["groups"]
    assert groups, "monitoring/alerts.yaml has no groups"


def test_the_network_policy_opens_9469_and_only_the_configured_egress():
    values = {"networkPolicy": {
        "enabled": True,
        "ingressFrom": [{"podSelector": {"matchLabels": {"app": "prometheus"}}}],
        "egressTo": [{"ipBlock": {"cidr": "198.18.0.0/15"}}],
        "egressPorts": [22, 443],
        "dns": {"enabled": True,
                "to": [{"namespaceSelector": {"matchLabels": {"name": "kube-system"}}}]}}}
    spec = render(values)["NetworkPolicy"]["spec"]
    assert spec["policyTypes"] == ["Ingress", "Egress"]
    assert spec["ingress"] == [{"ports": [{"port": "http"}],
                                "from": values["networkPolicy"]["ingressFrom"]}]
    dns, fleet = spec["egress"]
    assert dns["to"] == values["networkPolicy"]["dns"]["to"]
    assert {(p["port"], p["protocol"]) for p in dns["ports"]} == {(53, "UDP"), (53, "TCP")}
    assert fleet == {"to": [{"ipBlock": {"cidr": "198.18.0.0/15"}}],
                     "ports": [{"port": 22, "protocol": "TCP"}, {"port": 443, "protocol": "TCP"}]}
    values["networkPolicy"]["dns"] = {"enabled": False}
    (only,) = render(values)["NetworkPolicy"]["spec"]["egress"]
    assert only == fleet


def leaf_paths(node: dict[str, Any], prefix: str = "") -> list[str]:
    """Dotted paths of values.yaml's settings (lists and k8s maps are one setting each)."""
    paths = []
    for key, value in node.items():
        here = f"{prefix}{key}"
        if isinstance(value, dict) and value and key != "resources":
            paths += leaf_paths(value, f"{here}.")
        else:
            paths.append(here)
    return paths


def documented_paths(readme: str) -> set[str]:
    """Names in the first column of the README's tables; `.x` continues the previous name."""
    names = set()
    for line in readme.splitlines():
        if not line.startswith("| `"):
            continue
        base = ""
        for name in re.findall(r"`([^`]+)`", line.split("|")[1]):
            if name.startswith(".") and base:
                names.add(base + name)
            else:
                name = name.removesuffix("[]")
                names.add(name)
                base = name.rsplit(".", 1)[0] if "." in name else name
    return names


def test_the_chart_readme_documents_every_value():
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    documented = documented_paths((CHART / "README.md").read_text())
    assert [p for p in leaf_paths(values) if p not in documented] == []
    assert "persistence.size" in documented and "secrets.gitToken.key" in documented
