"""Moved to :mod:`sftrl_repro.games.cards` (the game rules sit below prompts, rewards and envs).

Re-exported here so the import path of earlier releases keeps working.
"""

from sftrl_repro.games.cards import *  # noqa: F401,F403
