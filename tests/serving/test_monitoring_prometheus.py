"""A real Prometheus over the running pipeline: every dashboard query and alert rule works.

The ingest app, the store writer, the stream scorer and the alert engine run on the served
platform (embedded stream and store), each with its /metrics on a port of its own; a
Prometheus of this test's own (so the shared one of infra/local/services.sh is not disturbed)
scrapes them every second with an API key, with infra/prometheus/rules.yml loaded. Then every
panel query of every dashboard in infra/grafana/dashboards and every rule's expression must
parse and (panels) return data, and each process's system-metrics record is read back.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from serving_helpers import Served, embedded

from sensorguard.serve_thread import free_port

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
PROMETHEUS_DIR = REPO / "infra" / "prometheus"
DASHBOARDS = REPO / "infra" / "grafana" / "dashboards"
PROM_UID = "sensorguard-prometheus"

# Panels this short run legitimately leaves without data, by the metric they show.
NO_DATA_IN_THIS_TEST = {
    "sensorguard_drift_": "drift checks are batch jobs (`sensorguard drift check`), not run here",
    "sensorguard_rate_limited_total": "the test's traffic stays under the rate limits",
    "sensorguard_unscored_total": "every sensor of the test fleet has a champion",
}
# Grafana's variables, as a query with every site, group and sensor selected sees them.
GRAFANA_VARIABLES = {"$__rate_interval": "30s", "$site": ".*", "$group": ".*"}


def panel_queries() -> list[tuple[str, str, str]]:
    """(dashboard, panel title, expr) of every Prometheus target of every dashboard."""
    out = []
    for path in sorted(DASHBOARDS.glob("*.json")):
        board = json.loads(path.read_text())
        for panel in board["panels"]:
            for target in panel["targets"]:
                if target.get("datasource", panel["datasource"])["uid"] == PROM_UID:
                    out.append((path.stem, panel["title"], target["expr"]))
    return out


def rule_exprs() -> list[tuple[str, str]]:
    groups = yaml.safe_load((PROMETHEUS_DIR / "rules.yml").read_text())["groups"]
    return [(rule["alert"], rule["expr"]) for group in groups for rule in group["rules"]]


def test_every_dashboard_is_grafana_json_with_variables_and_known_datasources() -> None:
    boards = sorted(DASHBOARDS.glob("*.json"))
    assert {p.stem for p in boards} == {
        "fleet-overview",
        "sensor-detail",
        "model-performance",
        "pipeline-health",
    }
    provisioned = yaml.safe_load(
        (REPO / "infra/grafana/provisioning/datasources/prometheus.yml").read_text()
    )
    uids = {d["uid"] for d in provisioned["datasources"]}
    for path in boards:
        board = json.loads(path.read_text())
        assert board["schemaVersion"] >= 36 and board["uid"] and board["title"], path.name
        ids = [p["id"] for p in board["panels"]]
        assert len(ids) == len(set(ids)), f"{path.name}: duplicate panel ids"
        for panel in board["panels"]:
            assert panel["targets"], f"{path.name}: panel {panel['title']!r} has no query"
            for target in panel["targets"]:
                assert target.get("datasource", panel["datasource"])["uid"] in uids
        names = {v["name"] for v in board["templating"]["list"]}
        used = set(re.findall(r"\$\{?(\w+)", path.read_text())) - {"__rate_interval", "__all"}
        used -= {"__range_m"}
        assert used <= names, f"{path.name}: variables used but not defined: {used - names}"
    detail = json.loads((DASHBOARDS / "sensor-detail.json").read_text())
    assert {"site", "sensor"} <= {v["name"] for v in detail["templating"]["list"]}


def test_the_operators_urls_of_the_sensor_dashboard_are_routes_of_the_operators_app() -> None:
    from sensorguard.alerting.api import ALERTS_PREFIX, SENSORS_PREFIX

    detail = json.loads((DASHBOARDS / "sensor-detail.json").read_text())
    urls = [t["url"] for p in detail["panels"] for t in p["targets"] if "url" in t]
    assert urls == [f"{SENSORS_PREFIX}/${{sensor}}/scores", f"{ALERTS_PREFIX}/history"]


@contextmanager
def in_thread(run: Callable[[threading.Event], object]) -> Iterator[None]:
    stop = threading.Event()
    failed: list[BaseException] = []

    def target() -> None:
        try:
            run(stop)
        except BaseException as err:  # surfaced below, not lost in the thread
            failed.append(err)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(30)
    if failed:
        raise failed[0]


def prometheus_config(tmp: Path, ports: dict[str, int], prom_port: int, key: str) -> Path:
    """The repository's scrape config with this test's ports, 1 s intervals, no Alertmanager."""
    config = yaml.safe_load((PROMETHEUS_DIR / "prometheus.yml").read_text())
    assert config["rule_files"] == ["rules.yml"]
    assert config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] == [
        "127.0.0.1:9094"
    ]
    (tmp / "scrape.key").write_text(key)
    ports = {**ports, "prometheus": prom_port}
    jobs = []
    for job in config["scrape_configs"]:
        if job["job_name"] in ports:
            job["static_configs"] = [{"targets": [f"127.0.0.1:{ports[job['job_name']]}"]}]
            if "authorization" in job:
                job["authorization"] = {"credentials_file": str(tmp / "scrape.key")}
            jobs.append(job)
    assert {j["job_name"] for j in jobs} == set(ports), "a job of the test is not in the config"
    config.update(
        scrape_configs=jobs,
        rule_files=[str(PROMETHEUS_DIR / "rules.yml")],
        **{"global": {"scrape_interval": "1s", "evaluation_interval": "1s"}},
    )
    del config["alerting"]  # this test's alerts are not for the shared Alertmanager
    path = tmp / "prometheus.yml"
    path.write_text(yaml.safe_dump(config))
    return path


def wait_until(what: str, check: Callable[[], bool], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout_s:g}s waiting for {what}")
        time.sleep(0.5)


def test_prometheus_scrapes_every_process_and_every_query_and_rule_works(
    served_env: Served, keys: dict[str, str], tmp_path: Path
) -> None:
    from sensorguard.alerting.engine import AlertEngine
    from sensorguard.alerting.rules import parse_rule
    from sensorguard.alerting.runner import ENGINE_GROUP, ENGINE_TOPICS, run_engine
    from sensorguard.alerting.store import AlertStore
    from sensorguard.ingest.http import create_app
    from sensorguard.ingest.writer import WRITER_GROUP, run_writer
    from sensorguard.monitoring import (
        SystemMetricsPublisher,
        decode_system_metrics,
        ingest_counts,
        serve_metrics,
    )
    from sensorguard.serve_thread import serve_in_thread
    from sensorguard.serving.scorer import build_live_scorer
    from sensorguard.serving.stream import ERROR_FIELDS, SCORER_GROUP, run_stream_scorer
    from sensorguard.stream import SENSOR_DATA, SYSTEM_METRICS
    from sensorguard.wiring import (
        build_pipeline,
        open_configured_metadata,
        open_configured_store,
        open_configured_stream,
    )

    binary = shutil.which("prometheus")
    promtool = shutil.which("promtool")
    if binary is None or promtool is None:
        pytest.fail("prometheus/promtool are not installed; run `make services-fetch`")
    checked = subprocess.run(
        [promtool, "check", "rules", str(PROMETHEUS_DIR / "rules.yml")],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    started = time.monotonic()
    settings = embedded(served_env, "monitoring-stream.db")
    ports = {
        name: free_port()
        for name in ("sensorguard-ingest", "sensorguard-writer", "sensorguard-scorer")
    }
    ports["sensorguard-engine"] = free_port()

    def publisher(stream: Any, process: str, **kw: Any) -> SystemMetricsPublisher:
        return SystemMetricsPublisher(stream, process, interval_s=1.0, lag_every_s=1.0, **kw)

    def writer(stop: threading.Event) -> None:
        stream, store = open_configured_stream(settings), open_configured_store(settings)
        try:
            with serve_metrics("store writer", settings, ports["sensorguard-writer"]):
                run_writer(
                    stream,
                    store,
                    stop=stop,
                    publisher=publisher(
                        stream,
                        "store-writer",
                        lag_group=WRITER_GROUP,
                        lag_topics=[SENSOR_DATA],
                        error_fields=["retries", "dead_lettered"],
                        dead_letters=True,
                    ),
                )
        finally:
            store.close()
            stream.close()

    def scorer(stop: threading.Event) -> None:
        stream, store = open_configured_stream(settings), open_configured_store(settings)
        live = build_live_scorer(settings, store, stateful=True, surface="stream")
        live.models.refresh()
        try:
            with serve_metrics("stream scorer", settings, ports["sensorguard-scorer"]):
                run_stream_scorer(
                    stream,
                    store,
                    live,
                    batch_size=500,
                    stop=stop,
                    publisher=publisher(
                        stream,
                        "stream-scorer",
                        lag_group=SCORER_GROUP,
                        lag_topics=[SENSOR_DATA],
                        error_fields=ERROR_FIELDS,
                    ),
                )
        finally:
            store.close()
            stream.close()

    def engine(stop: threading.Event) -> None:
        stream, metadata = open_configured_stream(settings), open_configured_metadata(settings)
        alerts = AlertStore.from_settings(settings)
        rule = parse_rule({"name": "any-flag", "condition": {"type": "anomaly"}}, source="test")
        try:
            with serve_metrics("alert engine", settings, ports["sensorguard-engine"]):
                run_engine(
                    AlertEngine([rule], alerts, metadata),
                    stream,
                    metadata,
                    tick_s=1.0,
                    stop=stop,
                    publisher=publisher(
                        stream,
                        "alert-engine",
                        lag_group=ENGINE_GROUP,
                        lag_topics=ENGINE_TOPICS,
                        error_fields=["undecodable"],
                    ),
                )
        finally:
            alerts.close()
            metadata.close()
            stream.close()

    ingest_stream = open_configured_stream(settings)
    ingest_metadata = open_configured_metadata(settings)
    ingest_stream.ensure_topics()
    app = create_app(build_pipeline(settings, ingest_metadata, ingest_stream), settings)
    prom_port = free_port()
    config = prometheus_config(tmp_path, ports, prom_port, keys["device"])
    api = f"http://127.0.0.1:{prom_port}/api/v1"
    with ExitStack() as running:
        running.callback(ingest_metadata.close)
        running.callback(ingest_stream.close)
        base = running.enter_context(serve_in_thread(app, port=ports["sensorguard-ingest"]))
        ingest_publisher = publisher(ingest_stream, "ingest-http", dead_letters=True)
        running.enter_context(ingest_publisher.in_background(ingest_counts("http")))
        for run in (writer, scorer, engine):
            running.enter_context(in_thread(run))
        prometheus = subprocess.Popen(
            [
                binary,
                f"--config.file={config}",
                f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{prom_port}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=(tmp_path / "prometheus.log").open("w"),
        )

        def stop_prometheus() -> None:
            prometheus.terminate()
            try:
                prometheus.wait(10)
            except subprocess.TimeoutExpired:
                prometheus.kill()

        running.callback(stop_prometheus)

        # Traffic: the fleet's live hours through the front door, and some rows it refuses.
        live = served_env.live_readings()[:1200]
        headers = {"X-API-Key": keys["data_scientist"]}
        bad = [{"sensor_id": live[0].sensor_id, "ts": "not a time", "channels": {}}] * 5
        with httpx.Client(base_url=base, headers=headers, timeout=30) as client:
            for i in range(0, len(live), 300):
                rows = [r.model_dump(mode="json") for r in live[i : i + 300]]
                answer = client.post("/v1/readings", json={"readings": rows + bad})
                assert answer.status_code == 200, answer.text
                assert answer.json()["rejected"] == len(bad)

        def query(expr: str) -> dict[str, Any]:
            answer = httpx.get(f"{api}/query", params={"query": expr}, timeout=10)
            body: dict[str, Any] = answer.json()
            assert answer.status_code == 200 and body["status"] == "success", (expr, body)
            return body

        def has(expr: str) -> bool:
            try:
                return bool(query(expr)["data"]["result"])
            except (httpx.HTTPError, AssertionError):
                return False

        def all_up() -> bool:
            return has('min(up{job=~"sensorguard-.*"}) == 1') and has(
                f'count(up{{job=~"sensorguard-.*"}}) == {len(ports)}'
            )

        wait_until("Prometheus to scrape every process", all_up, 30)
        wait_until("scored and alerted readings", lambda: has("sensorguard_alerts_total"), 30)
        # Two scrapes after the traffic settled, so rates over 30 s have their samples.
        time.sleep(3)

        empty = []
        for board, title, expr in panel_queries():
            for variable, value in GRAFANA_VARIABLES.items():
                expr = expr.replace(variable, value)
            if not query(expr)["data"]["result"]:
                empty.append((board, title, expr))
        allowed = [e for e in empty if any(m in e[2] for m in NO_DATA_IN_THIS_TEST)]
        assert empty == allowed, f"panels without data: {sorted(set(empty) - set(allowed))}"
        assert len(allowed) <= 5, allowed

        for _, expr in rule_exprs():
            query(expr)  # parses and evaluates
        rules = httpx.get(f"{api}/rules", timeout=10).json()["data"]["groups"]
        health = {
            r["name"]: (r["health"], r.get("lastError", "")) for g in rules for r in g["rules"]
        }
        assert set(health) == {name for name, _ in rule_exprs()}
        assert all(h == ("ok", "") for h in health.values()), health
        assert not has('ALERTS{alertname="SensorGuardScorerDown"}')

        # Template variables have values to offer.
        for label, metric in (
            ("site", "sensorguard_flags_total"),
            ("group", "sensorguard_model_version"),
        ):
            sites = query(f"count by ({label}) ({metric})")["data"]["result"]
            assert sites and all(s["metric"].get(label) for s in sites), (label, sites)

    # Each process's summary records are on system-metrics, keyed by its name.
    stream = open_configured_stream(settings)
    consumer = stream.consumer([SYSTEM_METRICS], "monitoring-test")
    records = []
    while batch := consumer.poll(1000, timeout_s=0.5):
        records += batch
    consumer.close()
    stream.close()
    by_process = {r.key: decode_system_metrics(r.value) for r in records}
    assert set(by_process) == {"ingest-http", "store-writer", "stream-scorer", "alert-engine"}
    assert all(by_process[k].process == k for k in by_process)
    assert set(by_process["stream-scorer"].model_version) == {"climate"}
    assert by_process["stream-scorer"].lag == {SENSOR_DATA: 0}
    assert time.monotonic() - started < 90
