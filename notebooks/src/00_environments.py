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
# # 00 · The GeneralPoints environment
#
# *SFT Memorizes, RL Generalizes* (Chu et al., ICML 2025) trains on **GeneralPoints**: four cards,
# make 24 with `+ - * /` and brackets, each card used once. The variants below are the paper's
# (paper Sec. 4.1): the **rule** variant changes what J, Q, K are worth (10 in training; 11/12/13
# out of distribution), the **visual** variant changes the suit colours of the card images (black
# in training, red out of distribution). An episode allows up to `verify_iter` answers; each wrong
# one is followed by the verifier's reason ("sequential revision").
#
# This notebook regenerates `figures/gp_cards_id_vs_ood.png`, `figures/gp_solutions_per_hand.png`,
# `results/gp_solver_statistics.csv`, `results/gp_reward_table.csv` and the paper's reported
# numbers as data in `results/paper/`.

# %% tags=["parameters"]
seed = 0  # which hands are dealt
image_size = 1200  # card-image canvas in pixels (1200 = the paper's; tiny models use ~128)
reward_mode = "paper"  # "paper" (the paper's reward table) or "official" (the authors' code)
verify_iter = 5  # graded answers per episode (5 in the paper)
target = 24  # the number to make

# %%
import gymnasium as gym
import pandas as pd

import sftrl_repro
from sftrl_repro.envs import GENERAL_POINTS_ID
from sftrl_repro.games.gp_stats import hand_space, solver_statistics
from sftrl_repro.envs.scripted import play_episode
from sftrl_repro.paper import write_paper_tables
from sftrl_repro.paths import results_dir
from sftrl_repro.plots import save_figure
from sftrl_repro.plots.gp import plot_card_images, plot_solutions_per_hand
from sftrl_repro.prompts.gp import gp_answer
from sftrl_repro.rewards.examples import reward_table
from sftrl_repro.utils import check_int, write_csv_atomic

pd.set_option("display.width", 200)
pd.set_option("display.max_colwidth", 90)

# Validate every parameter up front: a bad value stops here with one message naming what is valid.
check_int("seed", seed, low=0)
check_int("image_size", image_size, low=32, high=4096)
common = dict(reward_mode=reward_mode, verify_iter=verify_iter, target=target, image_size=image_size)
gym.make(GENERAL_POINTS_ID, **common)  # validates reward_mode, verify_iter, target
write_paper_tables();

# %% [markdown]
# ## The variants side by side
# Same seed, same ranks in every variant; only the rule (values) and the suit colours change.

# %%
# NBVAL_CHECK_OUTPUT
rows = []
for modality in ("language", "vision"):
    for rule in ("id", "ood"):
        for visual in (("id", "ood") if modality == "vision" else ("id",)):
            env = gym.make(GENERAL_POINTS_ID, modality=modality, rule=rule, visual=visual, **common)
            obs, info = env.reset(seed=seed)
            rows.append({"modality": modality, "rule": rule, "visual": visual if modality == "vision" else "-",
                         "cards": " ".join(info["cards"]), "numbers": info["numbers"],
                         "suits": " ".join(s[0].upper() for s in info["suits"]) if modality == "vision" else "-",
                         "a solution": info["solution"], "observation": sorted(obs)})
variants = pd.DataFrame(rows)
variants

# %% [markdown]
# The prompt of the language variant, the authors' text byte for byte (LeslieTrue/SFTvsRL @ 5a6ea55),
# quirks included: the leading newline, the stray `'13' respectively.,` and the single-quoted formula
# placeholder. The vision variant drops `[Input]`, shows the image and asks for "a valid json file".
# Hands are dealt as the authors deal them: a rule-OOD hand is one forced J/Q/K plus three uniform
# ranks, shuffled, redrawn until solvable (1.62 face cards per hand on average).

