"""Alertmanager routing from the stack file (tfplat:monitoring.alertmanager).

Secrets never enter the configuration: each receiver's URL or key is read from a file
(`api_url_file`, `routing_key_file`, `url_file`) in a Kubernetes Secret that the
Alertmanager pods mount under /etc/alertmanager/secrets/<secret>/ (alertmanagerSpec.secrets).
The configuration itself holds only paths, so it can be rendered, reviewed and diffed;
the Secret's values stay Pulumi secrets.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from infra.config.spec import MonitoringSpec, Receiver

SECRET_NAME = "tfplat-alertmanager-receivers"
SECRET_MOUNT = f"/etc/alertmanager/secrets/{SECRET_NAME}"
NULL_RECEIVER = "null"  # drops what no route claims (kube-prometheus-stack's own convention)
GROUP_BY = ("alertname", "namespace", "model", "color")


@dataclass(frozen=True)
class SecretField:
    receiver: str
    field: str  # slack_webhook_url | pagerduty_routing_key | webhook_url

    @property
    def key(self) -> str:
        """Key in the Secret (and file name in the mount): <receiver>-<field with dashes>."""
        return f"{self.receiver}-{self.field.replace('_', '-')}"

    @property
    def path(self) -> str:
        return f"{SECRET_MOUNT}/{self.key}"


def _receiver(r: Receiver) -> tuple[dict[str, Any], list[SecretField]]:
    out: dict[str, Any] = {"name": r.name}
    fields: list[SecretField] = []
    if r.slack_webhook_url:
        f = SecretField(r.name, "slack_webhook_url")
        slack: dict[str, Any] = {"api_url_file": f.path, "send_resolved": True,
                                 "title": '{{ .CommonLabels.alertname }} ({{ .CommonLabels.model }})',
                                 "text": "{{ range .Alerts }}{{ .Annotations.description }}\n{{ end }}"}
        if r.slack_channel:
            slack["channel"] = r.slack_channel
        out["slack_configs"] = [slack]
        fields.append(f)
    if r.pagerduty_routing_key:
        f = SecretField(r.name, "pagerduty_routing_key")
        out["pagerduty_configs"] = [{"routing_key_file": f.path, "send_resolved": True}]
        fields.append(f)
    if r.webhook_url:
        f = SecretField(r.name, "webhook_url")
        out["webhook_configs"] = [{"url_file": f.path, "send_resolved": True}]
        fields.append(f)
    return out, fields


def secret_fields(spec: MonitoringSpec) -> list[SecretField]:
    return [f for r in spec.receivers.values() for f in _receiver(r)[1]]


def secret_values(spec: MonitoringSpec) -> dict[str, str]:
    """{Secret key: value}. Values are whatever the engine decrypted ("[secret]" offline);
    the component wraps each in pulumi.Output.secret before it leaves this process."""
    out: dict[str, str] = {}
    for f in secret_fields(spec):
        value = getattr(spec.receivers[f.receiver], f.field)
        assert value is not None
        out[f.key] = value
    return dict(sorted(out.items()))


def config(spec: MonitoringSpec) -> dict[str, Any]:
    """The Alertmanager configuration (no secret values; see the module docstring).

    Routes are tried in file order and the first match wins; a route with neither severity
    nor team matches everything. Alerts no route claims go to the null receiver.
    """
    routes: list[dict[str, Any]] = [
        # kube-prometheus-stack's always-firing heartbeat: never page on it.
        {"receiver": NULL_RECEIVER, "matchers": ['alertname = "Watchdog"']},
    ]
    for route in spec.routes:
        matchers = []
        if route.severity:
            matchers.append(f'severity = "{route.severity}"')
        if route.team:
            matchers.append(f'team = "{route.team}"')
        entry: dict[str, Any] = {"receiver": route.receiver}
        if matchers:
            entry["matchers"] = matchers
        routes.append(entry)
    receivers = [{"name": NULL_RECEIVER}] + [_receiver(r)[0] for r in spec.receivers.values()]
    return {
        "route": {
            "receiver": NULL_RECEIVER,
            "group_by": list(GROUP_BY),
            "group_wait": "30s",
            "group_interval": "5m",
            "repeat_interval": "4h",
            "routes": routes,
        },
        "receivers": receivers,
        # A model with no ready replica also breaks its latency and errors: page once.
        "inhibit_rules": [{
            "source_matchers": ['alertname = "TFServingNoReadyReplicas"'],
            "target_matchers": ['alertname =~ "TFServingLatencyP99High|TFServingErrorRatioHigh"'],
            "equal": ["namespace", "model"],
        }],
    }


def mounted_secrets(spec: MonitoringSpec) -> list[str]:
    """Secrets the Alertmanager pods mount (alertmanagerSpec.secrets)."""
    return [SECRET_NAME] if secret_fields(spec) else []

