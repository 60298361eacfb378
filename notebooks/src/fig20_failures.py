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
# # Fig 20, 21 · Failure examples, as real answers of this package's models
#
# The paper's Fig 20 (GeneralPoints) and Fig 21 (V-IRL) show an out-of-distribution prompt and what
# the SFT model and the RL model answered: under the rule J/Q/K = 11/12/13 the SFT model still
# counts face cards as 10; asked for relative turns, it answers with absolute headings. Here the
# same picture is drawn from the answers the study's own checkpoints gave (init, last SFT, last RL,
# seed 0), collected by notebooks 03 and 04. This notebook only reads `results/` and draws.
#
# Reads `results/examples_gp_l.csv` and `results/examples_virl_l.csv` (notebooks 03 and 04, `make
# repro`). Writes `figures/fig20_gp_failures.png`, `figures/fig21_virl_failures.png` and the drawn
# rows beside them in `results/` (same names, `.csv`).

# %% tags=["parameters"]
variant = "l"  # the study variant whose answers are drawn: "l" or "vl"

# %%
import pandas as pd

from sftrl_repro.plots.failures import rule_misread
from sftrl_repro.paths import results_dir
from sftrl_repro.plots import plot_failure_examples, save_figure, set_paper_style
from sftrl_repro.plots.study import require
from sftrl_repro.utils import check_choice

pd.set_option("display.width", 200)
check_choice("variant", variant, ("l", "vl"))
set_paper_style()
examples = {task: pd.read_csv(require(results_dir() / f"examples_{task}_{variant}.csv"), keep_default_na=False,
                              na_values={"reward": [""]})
            for task in ("gp", "virl")}

# %% [markdown]
# ## How often each model misreads the rule, per split
# First answers of each episode: the share that was right, and the share that applied the wrong
# rule (GP: the `"number"` field wrong under the stated rule; V-IRL: an action word of the other
# action space).

# %%
# NBVAL_CHECK_OUTPUT
rows = []
for task, frame in examples.items():
    first = frame[frame["turn"] == 0]
    for (method, split), g in first.groupby(["method", "split"], sort=False):
        rows.append({"task": task, "method": method, "split": split, "episodes": len(g),
                     "right": round(100 * g["correct"].astype(bool).mean(), 1),
                     "rule misread": round(100 * g.apply(lambda r: rule_misread(r, task), axis=1).mean(), 1)})
print(pd.DataFrame(rows).to_string(index=False))

# %% [markdown]
# ## Fig 20: GeneralPoints, rule OOD

# %%
fig = plot_failure_examples(examples["gp"], task="gp", split="rule_ood")
save_figure(fig, f"fig20_gp_failures{'' if variant == 'l' else '_vl'}", data=True);

# %% [markdown]
# ## Fig 21: V-IRL, rule OOD

# %%
fig = plot_failure_examples(examples["virl"], task="virl", split="rule_ood")
save_figure(fig, f"fig21_virl_failures{'' if variant == 'l' else '_vl'}", data=True);
