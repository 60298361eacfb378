"""Moved to :mod:`sftrl_repro.games.solver` (the game rules sit below prompts, rewards and envs).

Re-exported here so the import path of earlier releases keeps working.
"""

from sftrl_repro.games.solver import *  # noqa: F401,F403
