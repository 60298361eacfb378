# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 00b · V-IRL navigation, offline
#
# The paper's second task (*SFT Memorizes, RL Generalizes*, Sec. 4.2): follow
# numbered route instructions through a city, one rail point at a time, answering with
# `forward()`, `turn_direction(x)` or `stop()`. This notebook shows the package's **procedural
# training city** (it mirrors the authors' 1,000 NYC routes, with no download and no map API):
# a map with one route, its instructions, the ground-truth rail under both action spaces
# (absolute = in-distribution, relative = rule OOD), the prompt and a feedback turn exactly as the
# authors' code writes them, a vision observation (the 2x2 street-view grid), and two scripted
# baselines: an oracle that follows the rail (it must reach every destination) and a random policy
# (the floor for per-step accuracy).
#
# Outputs: `figures/virl_city_map.png`, `figures/virl_views.png`, `results/virl_oracle_random.csv`.

# %% tags=["parameters"]
seed = 0  # seed of the generated city (and of the episodes)
n_routes = 1000  # routes of the training city (the paper's NYC set has 1,000)
route_index = 0  # the route drawn on the map and shown below
view_at = "landmark"  # point shown in the vision grid: start | forward | intersection | landmark | destination
image_size = 128  # pixels per view (the paper uses 1200; tiny models use 64)
n_eval_routes = 1000  # routes played by each baseline

# %%
import numpy as np
import pandas as pd

from sftrl_repro.envs.virl import VIRLEnv
from sftrl_repro.games.virl.city import city_summary, training_city
from sftrl_repro.plots import save_figure
from sftrl_repro.plots.virl import plot_city, plot_views
from sftrl_repro.envs.virl.policies import baseline_table, walk_to
from sftrl_repro.games.virl.rail import build_rail, rail_rows, unwrapped_differences
from sftrl_repro.paths import figures_dir, results_dir
from sftrl_repro.prompts.virl import numbered_instructions
from sftrl_repro.utils import check_choice, check_int, write_csv_atomic

seed = check_int("seed", seed, low=0)
n_routes = check_int("n_routes", n_routes, low=1)
route_index = check_int("route_index", route_index, low=0, high=n_routes - 1)
view_at = check_choice("view_at", view_at, ("start", "forward", "intersection", "landmark", "destination"))
image_size = check_int("image_size", image_size, low=8, high=1200)
n_eval_routes = check_int("n_eval_routes", n_eval_routes, low=1, high=n_routes)

# %% [markdown]
# ## The city
#
# Three families of named streets (a main grid a little off north, cross streets, and diagonal
# boulevards so that all 8 compass headings occur), landmarks of 12 kinds at corners and
# mid-block, and routes that are random walks with 2-4 turns ending in front of a landmark.

# %%
# NBVAL_CHECK_OUTPUT
city = training_city(seed, n_routes)
for key, value in city_summary(city).items():
    print(f"{key}: {value}")

# %%
route = city.routes[route_index]
rail = build_rail(route, rng=np.random.default_rng(seed))
fig = plot_city(city, rail)
map_path = save_figure(fig, figures_dir() / "virl_city_map.png")

# %% [markdown]
# ## Instructions and the ground-truth rail
#
# The instructions and the rail follow the authors' code (LeslieTrue/SFTvsRL @ 5a6ea55). The rail
# starts with a turn; on every leg longer than 5 m it puts the points at 1/5 ... 5/5 of the leg, each
# dropped with probability 0.5 (their training config) and kept only if it is more than 8 m from both
# ends of the leg; it turns at each intersection and ends with `stop()`. (`build_rail(...,
# mode="package")` is the package's earlier rule: 8 m from the previous kept point instead.)

# %%
# NBVAL_CHECK_OUTPUT
print(numbered_instructions(rail.instructions))

# %% [markdown]
# The same rail under both action spaces. The last column is the relative label computed the
# authors' way, from the raw heading difference without wrapping at 360 degrees (a bug that the
# package fixes by default; `wrap_relative=False` reproduces it).

# %%
# NBVAL_CHECK_OUTPUT
unwrapped = build_rail(route, rng=np.random.default_rng(seed), wrap_relative=False)
print(pd.DataFrame(rail_rows(rail, unwrapped=unwrapped)).to_string(index=False))

# %%
# NBVAL_CHECK_OUTPUT
for key, value in unwrapped_differences(city.routes, seed=seed).items():
    print(f"{key}: {value}")

# %% [markdown]
# ## The prompt and a feedback turn
#
# The first user turn at the start of the route, the authors' `Q_VIRL_L` byte for byte (their blank
# lines and line breaks included), and the turn that follows a wrong answer: their verifier's message
# with an `[Output]` block that keeps its doubled braces, as their trainer sends it.
# (`VIRLEnv(prompt_style="clean")` gives the package's tidier wording instead.)

# %%
# NBVAL_CHECK_OUTPUT
text_env = VIRLEnv(city_seed=seed, n_routes=n_routes)
obs, info = text_env.reset(seed=seed, options={"route_index": route_index})
print(obs["text"])
obs, reward, *_ = text_env.step('{"action": "stop()"}')
print(f"reward {reward}; next user turn:")
print(obs["text"])

# %% [markdown]
# ## Vision: the 2x2 street-view grid
#
# `[front, right; back, left]` at one rail point. Crossing streets show up in the side views at an
# intersection; landmarks appear as facades with their name on the sign, where they stand.

# %%
# NBVAL_CHECK_OUTPUT
env = VIRLEnv(modality="vision", image_size=image_size, city_seed=seed, n_routes=n_routes)
obs, info = env.reset(seed=seed, options={"route_index": route_index})
obs, info = walk_to(env, obs, info, view_at)
print(f"point {info['waypoint']} of {info['n_waypoints']}: {info['observation']}")
print(f"ground truth: {info['gt_action']}; grid {obs['image'].shape}")

# %%
fig = plot_views(obs["image"], title=info["observation"])
views_path = save_figure(fig, figures_dir() / "virl_views.png")

# %% [markdown]
# ## Baselines: the oracle reaches every destination; random answers are the floor
#
# Per-step accuracy counts every graded answer, retries included (2 attempts per point); route
# success means reaching `stop()` at the destination.

# %%
# NBVAL_CHECK_OUTPUT
table = pd.DataFrame(baseline_table(lambda actions: VIRLEnv(actions=actions, city_seed=seed, n_routes=n_routes),
                                    n_routes=n_eval_routes, seed=seed))
write_csv_atomic(results_dir() / "virl_oracle_random.csv", table)
print(table.round(3).to_string(index=False))

# %% [markdown]
# ## With the authors' data
#
# Unzip `nyc_1k_routes.zip` or `VLN_mini.zip` from the Hugging Face dataset
# `tianzhechu/SFTvsRL_Data`, then `VIRLEnv(routes="real", data_dir="path/to/folder")` (or set
# `$SFTRL_VIRL_DATA`): the same environment, with views cut from the street-view panoramas.