# %%
# NBVAL_CHECK_OUTPUT
env = gym.make(GENERAL_POINTS_ID, modality="language", rule="ood", **common)
obs, info = env.reset(seed=seed)
print(obs["text"])

# %% [markdown]
# ## Card images: in-distribution (black suits) vs visual OOD (red suits)

# %%
images = {}
for visual in ("id", "ood"):
    env = gym.make(GENERAL_POINTS_ID, modality="vision", visual=visual, **common)
    obs, info = env.reset(seed=seed)
    images[f"visual={visual}: {' '.join(info['cards'])}"] = obs["image"]
fig = plot_card_images(images)
save_figure(fig, "gp_cards_id_vs_ood");

# %% [markdown]
# ## One episode of sequential revision
# Three answers a model might give to the same hand: a misread rule, a slip in arithmetic, then a
# correct formula. Each wrong answer earns its reward and a feedback turn; the right one ends it.

# %%
# NBVAL_CHECK_OUTPUT
env = gym.make(GENERAL_POINTS_ID, modality="language", rule="ood", **common)
_, info = env.reset(seed=seed)
cards, values = info["cards"], info["numbers"]
id_values = [10 if c in ("J", "Q", "K") else v for c, v in zip(cards, values)]
answers = [
    gp_answer(cards, id_values, "+".join(map(str, id_values)) + f"={target}"),  # reads J/Q/K as 10
    gp_answer(cards, values, "*".join(map(str, values)) + f"={target}"),  # right numbers, wrong value
    gp_answer(cards, values, f"{info['solution']}={target}"),  # correct
]
episode = play_episode(env, answers, seed=seed)
print("cards:", cards, "values under the OOD rule:", values)
episode[["step", "reward", "outcome", "terminated", "truncated", "next_user_turn"]]

# %% [markdown]
# The conversation the model sees at its third attempt (prompt, answer, feedback, answer, feedback):

# %%
# NBVAL_CHECK_OUTPUT
env.reset(seed=seed)
for a in answers[:2]:
    *_, info = env.step(a)
for m in info["conversation"]:
    text = m["content"] if isinstance(m["content"], str) else m["content"][-1]["text"]
    print(f"--- {m['role']}:\n{text[:160]}{' [...]' if len(text) > 160 else ''}")

# %% [markdown]
# ## The reward table, exercised by real answers
# Each row is an answer built for one hand and graded by `verify_gp` in both modalities and both
# reward conventions. `paper` gives exactly one outcome per answer (+5 / −1 / −2 / −3 / −1.5 for
# misread cards in VL); `official` reproduces the authors' verifier (checked against 20,574 answers
# graded by their code): their regex needs `"formula": "..."`, spaces are illegal, sequence errors
# cost −3 each while number errors cost −2 once per kind, a formula that fails to evaluate but starts
# one of their solution strings earns +1, values are compared in floats, and a valid-JSON vision
# answer always fails their card check.

# %%
# NBVAL_CHECK_OUTPUT
rewards = reward_table(["4", "3", "2", "K"], rule="id", target=24)
write_csv_atomic(results_dir() / "gp_reward_table.csv", rewards)
rewards.drop(columns="formula")

# %% [markdown]
# ## Solver statistics
# Exact rational arithmetic over all 1820 rank multisets. The solvable counts (the authors' solver
# accepts the same multisets): 1236 for J/Q/K = 10, 1362 for 11/12/13; 670 and 796 of the 1105 hands
# holding a face card (rule-OOD hands always hold one). "Solutions" are distinct canonical formulas
# (commutative and associative rewrites merged).

# %%
# NBVAL_CHECK_OUTPUT
stats = solver_statistics(target)
write_csv_atomic(results_dir() / "gp_solver_statistics.csv", stats)
stats.set_index("rule").T.astype(object)  # keep counts as integers

# %%
fig = plot_solutions_per_hand(hand_space(target))
save_figure(fig, "gp_solutions_per_hand");
