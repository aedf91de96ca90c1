"""Regenerate the small synthetic data sets used by the tutorials (fixed seeds).

Run from the repository root: ``python tutorials/data/make_data.py``. The values are invented
but plausible; the true generating parameters are written next to each data set below, so a
course can compare what the models recover with the truth.
"""

from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).parent


def bikes(seed: int = 20240501) -> pd.DataFrame:
    """Daily rides of a city bike-share scheme on 180 days of one year.

    Truth: with z = (temp - 20) / 10, rides in thousands are normal with mean
    6.5 + 1.2 z - 0.6 z^2 + 0.8 weekend and sd 0.5 (a peak at 30 C; cold days are much quieter
    than a straight line in temperature would say).
    """
    rng = np.random.default_rng(seed)
    day = np.sort(rng.choice(np.arange(1, 366), size=180, replace=False))
    weekday = (day + 2) % 7  # the year starts on a Wednesday; 5 and 6 are the weekend
    weekend = (weekday >= 5).astype(int)
    temp = 16 + 11 * np.sin(2 * np.pi * (day - 105) / 365) + rng.normal(0, 3, size=day.size)
    z = (temp - 20) / 10
    mean = 6.5 + 1.2 * z - 0.6 * z**2 + 0.8 * weekend
    rides = np.round(1000 * rng.normal(mean, 0.5)).astype(int)
    return pd.DataFrame({"day": day, "temp": np.round(temp, 1), "weekend": weekend,
                         "rides": rides})


def commuters(seed: int = 20240502) -> pd.DataFrame:
    """A survey of 250 commuters: distance to work, e-bike ownership, cycles to work (0/1).

    Truth: logit P(cycles) = 0.4 - 0.45 (distance_km - 6) + 1.3 ebike.
    """
    rng = np.random.default_rng(seed)
    n = 250
    distance = np.round(rng.lognormal(np.log(6), 0.5, size=n), 1)
    ebike = rng.binomial(1, 0.25, size=n)
    logit = 0.4 - 0.45 * (distance - 6) + 1.3 * ebike
    cycles = rng.binomial(1, 1 / (1 + np.exp(-logit)))
    return pd.DataFrame({"distance_km": distance, "ebike": ebike, "cycles": cycles})


def geyser(seed: int = 20240531) -> pd.DataFrame:
    """Durations (minutes) of 180 consecutive eruptions of a geyser, as logged by park rangers.

    Truth: a two-component normal mixture. An eruption is short with probability 0.35, with
    duration normal(2.1, 0.35), and long otherwise, with duration normal(3.9, 0.5).
    """
    rng = np.random.default_rng(seed)
    n = 180
    short = rng.random(n) < 0.35
    minutes = np.where(short, rng.normal(2.1, 0.35, n), rng.normal(3.9, 0.5, n))
    return pd.DataFrame({"eruption": np.arange(1, n + 1), "minutes": np.round(minutes, 2)})


def mine_accidents(seed: int = 20240522) -> pd.DataFrame:
    """Serious accidents per year in a region's mines, 1961 to 2010.

    Truth: Poisson counts with a rate of 4.5 a year up to 1986 and 1.6 a year from 1987 on,
    when new safety regulations took effect.
    """
    rng = np.random.default_rng(seed)
    year = np.arange(1961, 2011)
    rate = np.where(year < 1987, 4.5, 1.6)
    return pd.DataFrame({"year": year, "accidents": rng.poisson(rate)})


def tremors(seed: int = 20240533) -> pd.DataFrame:
    """Small tremors recorded each day at a volcano's seismometer, over 200 days.

    Truth: a two-state hidden Markov model. On calm days tremors are Poisson with rate 2.5, on
    restless days with rate 7. A calm day is followed by a calm day with probability 0.95 and a
    restless day by a restless day with probability 0.90 (spells of 20 and 10 days on average;
    a third of the days restless in the long run). Day 1 is calm.
    """
    rng = np.random.default_rng(seed)
    T = 200
    stay = np.array([0.95, 0.90])
    rate = np.array([2.5, 7.0])
    state = np.zeros(T, dtype=int)
    for t in range(1, T):
        state[t] = state[t - 1] if rng.random() < stay[state[t - 1]] else 1 - state[t - 1]
    return pd.DataFrame({"day": np.arange(1, T + 1), "tremors": rng.poisson(rate[state])})


if __name__ == "__main__":
    bikes().to_csv(HERE / "bikes.csv", index=False)
    commuters().to_csv(HERE / "commuters.csv", index=False)
    geyser().to_csv(HERE / "geyser.csv", index=False)
    mine_accidents().to_csv(HERE / "mine_accidents.csv", index=False)
    tremors().to_csv(HERE / "tremors.csv", index=False)
