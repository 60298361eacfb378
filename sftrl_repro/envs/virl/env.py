"""``VIRLEnv``: V-IRL vision-language navigation as a Gymnasium environment (paper Sec. 4.2).

One episode is one route. The agent stands on the ground-truth rail (see
:mod:`~sftrl_repro.games.virl.rail`; ``rail="authors"`` by default: the rule of the authors' code,
LeslieTrue/SFTvsRL @ 5a6ea55); each step it answers the current point's prompt (the authors' ``Q_VIRL_L`` /
``Q_VIRL_VL`` byte for byte by default, see :mod:`sftrl_repro.prompts.virl`) with a JSON-like object
whose ``"action"`` is graded by exact match:

* right: reward +1, and the agent moves to the next point (a new prompt whose history holds the
  ground-truth observations and actions so far); ``stop()`` at the destination ends the episode with
  success;
* wrong: reward -1 (or -1.5 for a vision detection failure, see :mod:`sftrl_repro.rewards.virl`), the
  verifier's feedback is appended to the conversation and the agent tries again at the same point.
  After ``verify_iter`` wrong answers at one point the route has failed (its verification budget
  is used up, so the episode is *truncated*, as in the GeneralPoints environment):

  - ``reward_mode="paper"`` (default): the episode is truncated on that answer;
  - ``reward_mode="official"``: as in the authors' code, one more generation is requested; it is
    not graded (a right answer too), earns -1 (outcome ``"step_limit"``) and truncates the episode;
    at the destination it is also ``terminated``, elsewhere the info already describes the next rail
    point, as their env moves on (their trainer then ends the episode; so does this env).

Observations are ``{"text": str}`` (language) or ``{"text": str, "image": uint8 (H, W, 3)}``
(vision: the 2x2 street-view grid ``[front, right; back, left]`` of the current point; ``H = W =
2 * image_size + separator``). ``text`` is the newest user turn (the point's prompt, or the feedback
after a wrong answer; ``""`` once the episode is over); ``info["conversation"]`` is the chat at the
current point, ending with that turn (the image is attached to its first user turn only, as the
authors do; once the episode is over it ends with the final answer). A correct answer moves the
agent on and starts a fresh conversation: the new prompt carries the history (ground-truth actions
only). Calling :meth:`step` after the episode ended raises ``RuntimeError`` (call :meth:`reset`).
"""

from __future__ import annotations

import os
import string

import gymnasium
import numpy as np
from gymnasium import spaces

from sftrl_repro.games.virl.city import TRAIN_ROUTES, City
from sftrl_repro.games.virl.rail import (
    ACTION_SPACES,
    DROP_RATE,
    RAIL_MODES,
    STRAIGHT_LINE_LENGTH,
    Rail,
    RailPoint,
)
from sftrl_repro.games.virl.render import PAPER_VIEW_SIZE, grid_shape
from sftrl_repro.games.virl.sources import GeneratedRoutes, RouteSet, make_route_set
from sftrl_repro.prompts.chat import assistant_message
from sftrl_repro.prompts.parsing import MAX_ANSWER_CHARS, clip_answer
from sftrl_repro.prompts.virl import (
    MODALITIES,
    PROMPT_STYLES,
    numbered_instructions,
    virl_answer,
    virl_conversation,
    virl_prompt,
)
from sftrl_repro.rewards.virl import REWARD_MODES, STEP_LIMIT_REWARD, verify_virl
from sftrl_repro.utils.params import check_choice, check_int

#: Every character an observation or action text may hold: printable ASCII, newline included.
TEXT_CHARSET = string.printable
#: Longest prompt; the oldest history lines are dropped if a (very long real) route would exceed it.
MAX_PROMPT_CHARS = 32768


