"""Alert delivery: notifications and silences through Alertmanager, a plain webhook, or the log."""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

import httpx
from pydantic import AwareDatetime, BaseModel, ConfigDict, TypeAdapter
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from sensorguard.alerting.records import Alert
from sensorguard.errors import (
    BackendUnavailable,
    DeliveryRejected,
    NotFound,
    UnsupportedURL,
    ValidationFailed,
)
from sensorguard.settings import Settings

log = logging.getLogger(__name__)

# The operators' page focused on the sensor: its recent scores as a chart, its open alerts.
LINK_TEMPLATE = "{base}/live?sensor={sensor_id}"
# An acknowledgement without an end still lapses: a forgotten silence must not hide a sensor
# forever. The engine expires it earlier, when the alert resolves.
DEFAULT_SILENCE = timedelta(days=7)
# Without Alertmanager, SensorGuard deduplicates itself: the engine re-posts active alerts every
# tick, and a receiver should hear a still-firing alert again only this often (Alertmanager's
# default repeat_interval).
DEFAULT_REPEAT = timedelta(hours=4)
# What Alertmanager's webhook puts in endsAt of an alert that is still firing.
_NO_END = "0001-01-01T00:00:00Z"
_TOP_CONTRIBUTIONS = 3

Clock = Callable[[], datetime]


def _utcnow() -> datetime:
    return datetime.now(UTC)


class Delivery(Protocol):
    """Where alerts go. Every implementation silences alike, so acknowledging works everywhere."""

    def notify(self, alerts: Sequence[Alert]) -> None:
        """Send alerts: open/acknowledged ones as firing, resolved ones with endsAt (resolved)."""

    def silence(
        self, alert: Alert, *, author: str, comment: str, until: datetime | None = None
    ) -> str:
        """Mute the alert's rule on its sensor (alertname + sensor_id) until `until`; its id."""

    def expire_silence(self, silence_id: str) -> None:
        """End a silence now; an unknown id raises NotFound, an expired one is left alone."""

    def maintenance_window(
        self,
        matchers: Mapping[str, str],
        start: datetime,
        end: datetime,
        *,
        author: str,
        comment: str,
    ) -> str:
        """Mute every alert whose labels equal `matchers` between start and end; its id."""


# ---------------------------------------------------------------------------------------------
# What a notification says
# ---------------------------------------------------------------------------------------------
def alert_labels(alert: Alert) -> dict[str, str]:
    """The alert's labels without empty values (Prometheus treats an empty label as absent)."""
    return {k: v for k, v in alert.labels.items() if v}


def silence_matchers(alert: Alert) -> dict[str, str]:
    return {"alertname": alert.rule, "sensor_id": alert.sensor_id}


def _link(alert: Alert, base: str, template: str) -> str:
    # A consumer-group or model-group alert has no sensor for the page to focus on.
    if not base or not alert.about_sensor:
        return ""
    return template.format(base=base.rstrip("/"), sensor_id=alert.sensor_id)


def alert_annotations(alert: Alert, link: str = "") -> dict[str, str]:
    top = sorted(alert.contributions.items(), key=lambda kv: abs(kv[1]), reverse=True)
    annotations = {
        "summary": alert.summary or f"{alert.rule} on {alert.sensor_id}",
        "kind": alert.kind,
        "score": "" if alert.score is None else f"{alert.score:.4g}",
        "top_contributions": ", ".join(f"{k}={v:.3g}" for k, v in top[:_TOP_CONTRIBUTIONS]),
        "started_at": alert.started_at.isoformat(),
        "scores_url": link,
    }
    return {k: v for k, v in annotations.items() if v}


def _ends_at(alert: Alert) -> datetime | None:
    if alert.state != "resolved":
        return None
    return alert.resolved_at or alert.updated_at


