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
# # 05 · The tiny base: what it knows before any task training
#
# The paper starts from Llama-3.2-Vision, a model with general knowledge that never saw the task.
# At the `tiny` scale the package pretrains its own base on a corpus of general knowledge in formats
# of its own (`sftrl_repro.data.pretrain`): face-card rules stated in many wordings (never the
# task's two rules), make-T arithmetic over 1..13, the GeneralPoints answer object for targets other
# than 24, route directions in three action vocabularies, and (vision) captions of card images on
# random backgrounds and of street-view grids of pretraining cities. It never sees a GeneralPoints
# prompt with the target 24 nor a V-IRL route prompt (`tests/test_pretrain.py` checks that).
#
# This notebook measures the base's own skills, greedy, on fresh draws:
#
# * **rule reading** under the task's two rules, which the corpus never states (J/Q/K = 10: ID;
#   11/12/13: rule OOD), in the corpus's rule-reading format;
# * **make-24** on the values of task hands (plain-number format) and the corpus's own make-T;
# * **zero-shot on the task prompt** (never seen): success and the `"number"` field under the
#   stated rule;
# * **route following**: action accuracy per action vocabulary;
# * **copying**: the hand copied from the corpus's own prompts as trained and with 0-3 aside
#   sentences moving it (a copy by position fails there, one by content does not), and lists
#   copied back from behind filler sentences (`recall`);
# * **recognition** (vision): the 4 ranks of a card image, on the corpus's own images and on the
#   task's green-table images (black suits = ID, red = visual OOD);
#
# and one ablation: a text base whose card data always uses J/Q/K = 10 (`rules="fixed"`, one seed),
# to show what diverse-rule data buys. It writes `results/base_tiny.csv`.

# %% tags=["parameters"]
n = 200  # fresh evaluation draws per skill
ablation = True  # also train and measure the fixed-rule base (minutes)
smoke = False  # micro bases and a few draws (CI)

# %%
import os
import time
from dataclasses import replace

import pandas as pd
import torch

from sftrl_repro.data.pretrain import TEXT_CORPUS
from sftrl_repro.models.policy import Policy
from sftrl_repro.paths import results_dir, runs_dir
from sftrl_repro.trainers.pretrain import (
    BASE_DIR,
    base_summary,
    copy_skills,
    default_config,
    pretrain_base,
    text_skills,
    vision_skills,
    with_digest,
)
from sftrl_repro.utils import check_choice
from sftrl_repro.utils.io import write_csv_atomic

check_choice("smoke", smoke, (True, False))
check_choice("ablation", ablation, (True, False))
smoke = smoke or os.environ.get("SFTRL_SMOKE") == "1"  # CI runs every notebook in smoke mode
torch.set_num_threads(1)
if smoke:
    from sftrl_repro.models.tiny import TinySpec

    micro = TinySpec(hidden_size=32, intermediate_size=64, num_layers=2, num_heads=2, cross_attention_layers=(1,),
                     image_size=32, vision_hidden_size=16, vision_layers=1, vision_global_layers=1, vision_heads=2)
    n = 8
    text_cfg = replace(default_config("language"), spec=micro, steps=4, save_every=2)
    vision_cfg = replace(default_config("vision"), spec=micro, steps=3, init_from=text_cfg, image_batch=2,
                         corpus=replace(default_config("vision").corpus, image_size=32), encoder_steps=2,
                         encoder_batch=2, reader_steps=2, reader_batch=2)
    root = runs_dir() / "smoke"
else:
    text_cfg, vision_cfg, root = default_config("language"), default_config("vision"), None

# %% [markdown]
# ## The text base
# Built on first use (a few minutes; cached in `runs/tiny-base-language-<hash>/`); `load_policy("tiny",
# "language")` returns the same weights.

# %%
run = pretrain_base(text_cfg, root=root)
summary = base_summary(run)
print(f"{summary['step']} steps, {summary['tokens'] / 1e6:.2f}M tokens ({summary['answer_tokens'] / 1e6:.2f}M "
      f"answer tokens), {summary['seconds'] / 60:.1f} min of training")
