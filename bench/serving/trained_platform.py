"""A trained platform on the embedded backends for the serving benchmark: fleet, champions, a key.

`run.py` builds it in a subprocess (`python trained_platform.py DATA_DIR --sensors N`), so the
process that measures holds what a serving process holds, not the garbage of a training run
(whose heap would make every garbage collection, and so the latency tail, slower).
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sensorguard.schemas import Reading
    from sensorguard.settings import Settings

REPO = Path(__file__).resolve().parents[2]
SHIPPED_SPECS = REPO / "models"
SENSOR_TYPES = ("climate", "environment", "acoustic")
START = datetime(2026, 3, 1, tzinfo=UTC)  # fixed, so every run simulates the same fleet
LIVE = timedelta(days=1)  # the last day is "live": training ends before it, the bench scores it
OPERATOR = "bench-operator"
DESCRIPTION = "bench-platform.json"

Progress = Callable[[str], None]


@dataclass(frozen=True)
class Champion:
    group: str
    version: str
    detector: str
    how: str  # "gate" (promoted by training) or "forced" (the gate refused; best candidate)


@dataclass(frozen=True)
class Platform:
    """What the measuring process needs to know of a built platform (its description file)."""

    data_dir: Path
    sensors: tuple[tuple[str, str], ...]  # (sensor_id, sensor_type)
    days: float
    stored: int
    live_from: datetime
    end: datetime
    api_key: str
    champions: tuple[Champion, ...]
    build_s: float

    @property
    def settings(self) -> Settings:
        from sensorguard.settings import Settings

        return Settings(data_dir=self.data_dir, model_specs_dir=SHIPPED_SPECS, env="development")

    def env(self) -> dict[str, str]:
        """The SENSORGUARD_* variables a `bentoml serve` of this platform needs."""
        return {
            "SENSORGUARD_DATA_DIR": str(self.data_dir),
            "SENSORGUARD_MODEL_SPECS_DIR": str(SHIPPED_SPECS),
            "SENSORGUARD_ENV": "development",
        }

    def live_readings(self, sensor_id: str | None = None) -> list[Reading]:
        """Stored readings of the live window (all sensors, or one), in time order."""
        from sensorguard.wiring import open_configured_store

        store = open_configured_store(self.settings)
        try:
            ids = [sensor_id] if sensor_id else [s for s, _ in self.sensors]
            rows = store.read_readings(ids, self.live_from, self.end + timedelta(days=1))
        finally:
            store.close()
        return sorted(rows, key=lambda r: (r.ts, r.sensor_id))

    def save(self) -> None:
        fields = asdict(self)
        fields.update(
            data_dir=str(self.data_dir),
            live_from=self.live_from.isoformat(),
            end=self.end.isoformat(),
        )
        (self.data_dir / DESCRIPTION).write_text(json.dumps(fields, indent=2) + "\n")

    @classmethod
    def load(cls, data_dir: Path) -> Platform:
        fields = json.loads((data_dir / DESCRIPTION).read_text())
        return cls(
            data_dir=Path(fields["data_dir"]),
            sensors=tuple((s, t) for s, t in fields["sensors"]),
            days=float(fields["days"]),
            stored=int(fields["stored"]),
            live_from=datetime.fromisoformat(fields["live_from"]),
            end=datetime.fromisoformat(fields["end"]),
            api_key=str(fields["api_key"]),
            champions=tuple(Champion(**c) for c in fields["champions"]),
            build_s=float(fields["build_s"]),
        )


def build_platform(
    data_dir: Path, *, sensors: int, days: float, progress: Progress, seed: int = 5
) -> Platform:
    """Simulate and store a mixed fleet, train every group with the shipped specs, make sure
    each group has a champion, and issue an operator API key."""
    from sensorguard.pipelines.seed import seed_simulation
    from sensorguard.pipelines.training import run_training
    from sensorguard.settings import Settings
    from sensorguard.simulate import SimulationConfig, simulate_fleet
    from sensorguard.training.labels import from_simulation

    started = time.perf_counter()
    settings = Settings(data_dir=data_dir, model_specs_dir=SHIPPED_SPECS, env="development")
    sim = simulate_fleet(
        SimulationConfig(
            sensors=sensors,
            sites=3,
            days=days,
            seed=seed,
            fault_rate=3.0,
            start=START,
            sensor_types=SENSOR_TYPES,
        )
    )
    seeded = seed_simulation(settings, sim)
    progress(f"stored {seeded.stored:,} readings of {seeded.sensors} sensors over {days:g} days")
    live_from = sim.end - LIVE
    with warnings.catch_warnings():
        # sklearn/PyOD/MLflow chatter about features and deprecations: not what this measures.
        warnings.simplefilter("ignore")
        outcomes = run_training(
            settings,
            end=live_from,
            labels=from_simulation(sim.labels),
            trigger_reason="bench",
            progress=lambda message: progress(f"train {message}"),
        )
    champions = tuple(_ensure_champion(settings, o["decision"], progress) for o in outcomes)
    platform = Platform(
        data_dir=data_dir,
        sensors=tuple((s.sensor_id, s.sensor_type) for s in sim.sensors),
        days=days,
        stored=seeded.stored,
        live_from=live_from,
        end=sim.end,
        api_key=_operator_key(settings),
        champions=champions,
        build_s=time.perf_counter() - started,
    )
    platform.save()
    return platform


def _ensure_champion(
    settings: Settings, decision: dict[str, object], progress: Progress
) -> Champion:
    """The group's champion; where the gate refused every candidate, its best one is promoted
    by hand (`sensorguard models promote`), since this benchmark measures cost, not quality."""
    from sensorguard.champion import champion_version, force_promote
    from sensorguard.training.tracking import mlflow_client

    group = str(decision["group"])
    client = mlflow_client(settings)
    how = "gate"
    if not decision["promoted"]:
        best = decision.get("best_version")
        if best is None:
            raise RuntimeError(f"training registered no candidate for group {group!r}")
        force_promote(client, group, str(best))
        how = "forced"
        progress(f"{group}: the gate kept no candidate; promoted its best, v{best}, by hand")
    version = champion_version(client, group)
    if version is None:
        raise RuntimeError(f"group {group!r} has no @champion after training")
    detector = (version.tags or {}).get("detector", "?")
    return Champion(group, str(version.version), detector, how)


def _operator_key(settings: Settings) -> str:
    from sensorguard.wiring import open_configured_metadata

    metadata = open_configured_metadata(settings)
    try:
        metadata.add_user(OPERATOR, "operator", actor="bench")
        _, key = metadata.create_api_key(OPERATOR, "bench", actor="bench")
        return key
    finally:
        metadata.close()


def main() -> None:
    parser = argparse.ArgumentParser(description="Build the serving benchmark's platform.")
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("--sensors", type=int, default=12)
    parser.add_argument("--days", type=float, default=3.0)
    args = parser.parse_args()
    started = time.perf_counter()

    def say(message: str) -> None:
        print(f"  [build {time.perf_counter() - started:5.1f} s] {message}", flush=True)

    build_platform(args.data_dir.resolve(), sensors=args.sensors, days=args.days, progress=say)


if __name__ == "__main__":
    main()
