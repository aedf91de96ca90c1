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


def lake_levels(seed: int = 20240527) -> pd.DataFrame:
    """Monthly water level of a lake, January 2013 to December 2025: the anomaly in cm, that
    is, the level minus its 1991-2020 average for the same calendar month (so there is no
    seasonal cycle left to model). Tutorial 5 fits 2013-2024 and keeps 2025 back to check its
    forecast.

    Truth: an AR(2) process, level[t] = -1.0 + 0.6 level[t-1] + 0.25 level[t-2] + noise with
    noise sd 6 cm (long-run mean -1.0 / 0.15 = -6.7 cm, long-run sd about 10 cm). The series
    starts from the process's stationary distribution (a burn-in of 200 months is dropped).
    """
    rng = np.random.default_rng(seed)
    alpha, beta1, beta2, sigma = -1.0, 0.6, 0.25, 6.0
    burn_in, T = 200, 156
    level = np.zeros(burn_in + T)
    for t in range(2, burn_in + T):
        level[t] = alpha + beta1 * level[t - 1] + beta2 * level[t - 2] + rng.normal(0, sigma)
    month = pd.date_range("2013-01", periods=T, freq="MS").strftime("%Y-%m")
    return pd.DataFrame({"month": month, "level_cm": np.round(level[burn_in:], 1)})


def returns(seed: int = 20240506) -> pd.DataFrame:
    """Daily returns of a stock index in per cent, on 750 trading days (about three years).

    Truth: a GARCH(1,1) process, return[t] = 0.05 + sigma[t] * e[t] with e[t] standard normal
    and sigma[t]^2 = 0.05 + 0.10 (return[t-1] - 0.05)^2 + 0.85 sigma[t-1]^2 (mu = 0.05,
    alpha0 = 0.05, alpha1 = 0.10, beta1 = 0.85: long-run volatility sqrt(0.05 / 0.05) = 1% a
    day, shocks that fade with a half-life of about 14 days). A burn-in of 500 days is dropped.
    """
    rng = np.random.default_rng(seed)
    mu, alpha0, alpha1, beta1 = 0.05, 0.05, 0.10, 0.85
    burn_in, T = 500, 750
    r = np.zeros(burn_in + T)
    var = alpha0 / (1 - alpha1 - beta1)
    for t in range(burn_in + T):
        if t > 0:
            var = alpha0 + alpha1 * (r[t - 1] - mu) ** 2 + beta1 * var
        r[t] = mu + np.sqrt(var) * rng.normal()
    return pd.DataFrame({"day": np.arange(1, T + 1), "return_pct": np.round(r[burn_in:], 3)})


def drug_levels(seed: int = 20240507) -> pd.DataFrame:
    """Blood concentration of a drug (mg/L) in one volunteer after a single 200 mg oral dose,
    measured 18 times over 30 hours.

    Truth: a one-compartment model with first-order absorption, absorption rate ka = 1.0 per
    hour, elimination rate ke = 0.15 per hour (half-life log(2) / 0.15 = 4.6 h), volume of
    distribution V = 35 L, so the concentration is
    200 ka / (V (ka - ke)) (exp(-ke t) - exp(-ka t)); measurements have multiplicative
    (lognormal) error with sd 0.12 on the log scale.
    """
    rng = np.random.default_rng(seed)
    dose, ka, ke, V, sigma = 200.0, 1.0, 0.15, 35.0, 0.12
    hours = np.array([0.25, 0.5, 0.75, 1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10, 12, 16, 20, 24, 30])
    mean = dose * ka / (V * (ka - ke)) * (np.exp(-ke * hours) - np.exp(-ka * hours))
    conc = mean * np.exp(rng.normal(0, sigma, size=hours.size))
    return pd.DataFrame({"hours": hours, "conc_mg_per_l": np.round(conc, 3)})


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
    lake_levels().to_csv(HERE / "lake_levels.csv", index=False)
    returns().to_csv(HERE / "returns.csv", index=False)
    drug_levels().to_csv(HERE / "drug_levels.csv", index=False)
    geyser().to_csv(HERE / "geyser.csv", index=False)
    mine_accidents().to_csv(HERE / "mine_accidents.csv", index=False)
    tremors().to_csv(HERE / "tremors.csv", index=False)