def _fingerprint(labels: Mapping[str, str]) -> str:
    text = "\xff".join(f"{k}\xff{v}" for k, v in sorted(labels.items()))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _origin(url: str) -> str:
    """scheme://host:port of a URL: safe in messages even if its path or query hold a token."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname}" + (f":{parts.port}" if parts.port else "")


def _check_http_url(setting: str, url: str) -> str:
    if urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).hostname:
        raise UnsupportedURL(setting, url, ("http", "https"))
    return url


def _silence_end(now: datetime, until: datetime | None, default: timedelta) -> datetime:
    end = until or now + default
    if end <= now:
        raise ValidationFailed("until", end.isoformat(), f"later than now ({now.isoformat()})")
    return end


def _check_window(matchers: Mapping[str, str], start: datetime, end: datetime) -> None:
    if not matchers or not all(matchers.values()):
        # Alertmanager refuses a silence without matchers: it would mute everything.
        raise ValidationFailed(
            "matchers", dict(matchers), "at least one label=value, no empty value"
        )
    if end <= start:
        raise ValidationFailed("end", end.isoformat(), f"later than start ({start.isoformat()})")


# ---------------------------------------------------------------------------------------------
# HTTP with retries
# ---------------------------------------------------------------------------------------------
class _Transient(Exception):
    """A 429/5xx answer: worth another try."""

    def __init__(self, response: httpx.Response):
        self.response = response
        super().__init__(f"HTTP {response.status_code} {response.text[:200].strip()}")


class _HTTP:
    """One client, bounded retries with backoff on connection errors, timeouts, 429 and 5xx."""

    def __init__(
        self,
        name: str,
        url: str,
        *,
        attempts: int,
        timeout_s: float,
        transport: httpx.BaseTransport | None,
    ):
        self.name = name
        self.url = url.rstrip("/")
        self.attempts = attempts
        self.client = httpx.Client(timeout=timeout_s, transport=transport)

    def request(
        self, method: str, path: str = "", *, json: Any = None, not_found: str = ""
    ) -> httpx.Response:
        """The 2xx answer; `not_found` names the kind of thing whose absence raises NotFound."""
        target = self.url + path
        where = f"{self.name} at {_origin(self.url)}{urlsplit(target).path if path else ''}"

        def once() -> httpx.Response:
            response = self.client.request(method, target, json=json)
            # Alertmanager answers an unknown silence id with 500 "silence not found".
            missing = not_found and "not found" in response.text.lower()
            if (response.status_code == 429 or response.status_code >= 500) and not missing:
                raise _Transient(response)
            return response

        retrying = Retrying(
            stop=stop_after_attempt(self.attempts),
            wait=wait_exponential(multiplier=0.2, max=2.0),
            retry=retry_if_exception_type((httpx.TransportError, _Transient)),
            reraise=True,
        )
        try:
            response = retrying(once)
        except (httpx.TransportError, _Transient) as err:
            raise BackendUnavailable(
                f"{where} did not accept {method} after {self.attempts} attempts: "
                f"{type(err).__name__}: {err}"
            ) from err
        if response.status_code >= 400 and not_found:
            raise NotFound(not_found, path.rsplit("/", 1)[-1], context=f"{where}: ")
        if response.status_code >= 400:
            raise DeliveryRejected(
                f"{where} refused {method} with HTTP {response.status_code}: "
                f"{response.text[:300].strip()}"
            )
        return response

    def close(self) -> None:
        self.client.close()


class _Silencing:
    """`silence` and `maintenance_window` over a backend's `_create_silence`: every delivery
    silences alike, so acknowledging works whatever the target."""

    default_silence: timedelta
    _clock: Clock

    def _create_silence(
        self,
        matchers: Mapping[str, str],
        start: datetime,
        end: datetime,
        author: str,
        comment: str,
    ) -> str:
        raise NotImplementedError

    def silence(
        self, alert: Alert, *, author: str, comment: str, until: datetime | None = None
    ) -> str:
        now = self._clock()
        end = _silence_end(now, until, self.default_silence)
        return self._create_silence(silence_matchers(alert), now, end, author, comment)

    def maintenance_window(
        self,
        matchers: Mapping[str, str],
        start: datetime,
        end: datetime,
        *,
        author: str,
        comment: str,
    ) -> str:
        _check_window(matchers, start, end)
        return self._create_silence(matchers, start, end, author, comment)


# ---------------------------------------------------------------------------------------------
# Alertmanager
# ---------------------------------------------------------------------------------------------
class AlertmanagerDelivery(_Silencing):
    """Alerts and silences through Prometheus Alertmanager's v2 API.

    Alertmanager groups, deduplicates, repeats and routes; a firing alert posted without endsAt
    counts as resolved after its `resolve_timeout` (5 min by default) unless posted again, so
    the caller re-notifies open alerts at least that often.
    """

    def __init__(
        self,
        url: str,
        *,
        link_base: str = "",
        link_template: str = LINK_TEMPLATE,
        default_silence: timedelta = DEFAULT_SILENCE,
        attempts: int = 4,
        timeout_s: float = 5.0,
        transport: httpx.BaseTransport | None = None,
        clock: Clock = _utcnow,
    ):
        self.url = _check_http_url("SENSORGUARD_ALERTMANAGER_URL", url).rstrip("/")
        self.link_base = link_base
        self.link_template = link_template
        self.default_silence = default_silence
        self._clock = clock
        self._http = _HTTP(
            "Alertmanager", self.url, attempts=attempts, timeout_s=timeout_s, transport=transport
        )

    def payload(self, alert: Alert) -> dict[str, Any]:
        link = _link(alert, self.link_base, self.link_template)
        body: dict[str, Any] = {
            "labels": alert_labels(alert),
            "annotations": alert_annotations(alert, link),
            "startsAt": alert.started_at.isoformat(),
        }
        ends_at = _ends_at(alert)
        if ends_at is not None:
            body["endsAt"] = ends_at.isoformat()
        if link:
            body["generatorURL"] = link
        return body

    def notify(self, alerts: Sequence[Alert]) -> None:
        if alerts:
            self._http.request("POST", "/api/v2/alerts", json=[self.payload(a) for a in alerts])

    def expire_silence(self, silence_id: str) -> None:
        self._http.request("DELETE", f"/api/v2/silence/{silence_id}", not_found="silence")

    def _create_silence(
        self,
        matchers: Mapping[str, str],
        start: datetime,
        end: datetime,
        author: str,
        comment: str,
    ) -> str:
        body = {
            "matchers": [
                {"name": k, "value": v, "isRegex": False, "isEqual": True}
                for k, v in matchers.items()
            ],
            "startsAt": start.isoformat(),
            "endsAt": end.isoformat(),
            "createdBy": author,
            "comment": comment,
        }
        answer = self._http.request("POST", "/api/v2/silences", json=body).json()
        return str(answer["silenceID"])

    def close(self) -> None:
        self._http.close()


# ---------------------------------------------------------------------------------------------
# Embedded: silences kept locally, notifications to a webhook or the log
# ---------------------------------------------------------------------------------------------
class Silence(BaseModel):
    """A local silence, as Alertmanager keeps one: label equality matchers over a time range."""

    model_config = ConfigDict(frozen=True)

    id: str
    matchers: dict[str, str]
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    created_by: str
    comment: str

    def mutes(self, labels: Mapping[str, str], now: datetime) -> bool:
        in_force = self.starts_at <= now < self.ends_at
        return in_force and all(labels.get(k) == v for k, v in self.matchers.items())


_SILENCES = TypeAdapter(list[Silence])


class LocalSilences:
    """Silences in memory, or in a small JSON file so the API and the engine process share them."""

    def __init__(self, path: Path | None = None, *, clock: Clock = _utcnow):
        self.path = path
        self._clock = clock
        self._memory: list[Silence] = []

    def all(self) -> list[Silence]:
        if self.path is None:
            return list(self._memory)
        if not self.path.exists():
            return []
        return _SILENCES.validate_json(self.path.read_bytes())

    def _save(self, silences: list[Silence]) -> None:
        if self.path is None:
            self._memory = silences
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_bytes(_SILENCES.dump_json(silences, indent=1))
        tmp.replace(self.path)  # atomic: a reader never sees half a file

    def add(
        self,
        matchers: Mapping[str, str],
        start: datetime,
        end: datetime,
        author: str,
        comment: str,
    ) -> str:
        now = self._clock()
        # Like Alertmanager, drop silences that ended long ago instead of keeping them forever.
        kept = [s for s in self.all() if s.ends_at > now - timedelta(days=5)]
        silence = Silence(
            id=str(uuid.uuid4()),
            matchers=dict(matchers),
            starts_at=start,
            ends_at=end,
            created_by=author,
            comment=comment,
        )
        self._save([*kept, silence])
        return silence.id

    def expire(self, silence_id: str) -> None:
        now = self._clock()
        silences = self.all()
        for i, s in enumerate(silences):
            if s.id == silence_id:
                if s.ends_at > now:
                    silences[i] = s.model_copy(update={"ends_at": max(now, s.starts_at)})
                    self._save(silences)
                return
        raise NotFound("silence", silence_id, context=f"{self.path or 'in-memory silences'}: ")

    def muting(self, alert: Alert) -> Silence | None:
        labels, now = alert_labels(alert), self._clock()
        return next((s for s in self.all() if s.mutes(labels, now)), None)


class _LocalDelivery(_Silencing):
    """Silences and deduplication kept by SensorGuard itself, as Alertmanager would do them;
    subclasses say how an unmuted alert is sent."""

    def __init__(
        self,
        *,
        silences_path: Path | None = None,
        link_base: str = "",
        link_template: str = LINK_TEMPLATE,
        default_silence: timedelta = DEFAULT_SILENCE,
        repeat_interval: timedelta = DEFAULT_REPEAT,
        clock: Clock = _utcnow,
    ):
        self.silences = LocalSilences(silences_path, clock=clock)
        self.link_base = link_base
        self.link_template = link_template
        self.default_silence = default_silence
        self.repeat_interval = repeat_interval
        self._clock = clock
        # fingerprint -> (status, when) of the last notification sent, in this process.
        self._sent: dict[str, tuple[str, datetime]] = {}

    def _send(self, alert: Alert) -> None:
        raise NotImplementedError

    def notify(self, alerts: Sequence[Alert]) -> None:
        for alert in alerts:
            muted = self.silences.muting(alert)
            if muted is not None:
                log.debug("alert %s on %s silenced by %s", alert.rule, alert.sensor_id, muted.id)
                continue
            key, now = _fingerprint(alert_labels(alert)), self._clock()
            status = "firing" if _ends_at(alert) is None else "resolved"
            last_status, last_at = self._sent.get(key, ("", now))
            if last_status == status and (
                status == "resolved" or now - last_at < self.repeat_interval
            ):
                continue
            self._send(alert)
            self._sent[key] = (status, now)

    def _create_silence(
        self,
        matchers: Mapping[str, str],
        start: datetime,
        end: datetime,
        author: str,
        comment: str,
    ) -> str:
        return self.silences.add(matchers, start, end, author, comment)

    def expire_silence(self, silence_id: str) -> None:
        self.silences.expire(silence_id)


class WebhookDelivery(_LocalDelivery):
    """POSTs each alert to a webhook in Alertmanager's webhook format (version 4), one group per
    rule and sensor, so a receiver written for Alertmanager works without it."""

    def __init__(
        self,
        url: str,
        *,
        silences_path: Path | None = None,
        link_base: str = "",
        link_template: str = LINK_TEMPLATE,
        default_silence: timedelta = DEFAULT_SILENCE,
        repeat_interval: timedelta = DEFAULT_REPEAT,
        attempts: int = 4,
        timeout_s: float = 5.0,
        transport: httpx.BaseTransport | None = None,
        clock: Clock = _utcnow,
    ):
        super().__init__(
            silences_path=silences_path,
            link_base=link_base,
            link_template=link_template,
            default_silence=default_silence,
            repeat_interval=repeat_interval,
            clock=clock,
        )
        self.url = _check_http_url("SENSORGUARD_ALERT_WEBHOOK_URL", url)
        self._http = _HTTP(
            "alert webhook", url, attempts=attempts, timeout_s=timeout_s, transport=transport
        )

    def payload(self, alert: Alert) -> dict[str, Any]:
        labels = alert_labels(alert)
        link = _link(alert, self.link_base, self.link_template)
        annotations = alert_annotations(alert, link)
        ends_at = _ends_at(alert)
        status = "firing" if ends_at is None else "resolved"
        group = silence_matchers(alert)
        return {
            "version": "4",
            "groupKey": "{}:{" + ", ".join(f'{k}="{v}"' for k, v in group.items()) + "}",
            "truncatedAlerts": 0,
            "status": status,
            "receiver": "sensorguard-webhook",
            "groupLabels": group,
            "commonLabels": labels,
            "commonAnnotations": annotations,
            "externalURL": self.link_base,
            "alerts": [
                {
                    "status": status,
                    "labels": labels,
                    "annotations": annotations,
                    "startsAt": alert.started_at.isoformat(),
                    "endsAt": _NO_END if ends_at is None else ends_at.isoformat(),
                    "generatorURL": link,
                    "fingerprint": _fingerprint(labels),
                }
            ],
        }

    def _send(self, alert: Alert) -> None:
        self._http.request("POST", json=self.payload(alert))

    def close(self) -> None:
        self._http.close()


class LogDelivery(_LocalDelivery):
    """One log line per alert: the fallback when no Alertmanager or webhook is configured."""

    def _send(self, alert: Alert) -> None:
        firing = _ends_at(alert) is None
        notes = alert_annotations(alert, _link(alert, self.link_base, self.link_template))
        log.log(
            logging.WARNING if firing else logging.INFO,
            "alert %s: %s on %s [%s] %s",
            "firing" if firing else "resolved",
            alert.rule,
            alert.sensor_id,
            alert.severity,
            " ".join(f"{k}={v!r}" for k, v in notes.items()),
        )

    def close(self) -> None:
        """Nothing to release; here so every delivery can be closed alike."""


def delivery_from_settings(
    settings: Settings,
) -> AlertmanagerDelivery | WebhookDelivery | LogDelivery:
    """Alertmanager if SENSORGUARD_ALERTMANAGER_URL is set, else the webhook, else the log."""
    link_base = settings.operators_url
    silences_path = settings.data_dir / "silences.json"
    if settings.alertmanager_url:
        return AlertmanagerDelivery(settings.alertmanager_url, link_base=link_base)
    if settings.alert_webhook_url:
        return WebhookDelivery(
            settings.alert_webhook_url, silences_path=silences_path, link_base=link_base
        )
    return LogDelivery(silences_path=silences_path, link_base=link_base)
