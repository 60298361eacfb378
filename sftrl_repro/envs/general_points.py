"""GeneralPoints: make the target (24) from four cards, with sequential revision (paper Sec. 4.1).

One episode = one hand. ``reset`` deals a solvable hand and returns the prompt (the authors' text,
byte for byte, see ``prompts.gp``); ``step(answer)`` grades one model answer with
:func:`sftrl_repro.rewards.verify_gp`. A correct answer (+5) terminates the episode; any other
(+1, 0 or negative) continues it, and the next observation is the feedback turn
``"You failed this trial because " + <Verify Info>``. ``reward_mode="paper"`` truncates at the
``verify_iter``-th graded answer. ``reward_mode="official"`` follows the authors' env
(LeslieTrue/SFTvsRL @ 5a6ea55, ``GeneralPointEnv_oneline.step``): calls 1..``verify_iter`` are
graded and never truncate; call ``verify_iter + 1`` is not graded and returns -1, truncated,
Verify Info ``"step_limit_reached"`` (a correct answer there still gets -1).

Variants (kwargs of ``gymnasium.make("sftrl_repro/GeneralPoints-v0", ...)``):

==============  ==========================================================================
``modality``    ``"language"``: cards listed in the prompt; ``"vision"``: cards in an image
``rule``        ``"id"``: J/Q/K = 10 (training); ``"ood"``: J/Q/K = 11/12/13, every hand holds a face card
``visual``      ``"id"``: black suits (spades, clubs); ``"ood"``: red suits (hearts, diamonds); vision only
``verify_iter`` graded attempts per episode (5 in the paper)
``target``      the number to make (24)
``reward_mode`` ``"paper"`` (default) or ``"official"`` (the authors' verifier, see ``rewards.gp``)
``prompt_style`` ``"authors"`` (default: their prompt, byte for byte) or ``"clean"`` (see ``prompts.gp``)
``image_size``  canvas side in pixels (1200 = the paper's; tiny models use e.g. 128)
==============  ==========================================================================

Hands are dealt as the authors deal them (``games.cards.draw_ranks``): rule ``id``, four ranks
uniform from A..K; rule ``ood``, three uniform ranks and one forced J/Q/K, shuffled; the whole hand
redrawn until it can make the target under the active rule. The generator is the env's seeded
``np_random`` (the authors' env uses Python's global ``random`` and ignores ``reset(seed=...)``),
so a seed always deals the same hand. Suits are drawn with every draw, in every modality, so that
the language and vision variants deal the same ranks for the same seed (rule-ID hands are the same
as in earlier releases of the package; rule-OOD hands changed with the authors' deal).

The chat so far lives in one place, ``info["conversation"]`` (built by ``prompts.gp``): the prompt,
then each earlier answer and its feedback turn, ending with the user turn the model must answer
next (after the episode ends, it ends with the final answer instead).
"""

from __future__ import annotations

import string
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from sftrl_repro.games.cards import MAX_DEAL_TRIES, RANKS, RULES, SUITS, card_values, draw_ranks
from sftrl_repro.games.render import PAPER_CANVAS, render_hand
from sftrl_repro.games.solver import is_solvable, one_solution
from sftrl_repro.prompts.chat import assistant_message
from sftrl_repro.prompts.gp import PROMPT_STYLES, gp_conversation, gp_prompt
from sftrl_repro.prompts.parsing import MAX_ANSWER_CHARS
from sftrl_repro.rewards.gp import (
    OFFICIAL_MAX_ANSWER_CHARS,
    REWARD_MODES,
    STEP_LIMIT_INFO,
    STEP_LIMIT_REWARD,
    numbers_field_correct,
    verify_gp,
)
from sftrl_repro.utils.params import check_choice, check_int

MODALITIES = ("language", "vision")
RULE_NAMES = tuple(RULES)
VISUALS = tuple(SUITS)
#: Characters of observation and action texts (printable ASCII, newlines included).
CHARSET = string.printable
#: Upper bound on an observation text (the prompt is ~700 characters, feedback turns ~100; the
#: authors' feedback for a long malformed formula can be longer: it lists every sequence error).
MAX_OBS_CHARS = 4096