text_base = Policy.load(run.path / BASE_DIR, device="cpu")
curve = pd.DataFrame(run.metrics())[["step", "loss", "tokens", "tokens_per_s"]]
curve.iloc[:: max(1, len(curve) // 8)]

# %%
rows = []
start = time.perf_counter()
skills = text_skills(text_base, n=n)
rows += [{"base": "text", "skill": k, "value": v, "n": n} for k, v in skills.items()]
print(f"measured in {time.perf_counter() - start:.0f} s")
pd.Series(skills).round(3).to_frame("text base")

# %% [markdown]
# ## Copying: by content or by position?
# Both tasks copy from a long prompt (the hand into `"cards"`, the instruction into
# `"current instruction"`). If the base copies the hand only where it sat in training, a prompt
# that moves it (the rule-OOD sentence is longer than the ID one) breaks the copy before any rule
# is read.

# %%
copying = copy_skills(text_base, n=4 if smoke else 60)
rows += [{"base": "text", "skill": k, "value": v, "n": 4 if smoke else 60} for k, v in copying.items()]
pd.Series(copying).round(3).to_frame("text base")

# %% [markdown]
# ## Ablation: no diverse-rule data
# The same corpus and budget, but every card example states and uses J/Q/K = 10 (one seed).

# %%
if ablation:
    fixed_cfg = with_digest(replace(text_cfg, corpus=replace(text_cfg.corpus, rules="fixed")))
    fixed_run = pretrain_base(fixed_cfg, root=root)
    fixed = text_skills(Policy.load(fixed_run.path / BASE_DIR, device="cpu"), n=n)
    rows += [{"base": "text_fixed_rules", "skill": k, "value": v, "n": n} for k, v in fixed.items()]
    table = pd.DataFrame({"diverse rules": skills, "J/Q/K = 10 only": fixed}).round(3)
else:
    table = pd.Series(skills).round(3).to_frame("diverse rules")
table

# %% [markdown]
# ## The vision base
# Its text decoder starts from the text base (cross-attention gates opened at 0.5: with Mllama's
# closed gates the tiny base never read the image). Then three phases (the `encoder_first` recipe):
# the ViT learns the ranks of rows of 4 cards through a per-card head (`warm_up_encoder`); the
# projector and cross-attention layers alone learn to pass them to the language model, asked for
# the cards of such rows (`warm_up_reader`); then captions of card images and street scenes, with
# every fourth step a text step.

# %%
vrun = pretrain_base(vision_cfg, root=root)
vsummary = base_summary(vrun)
print(f"{vsummary['step']} caption steps, {vsummary['images']} images, {vsummary['seconds'] / 60:.1f} min of "
      "caption training")
for phase in ("encoder", "reader"):
    lines = [r for r in vrun.metrics() if r.get("phase") == phase]
    if lines and "phase_step" in lines[-1]:
        print(f"{phase} warm-up, step {lines[-1]['phase_step']}: "
              + ", ".join(f"{k} {v:.3f}" for k, v in lines[-1].items() if k.startswith(phase)))
    elif lines:  # a base built before phase_step: its warm-up lines past caption step 300 were not kept
        print(f"{phase} warm-up: this base's log keeps only its first {len(lines)} lines (built before the "
              "warm-ups logged phase_step); rebuild it for the full curve")
vision_base = Policy.load(vrun.path / BASE_DIR, device="cpu")
vskills = vision_skills(vision_base, n=n)
rows += [{"base": "vision", "skill": k, "value": v, "n": n} for k, v in vskills.items()]
pd.Series(vskills).round(3).to_frame("vision base")

# %%
out = pd.DataFrame(rows)
if not smoke:
    write_csv_atomic(results_dir() / "base_tiny.csv", out)
out.pivot_table(index="skill", columns="base", values="value").round(3)
