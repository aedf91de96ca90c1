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


if __name__ == "__main__":
    bikes().to_csv(HERE / "bikes.csv", index=False)
    commuters().to_csv(HERE / "commuters.csv", index=False)