class GeneralPointsEnv(gym.Env):
    """The GeneralPoints card game as a Gymnasium environment (see the module docstring).

    Observation: ``{"text": str}`` (language) or ``{"text": str, "image": uint8 (S, S, 3)}``
    (vision); ``text`` is the newest user turn (the prompt after ``reset``, a feedback turn after a
    wrong answer). Action: the model's answer text (any ``str``; cut to 4096 characters).

    ``info`` (``reset`` and ``step``): ``cards`` (rank names), ``numbers`` (their values under the
    active rule), ``suits``, ``solution`` (one canonical formula), ``attempt`` (graded answers so
    far), ``conversation``; after ``step`` also ``outcome``, ``feedback``, ``verify_info`` (the
    verifier's message: the authors' ``info['Verify Info']`` in official mode), ``cards_correct``
    (recognised cards right: recognition accuracy), ``numbers_correct`` (``"number"`` field right
    under the stated rule: rule reading) and ``success``. Actions are cut to 4096 characters in
    paper mode and to ``rewards.gp.OFFICIAL_MAX_ANSWER_CHARS`` in official mode.

    ``reset(options=...)`` accepts ``{"cards": [...4 ranks...], "suits": [...]}`` to deal a chosen hand.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 1}

    def __init__(
        self,
        modality: str = "language",
        rule: str = "id",
        visual: str = "id",
        verify_iter: int = 5,
        target: int = 24,
        reward_mode: str = "paper",
        image_size: int = PAPER_CANVAS,
        render_mode: str | None = None,
        prompt_style: str = "authors",
    ) -> None:
        self.modality = check_choice("modality", modality, MODALITIES)
        self.rule = check_choice("rule", rule, RULE_NAMES)
        self.visual = check_choice("visual", visual, VISUALS)
        self.verify_iter = check_int("verify_iter", verify_iter, low=1, high=100)
        self.target = check_int("target", target, low=0, high=10_000)
        self.reward_mode = check_choice("reward_mode", reward_mode, REWARD_MODES)
        self.image_size = check_int("image_size", image_size, low=32, high=4096)
        self.render_mode = check_choice("render_mode", render_mode, (None, "rgb_array"))
        self.prompt_style = check_choice("prompt_style", prompt_style, PROMPT_STYLES)
        self._max_answer_chars = OFFICIAL_MAX_ANSWER_CHARS if self.reward_mode == "official" else MAX_ANSWER_CHARS

        obs_spaces: dict[str, spaces.Space] = {
            "text": spaces.Text(max_length=MAX_OBS_CHARS, min_length=0, charset=CHARSET)
        }
        if self.modality == "vision":
            obs_spaces["image"] = spaces.Box(0, 255, (self.image_size, self.image_size, 3), np.uint8)
        self.observation_space = spaces.Dict(obs_spaces)
        self.action_space = spaces.Text(max_length=self._max_answer_chars, min_length=0, charset=CHARSET)

        self._cards: list[str] = []
        self._suits: list[str] = []
        self._image: np.ndarray | None = None
        self._prompt = ""
        self._attempts: list[tuple[str, str]] = []  # (answer, feedback) of graded wrong attempts
        self._final_answer: str | None = None
        self._attempt = 0
        self._done = True

    # ----------------------------------------------------------------------------------- dealing
    def _deal(self) -> tuple[list[str], list[str]]:
        """Deal with ``self.np_random`` the authors' way (``games.cards.draw_ranks``); (ranks, suits).

        Every draw takes its suits too, and the whole hand is redrawn until solvable (as theirs).
        """
        rng = self.np_random
        table = RULES[self.rule]
        suit_pool = SUITS[self.visual]
        for _ in range(MAX_DEAL_TRIES):
            cards = draw_ranks(rng, self.rule)
            suits = [suit_pool[i] for i in rng.integers(0, len(suit_pool), size=4)]
            if is_solvable([table[c] for c in cards], self.target):
                return cards, suits
        raise ValueError(f"target={self.target} is not valid: no solvable hand was found in "
                         f"{MAX_DEAL_TRIES} draws; use a target that four cards can make, e.g. 24")

    def _hand_from_options(self, options: dict) -> tuple[list[str], list[str]]:
        cards = list(options["cards"])
        if len(cards) != 4 or any(c not in RANKS for c in cards):
            raise ValueError(f"options['cards']={cards!r} is not valid; give 4 ranks from {list(RANKS)}")
        suits = list(options.get("suits") or [SUITS[self.visual][i % 2] for i in range(4)])
        valid_suits = SUITS["id"] + SUITS["ood"]
        if len(suits) != 4 or any(s not in valid_suits for s in suits):
            raise ValueError(f"options['suits']={suits!r} is not valid; give 4 suits from {list(valid_suits)}")
        return cards, suits

    # ------------------------------------------------------------------------------ gym interface
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        if options and "cards" in options:
            self._cards, self._suits = self._hand_from_options(options)
        else:
            self._cards, self._suits = self._deal()
        self._prompt = gp_prompt(self._cards, rule=self.rule, modality=self.modality, target=self.target,
                                 prompt_style=self.prompt_style)
        self._image = None
        if self.modality == "vision":
            self._image = render_hand(self._cards, self._suits, self.image_size)
            self._image.flags.writeable = False
        self._attempts = []
        self._final_answer = None
        self._attempt = 0
        self._done = False
        return self._obs(self._prompt), self._info()

    def step(self, action: str):
        if self._done:
            raise RuntimeError("GeneralPointsEnv.step() called on a finished episode; call reset() first")
        answer = action[: self._max_answer_chars] if isinstance(action, str) else ""
        self._attempt += 1
        if self._attempt > self.verify_iter:
            # Official mode only: the authors' extra generation after the last graded attempt.
            self._done = True
            self._final_answer = answer
            info = self._info(outcome="step_limit", feedback="", verify_info=STEP_LIMIT_INFO,
                              cards_correct=False, numbers_correct=False, success=False)
            return self._obs(""), STEP_LIMIT_REWARD, False, True, info

        verdict = verify_gp(answer, self._cards, rule=self.rule, target=self.target,
                            modality=self.modality, mode=self.reward_mode)
        success = verdict.outcome == "correct"
        graded_out = self._attempt >= self.verify_iter
        terminated = success
        # Paper mode truncates at the last graded attempt; official mode asks for one more.
        truncated = not success and graded_out and self.reward_mode == "paper"
        if success or truncated:
            self._done = True
            self._final_answer = answer
        else:
            self._attempts.append((answer, verdict.feedback))
        info = self._info(
            outcome=verdict.outcome,
            feedback=verdict.feedback,
            verify_info=verdict.verify_info,
            cards_correct=verdict.cards_correct,
            numbers_correct=numbers_field_correct(answer, self._cards, rule=self.rule),
            success=success,
        )
        next_text = "" if self._done else verdict.feedback
        return self._obs(next_text), float(verdict.reward), terminated, truncated, info

    def render(self) -> np.ndarray | None:
        """The hand as an RGB array (``render_mode="rgb_array"``), in either modality."""
        if self.render_mode != "rgb_array" or not self._cards:
            return None
        if self._image is not None:
            return self._image.copy()
        return render_hand(self._cards, self._suits, self.image_size)

    # ---------------------------------------------------------------------------------- helpers
    @property
    def conversation(self) -> list[dict]:
        """The chat so far (see the module docstring); a fresh list each call."""
        messages = gp_conversation(self._prompt, self._attempts, image=self.modality == "vision")
        if self._final_answer is not None:
            messages.append(assistant_message(self._final_answer))
        return messages

    def _obs(self, text: str) -> dict[str, Any]:
        obs: dict[str, Any] = {"text": text}
        if self.modality == "vision":
            obs["image"] = self._image.copy()  # users may keep or modify what they get
        return obs

    def _info(self, **extra: Any) -> dict[str, Any]:
        values = card_values(self._cards, self.rule)
        return {
            "cards": list(self._cards),
            "numbers": values,
            "suits": list(self._suits),
            "rule": self.rule,
            "target": self.target,
            "solution": one_solution(values, self.target),
            "attempt": self._attempt,
            "conversation": self.conversation,
            **extra,
        }
