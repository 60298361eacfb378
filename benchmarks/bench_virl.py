"""V-IRL benchmarks: city generation, a text step, a view grid. Prints a table; exits 1 if a target is missed.

Targets (issue 3): generate the 1,000-route training city in at most 5 s; a language step in at most
1 ms (median); a vision grid at the tiny size (64-pixel views, 129 x 129 grid) in at most 20 ms
(median). The paper-size grid (1200-pixel views) is timed for information.

    .venv/bin/python benchmarks/bench_virl.py
"""

from __future__ import annotations

import statistics
import sys
import time

import numpy as np

from sftrl_repro.games.virl.city import CityConfig, generate_city
from sftrl_repro.envs.virl.env import VIRLEnv
from sftrl_repro.games.virl.rail import build_rail
from sftrl_repro.games.virl.render import PAPER_VIEW_SIZE, TINY_VIEW_SIZE, StreetViewRenderer


def _median_ms(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1000.0 * statistics.median(times)


def bench_city() -> float:
    """Seconds to generate the 1,000-route training city from scratch (no cache), best of 3."""
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        generate_city(CityConfig(seed=0, n_routes=1000))
        best = min(best, time.perf_counter() - start)
    return best


def bench_text_step(n_steps: int = 3000) -> float:
    """Median milliseconds of one language step (an oracle answer: grade, move, next prompt)."""
    env = VIRLEnv(modality="language", actions="absolute")
    times = []
    obs, info = env.reset(seed=0)
    episode = 0
    while len(times) < n_steps:
        answer = info["gt_answer"]
        start = time.perf_counter()
        obs, _, terminated, truncated, info = env.step(answer)
        times.append(time.perf_counter() - start)
        if terminated or truncated:
            episode += 1
            obs, info = env.reset(seed=episode)
    return 1000.0 * statistics.median(times)


def bench_grid(size: int, repeats: int) -> float:
    """Median milliseconds to draw the 2x2 view grid of rail points of the training city."""
    env = VIRLEnv()  # builds (and caches) the training city
    city = env.route_set.cities[0]
    renderer = StreetViewRenderer(city)
    rng = np.random.default_rng(0)
    points = [p for route in city.routes[:20] for p in build_rail(route, rng=rng).points]
    cycle = iter(points * (repeats // len(points) + 1))

    def draw():
        p = next(cycle)
        renderer.grid(p.position, p.heading, size)

    draw()  # warm the text-mask cache
    return _median_ms(draw, repeats)


def main() -> int:
    rows = [
        ("generate 1,000-route city", bench_city(), "s", 5.0),
        ("language step (median)", bench_text_step(), "ms", 1.0),
        (f"vision grid {TINY_VIEW_SIZE}px views (median)", bench_grid(TINY_VIEW_SIZE, 200), "ms", 20.0),
        (f"vision grid {PAPER_VIEW_SIZE}px views (median)", bench_grid(PAPER_VIEW_SIZE, 10), "ms", None),
    ]
    print(f"{'benchmark':<38} {'value':>9}  {'target':>8}  ok")
    failed = False
    for name, value, unit, target in rows:
        ok = target is None or value <= target
        failed |= not ok
        shown = f"<= {target:g} {unit}" if target is not None else "-"
        print(f"{name:<38} {value:>6.3f} {unit:<2}  {shown:>8}  {'yes' if ok else 'NO'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