class VIRLEnv(gymnasium.Env):
    """V-IRL navigation along ground-truth rails, text or vision, absolute or relative actions.

    Args:
        modality: ``"language"`` (V-IRL-L) or ``"vision"`` (V-IRL-VL: the observation adds the view grid).
        actions: ``"absolute"`` (ID: ``turn_direction(<compass>)``) or ``"relative"`` (rule OOD:
            ``turn_direction(left | right | slightly left | slightly right)``).
        routes: ``"train"`` (generated New York-style city, 1,000 routes), ``"vln_mini"`` (18 generated
            routes in 9 styled cities, the visual-OOD set), ``"real"`` (the authors' files, see
            ``data_dir``), or a :class:`~sftrl_repro.games.virl.sources.RouteSet`.
        city: alternatively, one generated :class:`~sftrl_repro.games.virl.city.City` or a list of them:
            their routes are used (``routes`` must then be left at its default).
        verify_iter: graded attempts per rail point (the paper's 2).
        reward_mode: ``"paper"`` (default) or ``"official"`` (see the module docstring and
            :mod:`sftrl_repro.rewards.virl`).
        image_size: side of each of the 4 views in pixels: 1200 as in the paper (grid 2405 x 2405),
            or small for tiny models (``render.TINY_VIEW_SIZE`` = 64: grid 129 x 129).
        data_dir: folder of the authors' files for ``routes="real"`` (default ``$SFTRL_VIRL_DATA``).
        city_seed: seed of the generated cities (``"train"``, ``"vln_mini"``).
        n_routes: number of routes of the generated training city.
        drop_rate: probability of dropping each candidate forward point of the rail.
        straight_line_length: ``n``: forward-point candidates at ``i / n`` of each leg (the authors' 5;
            see :mod:`~sftrl_repro.games.virl.rail`).
        wrap_relative: ``False`` (default) reproduces the authors' unwrapped relative labels (also in
            the instructions), so prompts equal the authors' byte for byte; ``True`` labels relative
            turns with 360-degree wrap-around (the geometric meaning of left/right; it changes 25%
            of the generated training city's turns).
        rail: ``"authors"`` (default: their spacing rule, texts and sentence index) or ``"package"``
            (see :mod:`~sftrl_repro.games.virl.rail`).
        prompt_style: ``"authors"`` (default: their prompt, answer template and feedback turns byte for
            byte) or ``"clean"`` (see :mod:`~sftrl_repro.prompts.virl`).
        render_mode: ``None`` or ``"rgb_array"`` (:meth:`render` returns the current view grid).

    Reset options: ``{"route_index": i}`` picks ``routes[i]``; otherwise a route is drawn with the
    environment's generator.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 1}

    def __init__(
        self,
        modality: str = "language",
        actions: str = "absolute",
        routes: str | RouteSet = "train",
        city: City | list[City] | None = None,
        verify_iter: int = 2,
        reward_mode: str = "paper",
        image_size: int = PAPER_VIEW_SIZE,
        data_dir: str | os.PathLike | None = None,
        city_seed: int = 0,
        n_routes: int = TRAIN_ROUTES,
        drop_rate: float = DROP_RATE,
        straight_line_length: int = STRAIGHT_LINE_LENGTH,
        wrap_relative: bool = False,
        rail: str = "authors",
        prompt_style: str = "authors",
        render_mode: str | None = None,
    ):
        self.modality = check_choice("modality", modality, MODALITIES)
        self.actions = check_choice("actions", actions, ACTION_SPACES)
        self.reward_mode = check_choice("reward_mode", reward_mode, REWARD_MODES)
        self.verify_iter = check_int("verify_iter", verify_iter, low=1)
        self.image_size = check_int("image_size", image_size, low=8, high=4096)
        self.straight_line_length = check_int("straight_line_length", straight_line_length, low=1, high=100)
        if isinstance(drop_rate, bool) or not isinstance(drop_rate, (int, float)) or not 0.0 <= drop_rate <= 1.0:
            raise ValueError(f"drop_rate={drop_rate!r} is not valid; it must be a number in [0, 1]")
        self.drop_rate = float(drop_rate)
        self.wrap_relative = check_choice("wrap_relative", wrap_relative, (True, False))
        self.rail_mode = check_choice("rail", rail, RAIL_MODES)
        self.prompt_style = check_choice("prompt_style", prompt_style, PROMPT_STYLES)
        self.render_mode = check_choice("render_mode", render_mode, (None, *self.metadata["render_modes"]))
        if city is not None:
            if not isinstance(routes, str) or routes != "train":
                raise ValueError("city=... and routes=... were both given; pass only one of them")
            cities = [city] if isinstance(city, City) else list(city)
            if not cities or not all(isinstance(c, City) for c in cities):
                raise ValueError(f"city={city!r} is not valid; pass a City or a list of City objects")
            self.route_set = GeneratedRoutes(cities, name="+".join(c.name for c in cities))
        else:
            self.route_set = make_route_set(routes, data_dir=data_dir, city_seed=check_int("city_seed", city_seed),
                                            n_routes=check_int("n_routes", n_routes, low=1))
        if not len(self.route_set):
            raise ValueError(f"routes={routes!r} holds no routes")

        text = spaces.Text(max_length=MAX_PROMPT_CHARS, min_length=0, charset=TEXT_CHARSET)
        if self.modality == "vision":
            image = spaces.Box(0, 255, grid_shape(self.image_size), dtype=np.uint8)
            self.observation_space = spaces.Dict({"text": text, "image": image})
        else:
            self.observation_space = spaces.Dict({"text": text})
        self.action_space = spaces.Text(max_length=MAX_ANSWER_CHARS, min_length=0, charset=TEXT_CHARSET)

        self.rail: Rail | None = None
        self._route_index = -1
        self._point = 0
        self._attempts = 0
        self._history: list[tuple[str, str]] = []
        self._exchanges: list[tuple[str, str]] = []
        self._prompt = ""
        self._grid: np.ndarray | None = None
        self._done = True
        self._limit_pending = False
        self._success = False
        self._final_answer: str | None = None

    # -- Gymnasium API -----------------------------------------------------------------------

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        """Start a route: ``options={"route_index": i}`` picks one, else it is drawn at random.

        Returns:
            ``(obs, info)``; see the class docstring and :meth:`_info`.
        """
        super().reset(seed=seed)
        options = options or {}
        if "route_index" in options:
            index = check_int("route_index", options["route_index"], low=0, high=len(self.route_set) - 1)
        else:
            index = int(self.np_random.integers(len(self.route_set)))
        self._route_index = index
        self.rail = self.route_set.rail(
            self.route_set.routes[index], rng=self.np_random, drop_rate=self.drop_rate,
            straight_line_length=self.straight_line_length, wrap_relative=self.wrap_relative,
            mode=self.rail_mode)
        self._history = []
        self._done = self._limit_pending = self._success = False
        self._final_answer = None
        self._enter(0)
        return self._observation(), self._info(graded=None)

    def step(self, action: str):
        """Grade one answer (any string; never raises on it) and move on the rail if it is right.

        Returns:
            ``(obs, reward, terminated, truncated, info)``: ``terminated`` when ``stop()`` is given at
            the destination (success), ``truncated`` when a point's verification budget is used up;
            ``info["graded"]`` and ``info["correct"]`` give per-step accuracy, ``info["success"]``
            route success.

        Raises:
            RuntimeError: the episode is over (call :meth:`reset`).
        """
        if self._done:
            raise RuntimeError("VIRLEnv.step() called on a finished episode; call reset() first")
        answer = clip_answer(action)  # untrusted: non-str -> "", at most 4096 characters kept
        if self._limit_pending:
            # Official mode: the authors' extra generation after the last graded attempt; ignored, -1.
            # Their env then moves to the next point (terminated too at the destination).
            self._done, self._final_answer = True, answer
            terminated = self._current.kind == "destination"
            if not terminated:
                self._point, self._grid = self._point + 1, None
            return self._observation(), STEP_LIMIT_REWARD, terminated, True, self._info(None, "step_limit")
        point = self._current
        verdict = verify_virl(
            answer, gt_action=point.action(self.actions), landmark_observation=point.landmark_observation,
            at_intersection=point.at_intersection, landmark_name=point.landmark_name,
            modality=self.modality, mode=self.reward_mode, prompt_style=self.prompt_style)
        graded = {"waypoint": point.index, "attempt": self._attempts + 1, "correct": verdict.outcome == "correct"}
        terminated = truncated = False
        if verdict.outcome == "correct":
            if point.kind == "destination":
                terminated = self._done = self._success = True
                self._final_answer = answer
            else:
                self._history.append((point.observation, point.action(self.actions)))
                self._enter(point.index + 1)
        else:
            self._attempts += 1
            if self._attempts >= self.verify_iter and self.reward_mode == "paper":
                truncated = self._done = True
                self._final_answer = answer
            else:
                self._exchanges.append((answer, verdict.feedback))
                # Official mode: after the last graded attempt, one more (ignored) generation is asked for.
                self._limit_pending = self._attempts >= self.verify_iter
        return self._observation(), verdict.reward, terminated, truncated, self._info(graded, verdict.outcome)

    def render(self) -> np.ndarray | None:
        """The current point's view grid (``render_mode="rgb_array"``), else ``None``."""
        if self.render_mode != "rgb_array" or self.rail is None:
            return None
        return self._view_grid().copy()

    # -- internals ---------------------------------------------------------------------------

    @property
    def _current(self) -> RailPoint:
        return self.rail.points[self._point]

    def _enter(self, index: int) -> None:
        """Stand at rail point ``index``: fresh attempts, fresh conversation, new prompt."""
        self._point, self._attempts, self._exchanges, self._grid = index, 0, [], None
        point = self._current
        history = self._history
        while True:
            self._prompt = virl_prompt(self.rail.instructions, history, point.observation,
                                       at_intersection=point.at_intersection, actions=self.actions,
                                       modality=self.modality, prompt_style=self.prompt_style)
            if len(self._prompt) <= MAX_PROMPT_CHARS or not history:
                break
            history = history[1:]  # an extremely long route: keep the most recent history only
        self._prompt = self._prompt[:MAX_PROMPT_CHARS]

    def _view_grid(self) -> np.ndarray:
        if self._grid is None:
            self._grid = self.route_set.grid(self.rail.route, self._current, self.image_size)
        return self._grid

    def _observation(self) -> dict:
        if self._done:
            text = ""
        else:
            text = self._exchanges[-1][1] if self._exchanges else self._prompt
        if self.modality == "vision":
            # A copy: callers keep observations, and must not see them change (Gymnasium's rule).
            return {"text": text, "image": self._view_grid().copy()}
        return {"text": text}

    def _info(self, graded: dict | None, outcome: str = "") -> dict:
        """What trainers, evaluators and oracles need.

        Keys: ``route_id``, ``route_index``, ``n_waypoints``; the current point (the one the next
        answer is about): ``waypoint``, ``gt_action``, ``gt_answer`` (a correct answer in the template),
        ``observation`` (its oracle text), ``current_instruction``, ``at_intersection``; the instructions
        (``instruction``, numbered); the answer just graded: ``graded`` (``False`` at reset and for
        the official extra generation past the step limit), ``graded_waypoint``, ``attempt`` (1-based,
        at that point; 0 if not graded), ``correct``, ``outcome`` (``"correct"``, ``"wrong_action"``,
        ``"detection_failure"``, ``"step_limit"``; ``""`` at reset); ``success`` (the route is
        completed); ``conversation`` (chat messages, ending with the user turn to answer next, or
        with the final answer once the episode is over).
        """
        point = self._current
        instruction = self.rail.instructions[point.instruction_index]
        gt_action = point.action(self.actions)
        return {
            "route_id": self.rail.route.route_id,
            "route_index": self._route_index,
            "n_waypoints": len(self.rail.points),
            "waypoint": point.index,
            "gt_action": gt_action,
            "gt_answer": virl_answer(point.observation, instruction, gt_action, prompt_style=self.prompt_style),
            "observation": point.observation,
            "current_instruction": instruction,
            "at_intersection": point.at_intersection,
            "instruction": numbered_instructions(self.rail.instructions, prompt_style=self.prompt_style),
            "graded": graded is not None,
            "graded_waypoint": graded["waypoint"] if graded else None,
            "attempt": graded["attempt"] if graded else 0,
            "correct": bool(graded and graded["correct"]),
            "outcome": outcome,
            "success": self._success,
            "conversation": self._conversation(),
        }

    def _conversation(self) -> list[dict]:
        messages = virl_conversation(self._prompt, self._exchanges, image=self.modality == "vision")
        if self._final_answer is not None:
            messages.append(assistant_message(self._final_answer))
        return messages
