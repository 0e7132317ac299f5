"""Clean, realistic signals for a simulated fleet: daily cycles, site weather, occupancy noise."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.intp]

# Decimals each channel is reported with: the resolution of common climate and sound sensors.
RESOLUTION: dict[str, int] = {"temperature": 2, "humidity": 1, "sound_level": 1}

# A channel's typical short-term variability; fault magnitudes are drawn as multiples of it
# so that a fault is as conspicuous on every channel.
TYPICAL_SCALE: dict[str, float] = {"temperature": 1.0, "humidity": 3.0, "sound_level": 4.0}

_DAY_S = 86_400.0
# 1970-01-01 was a Thursday; with Monday = 0 that is weekday 3.
_EPOCH_WEEKDAY = 3


@dataclass(frozen=True)
class SiteProfile:
    """The climate and occupancy of one site, shared by every sensor placed there."""

    name: str
    utc_offset_h: int
    base_temp_c: float
    daily_amp_c: float
    peak_hour: float
    base_humidity: float
    humidity_per_c: float
    quiet_db: float
    busy_db: float


def site_name(index: int) -> str:
    """site-a ... site-z, site-aa, ...: spreadsheet-style letters."""
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(ord("a") + rest) + letters
    return f"site-{letters}"


def make_sites(n_sites: int, rng: np.random.Generator) -> list[SiteProfile]:
    offsets = rng.integers(-8, 10, size=n_sites)
    return [
        SiteProfile(
            name=site_name(i),
            utc_offset_h=int(offsets[i]),
            base_temp_c=float(rng.uniform(17.0, 24.0)),
            daily_amp_c=float(rng.uniform(1.0, 4.0)),
            peak_hour=float(rng.uniform(13.0, 17.0)),
            base_humidity=float(rng.uniform(35.0, 60.0)),
            humidity_per_c=float(rng.uniform(1.5, 3.5)),
            quiet_db=float(rng.uniform(28.0, 36.0)),
            busy_db=float(rng.uniform(44.0, 55.0)),
        )
        for i in range(n_sites)
    ]


def _ar1(
    n_series: int, n_knots: int, tau: float, sd: float, rng: np.random.Generator
) -> FloatArray:
    """Stationary AR(1) paths sampled once per knot, with correlation time tau (in knots)."""
    phi = float(np.exp(-1.0 / tau))
    shocks = rng.normal(0.0, sd * np.sqrt(1.0 - phi * phi), size=(n_series, n_knots))
    out = np.empty((n_series, n_knots))
    out[:, 0] = rng.normal(0.0, sd, size=n_series)
    # A loop over hourly knots (a few hundred), not over readings: cheap and exact.
    for k in range(1, n_knots):
        out[:, k] = phi * out[:, k - 1] + shocks[:, k]
    return out


def _weather(
    n_sites: int, hours: FloatArray, tau_h: float, sd: float, rng: np.random.Generator
) -> FloatArray:
    """Slow weather per site: hourly AR(1) interpolated onto the reading times (smooth, shared)."""
    n_knots = int(np.ceil(hours[-1])) + 2
    knots = _ar1(n_sites, n_knots, tau_h, sd, rng)
    grid = np.arange(n_knots, dtype=np.float64)
    return np.stack([np.interp(hours, grid, knots[s]) for s in range(n_sites)])


def generate_signals(
    sites: list[SiteProfile],
    site_index: IntArray,
    start_epoch_s: int,
    n_steps: int,
    interval_s: int,
    rng: np.random.Generator,
) -> dict[str, FloatArray]:
    """Unrounded temperature, humidity and sound level, each shaped (sensors, steps).

    Every sensor gets every channel; the caller blanks the ones its type lacks, so a sensor's
    signal does not depend on the types of the others.
    """
    n_sensors = len(site_index)
    n_sites = len(sites)
    rel_s = np.arange(n_steps, dtype=np.float64) * interval_s

    def per_site(attr: str) -> FloatArray:
        return np.array([getattr(s, attr) for s in sites], dtype=np.float64)[site_index][:, None]

    local_s = start_epoch_s + rel_s[None, :] + per_site("utc_offset_h") * 3600.0
    hour = (local_s % _DAY_S) / 3600.0
    weekday = (np.floor(local_s / _DAY_S).astype(np.int64) + _EPOCH_WEEKDAY) % 7

    # Temperature: a daily cycle peaking in the afternoon, a placement offset per sensor (a sunny
    # wall, a cold corner) and weather shared by every sensor of a site.
    temp_offset = rng.normal(0.0, 0.8, size=(n_sensors, 1))
    amp_factor = rng.uniform(0.7, 1.3, size=(n_sensors, 1))
    weather_t = _weather(n_sites, rel_s / 3600.0, tau_h=36.0, sd=1.5, rng=rng)[site_index]
    cycle = (
        per_site("daily_amp_c")
        * amp_factor
        * np.cos(2 * np.pi * (hour - per_site("peak_hour")) / 24)
    )
    excursion = cycle + weather_t
    temperature = per_site("base_temp_c") + temp_offset + excursion
    temperature += rng.normal(0.0, 0.05, size=temperature.shape)

    # Relative humidity falls as air warms (same moisture, higher saturation pressure), plus
    # slow moisture weather per site and faster local sources (people, ventilation) per sensor.
    hum_offset = rng.normal(0.0, 2.0, size=(n_sensors, 1))
    weather_h = _weather(n_sites, rel_s / 3600.0, tau_h=48.0, sd=4.0, rng=rng)[site_index]
    local_h = _weather(n_sensors, rel_s / 3600.0, tau_h=3.0, sd=1.5, rng=rng)
    humidity = per_site("base_humidity") + hum_offset - per_site("humidity_per_c") * excursion
    humidity += weather_h + local_h + rng.normal(0.0, 0.3, size=humidity.shape)
    np.clip(humidity, 1.0, 99.0, out=humidity)

    # Sound: a quiet floor, louder while people are in (weekday office hours, less at weekends),
    # plus Poisson bursts (doors, voices) that are more frequent when occupied.
    ramp = np.clip((hour - 7.0) / 1.5, 0.0, 1.0) * np.clip((19.0 - hour) / 1.5, 0.0, 1.0)
    occupancy = ramp * np.where(weekday < 5, 1.0, 0.25)
    busyness = rng.uniform(0.6, 1.2, size=(n_sensors, 1))
    floor_db = (
        per_site("quiet_db") + (per_site("busy_db") - per_site("quiet_db")) * occupancy * busyness
    )
    floor_db += rng.normal(0.0, 2.0, size=(n_sensors, 1))
    bursts_per_h = 0.3 + 6.0 * occupancy * busyness
    starts = rng.random(size=floor_db.shape) < np.minimum(bursts_per_h * interval_s / 3600.0, 0.9)
    burst_db = rng.uniform(55.0, 72.0, size=floor_db.shape)
    energy = np.where(starts, 10.0 ** (burst_db / 10.0), 0.0)
    # Each burst lasts about 90 s: a moving sum of burst energy over that many steps.
    width = max(1, round(90 / interval_s))
    summed = np.cumsum(energy, axis=1)
    summed[:, width:] -= summed[:, :-width].copy()
    sound = 10.0 * np.log10(10.0 ** (floor_db / 10.0) + summed)
    sound += rng.normal(0.0, 0.8, size=sound.shape)

    return {"temperature": temperature, "humidity": humidity, "sound_level": sound}
