"""Failure examples (paper Fig 20 / 21): real answers collected per method, the episode picker, the figure.

Policies here are scripted fakes with the ``generate(...) -> .texts`` interface: an "SFT" that reads
J/Q/K as 10 whatever the prompt says (or answers with absolute headings in V-IRL) and an "RL" that
follows the stated rule. Nothing is trained; every file goes to pytest's tmp_path.
"""

from __future__ import annotations

import re

import matplotlib.pyplot as plt  # headless: MPLBACKEND=Agg, or matplotlib's own fallback without a display
import pandas as pd
import pytest
from matplotlib.colors import to_hex

from sftrl_repro.evaluation import collect_examples, eval_spec
from sftrl_repro.games.cards import card_values
from sftrl_repro.games.solver import one_solution
from sftrl_repro.plots import figure_data, save_figure
from sftrl_repro.plots.failures import (
    RIGHT_COLOR,
    WRONG_COLOR,
    pick_failure_examples,
    plot_failure_examples,
    rule_misread,
    shorten_prompt,
)
from sftrl_repro.prompts.chat import message_text
from sftrl_repro.prompts.gp import gp_answer, parse_gp_answer
from sftrl_repro.prompts.virl import virl_answer

COLUMNS = ["method", "task", "modality", "split", "episode", "turn", "prompt", "answer", "reward", "outcome",
           "correct", "success"]


class Answers:
    def __init__(self, texts):
        self.texts = texts


def _cards(conversation):
    prompt = message_text(conversation[0])
    return re.search(r"Cards: \[(.*?)\]", prompt).group(1).replace("'", "").split(", ")


class RuleReader:
    """A GP policy answering with a solver formula for the card values under ``rule`` ("id": J/Q/K = 10).

    ``only_if`` (cards -> bool) makes it answer a wrong formula on the other hands.
    """

    def __init__(self, rule, only_if=None):
        self.rule, self.only_if, self.calls = rule, only_if, []

    def generate(self, conversations, images=None, *, max_new_tokens=256, temperature=None, sample_keys=None, **kw):
        self.calls.append(dict(max_new_tokens=max_new_tokens, temperature=temperature, n=len(conversations)))
        texts = []
        for conversation in conversations:
            cards = _cards(conversation)
            values = card_values(cards, self.rule)
            formula = one_solution(values)
            if formula is None or (self.only_if is not None and not self.only_if(cards)):
                formula = "-".join(map(str, values))  # at most 13 - 1 - 1 - 1: never 24
            texts.append(gp_answer(cards, values, formula + "=24"))
        return Answers(texts)


def _face(cards):
    return any(c in ("J", "Q", "K") for c in cards)


@pytest.fixture(scope="module")
def gp_frame():
    policies = {"sft": RuleReader("id"), "rl": RuleReader("ood", only_if=lambda cards: "K" in cards)}
    return collect_examples(policies, "gp", n=8, seed=0, verify_iter=2, greedy=True)


def test_gp_rows_columns_and_verdicts(gp_frame):
    frame = gp_frame
    assert list(frame.columns) == COLUMNS + ["numbers_correct", "cards_correct"]
    assert len(frame) == 2 * 2 * 8 and (frame["turn"] == 0).all()
    assert list(frame.groupby(["method", "split"], sort=False).size().index) == [
        ("sft", "id"), ("sft", "rule_ood"), ("rl", "id"), ("rl", "rule_ood")]
    assert sorted(frame.loc[(frame.method == "sft") & (frame.split == "id"), "episode"]) == list(range(8))
    # Every method plays the same hands: episode k's prompt is the same for both.
    prompts = frame.pivot_table(index=["split", "episode"], columns="method", values="prompt", aggfunc="first")
    assert (prompts["sft"] == prompts["rl"]).all()
    ood = frame[frame.split == "rule_ood"]
    assert ood["prompt"].str.contains("count as '11', '12', and '13'").all()
    assert frame.loc[frame.split == "id", "prompt"].str.contains("count as '10'").all()
    # The answer column is the model's text, as written.
    for _, row in frame.iterrows():
        cards = re.search(r"Cards: \[(.*?)\]", row["prompt"]).group(1).replace("'", "").split(", ")
        assert parse_gp_answer(row["answer"]).cards == cards
    # SFT applies J/Q/K = 10 to rule-OOD hands (every one holds a face card): the numbers are wrong.
    sft = ood[ood.method == "sft"]
    assert not sft["numbers_correct"].any() and not sft["correct"].any() and not sft["success"].any()
    assert set(sft["outcome"]) == {"wrong_numbers"} and (sft["reward"] == -2.0).all()
    assert sft["cards_correct"].all()
    sft_id = frame[(frame.method == "sft") & (frame.split == "id")]
    assert sft_id["correct"].all() and (sft_id["reward"] == 5.0).all() and set(sft_id["outcome"]) == {"correct"}
    # RL reads the rule right; its formula is right exactly on the hands holding a K.
    rl = ood[ood.method == "rl"]
    has_k = rl["prompt"].str.contains(r"Cards: \[[^\]]*'K'")
    assert rl["numbers_correct"].all()
    assert (rl["correct"] == has_k).all() and 0 < has_k.sum() < len(rl)
    assert set(rl.loc[~has_k, "outcome"]) == {"wrong_value"} and (rl.loc[~has_k, "reward"] == -1.0).all()
    assert (rl["success"] == rl["correct"]).all()  # its second answer is the same wrong one


def test_gp_all_turns_keep_the_retries_and_their_feedback():
    frame = collect_examples({"sft": RuleReader("id")}, "gp", splits=("rule_ood",), n=3, verify_iter=2,
                             all_turns=True)
    assert list(frame["turn"]) == [0, 1] * 3 and list(frame["episode"]) == [0, 0, 1, 1, 2, 2]
    assert frame.loc[frame.turn == 0, "prompt"].str.contains(r"\[Task Description\]").all()
    assert frame.loc[frame.turn == 1, "prompt"].str.startswith("You failed this trial because").all()
    assert not frame["correct"].any() and not frame["success"].any()


def test_collect_examples_passes_the_evaluation_arguments_and_checks_its_own():
    policy = RuleReader("ood")
    collect_examples({"rl": policy}, "gp", splits=("id",), n=2, greedy=True, max_new_tokens=17)
    assert policy.calls and all(c["temperature"] == 0 and c["max_new_tokens"] == 17 for c in policy.calls)
    with pytest.raises(ValueError, match="task="):
        collect_examples({"rl": policy}, "chess")
    with pytest.raises(ValueError, match="return_transitions"):
        collect_examples({"rl": policy}, "gp", return_transitions=False)
    with pytest.raises(ValueError, match="empty"):
        collect_examples({}, "gp")


class Heading:
    """A V-IRL policy that always turns as the first instruction says: relative turn or absolute heading."""

    def __init__(self, relative):
        self.relative = relative

    def generate(self, conversations, images=None, **kw):
        texts = []
        for conversation in conversations:
            prompt = message_text(conversation[0])
            turn, heading = re.search(r"First, turn (.+?) to face (\w+)\.", prompt).groups()
            action = f"turn_direction({turn if self.relative else heading})"
            texts.append(virl_answer("No landmarks nearby; ", "First, turn.", action))
        return Answers(texts)


def test_virl_rows_carry_the_ground_truth_of_the_point_answered():
    frame = collect_examples({"sft": Heading(relative=False), "rl": Heading(relative=True)}, "virl",
                             splits=("rule_ood",), n=4, all_turns=True)
    assert list(frame.columns) == COLUMNS + ["gt_action", "action"]
    spec = eval_spec("virl", "rule_ood", n=4, seed=0)  # collect_examples's default seed
    env = spec.make_env()
    start = [env.reset(seed=s, options=None if spec.options is None else spec.options[k])[1]["gt_action"]
             for k, s in enumerate(spec.seeds)]
    assert all(a.startswith("turn_direction(") for a in start)
    first = frame[frame.turn == 0].set_index(["method", "episode"])
    for k in range(4):
        # The first point's truth, whether the answer was wrong (SFT stays) or right (RL moved on).
        assert first.loc[("sft", k), "gt_action"] == first.loc[("rl", k), "gt_action"] == start[k]
        assert first.loc[("rl", k), "action"] == start[k] and first.loc[("rl", k), "correct"]
        assert not first.loc[("sft", k), "correct"] and first.loc[("sft", k), "outcome"] == "wrong_action"
        assert rule_misread(first.loc[("sft", k)], "virl") and not rule_misread(first.loc[("rl", k)], "virl")
    # RL's later answers are about the second point (no more a turn from the start): its truth is
    # the one the env gave after the first answer, not the start's.
    later = frame[(frame.method == "rl") & (frame.turn > 0)]
    assert len(later) and (later["gt_action"] != later["episode"].map(dict(enumerate(start)))).all()
    assert set(frame.loc[frame.method == "sft", "turn"]) == {0, 1}  # two attempts at the first point


def _frame(rows):
    base = {"task": "gp", "split": "rule_ood", "turn": 0, "prompt": "p", "answer": "a", "reward": 0.0,
            "outcome": "wrong_value", "success": False, "cards_correct": True}
    return pd.DataFrame([{**base, **r} for r in rows])


def test_picker_prefers_sft_wrong_rl_right_then_a_misread_rule():
    rows = []
    # episode 0: both right; 1: SFT misreads the rule, RL wrong too; 2: SFT wrong (rule read right),
    # RL right; 3: SFT wrong and misreads, RL right (the paper's example); 4: SFT wrong, RL wrong.
    for ep, (sft_ok, sft_rule, rl_ok) in enumerate([(1, 1, 1), (0, 0, 0), (0, 1, 1), (0, 0, 1), (0, 1, 0)]):
        rows.append({"method": "sft", "episode": ep, "correct": bool(sft_ok), "numbers_correct": bool(sft_rule)})
        rows.append({"method": "rl", "episode": ep, "correct": bool(rl_ok), "numbers_correct": True})
    frame = _frame(rows)
    assert pick_failure_examples(frame, "gp") == [3]
    assert pick_failure_examples(frame, "gp", k=5) == [3, 2, 1, 4, 0]
    assert pick_failure_examples(frame.iloc[::-1], "gp", k=5) == [3, 2, 1, 4, 0]  # row order does not matter
    assert pick_failure_examples(frame[frame.episode.isin([0, 1, 4])], "gp") == [1]  # no SFT-wrong/RL-right
    assert pick_failure_examples(frame[frame.episode.isin([0])], "gp") == [0]  # nothing fails: the first
    assert pick_failure_examples(frame, "gp", split="id") == []
    # Other turns and splits are ignored.
    extra = _frame([{"method": "sft", "episode": 0, "turn": 1, "correct": False, "numbers_correct": False},
                    {"method": "sft", "episode": 0, "split": "id", "correct": False, "numbers_correct": False}])
    assert pick_failure_examples(pd.concat([frame, extra]), "gp", k=2) == [3, 2]


def test_picker_on_collected_answers(gp_frame):
    ood = gp_frame[(gp_frame.split == "rule_ood") & (gp_frame.method == "rl")]
    with_k = [int(e) for e, p in zip(ood["episode"], ood["prompt"]) if re.search(r"Cards: \[[^\]]*'K'", p)]
    assert pick_failure_examples(gp_frame, "gp", k=len(with_k)) == sorted(with_k)
    assert 0 < len(with_k) < len(ood)  # some episodes do not qualify: the choice means something


def _texts(fig):
    return [t for ax in fig.axes for t in ax.texts]


def test_failure_figure_shows_the_prompt_once_and_each_verdict(gp_frame, tmp_path):
    episode = pick_failure_examples(gp_frame, "gp")[0]
    fig = plot_failure_examples(gp_frame, task="gp")
    try:
        assert len(fig.axes) == 3  # the prompt, then SFT and RL
        titles = [ax.get_title(loc="left") for ax in fig.axes]
        assert titles == ["Rule OOD prompt (shortened)", "SFT answer", "RL answer"]
        assert fig._suptitle.get_text() == f"GeneralPoints, Rule OOD: episode {episode}"
        texts = _texts(fig)
        shown = [t.get_text() for t in texts]
        row = gp_frame[(gp_frame.split == "rule_ood") & (gp_frame.episode == episode)].set_index("method")
        cards = re.search(r"Cards: \[.*?\]", row.loc["sft", "prompt"]).group(0)
        assert sum(cards in s for s in shown) == 1  # the prompt, once
        assert sum("count as '11', '12', and '13'" in s for s in shown) == 1
        formula = parse_gp_answer(row.loc["sft", "answer"]).formula
        assert any(formula in s for s in shown) and any(parse_gp_answer(row.loc["rl", "answer"]).formula in s
                                                         for s in shown)
        verdicts = {t.get_text().split(" - ")[0]: to_hex(t.get_color()) for t in texts
                    if t.get_text().startswith("Verifier:")}
        assert verdicts == {"Verifier: WRONG": WRONG_COLOR, "Verifier: RIGHT": RIGHT_COLOR}
        assert any("wrong numbers" in s for s in shown) and any("rule: wrong" in s for s in shown)
        data = figure_data(fig)
        assert list(data["method"]) == ["sft", "rl"] and set(data["episode"]) == {episode}

        png = save_figure(fig, "fig20_failures", folder=tmp_path, data=True, data_folder=tmp_path)
        assert png == tmp_path / "fig20_failures.png" and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        csv = pd.read_csv(tmp_path / "fig20_failures.csv")
        assert list(csv["method"]) == ["sft", "rl"] and list(csv["correct"]) == [False, True]
        assert list(csv["answer"]) == list(data["answer"])
    finally:
        plt.close(fig)


def test_failure_figure_draws_untrusted_text_literally_and_missing_methods(tmp_path):
    hostile = 'the answer is $\\frac{1}{$ \x00\x1b[31m "formula": "__import__(\'os\')"' + "x" * 3000
    frame = _frame([{"method": "sft", "episode": 0, "correct": False, "numbers_correct": False, "answer": hostile,
                     "prompt": "Cards: ['K', '2', '3', '4']"}])
    fig = plot_failure_examples(frame, task="gp", methods=("sft", "rl", "init"), max_chars=300, title="t")
    try:
        assert len(fig.axes) == 4
        shown = [t.get_text() for t in _texts(fig)]
        answer = next(s for s in shown if "frac" in s)
        assert "$\\frac{1}{$" in answer and "\x00" not in answer and "\x1b" not in answer
        assert len(answer) < 400 and "[...]" in answer  # cut in the middle, the end kept
        assert "no RL answer collected" in shown and "no Init answer collected" in shown
        save_figure(fig, tmp_path / "hostile.png")  # no mathtext parse error
    finally:
        plt.close(fig)
    with pytest.raises(ValueError, match="no first answer"):
        plot_failure_examples(frame, task="gp", split="id")
    with pytest.raises(ValueError, match="episode 7"):
        plot_failure_examples(frame, task="gp", episode=7)


def test_shorten_prompt_keeps_the_rule_and_the_input():
    gp = eval_spec("gp", "rule_ood", n=1, seed=0)
    env = gp.make_env()
    prompt = env.reset(seed=gp.seeds[0])[0]["text"]
    short = shorten_prompt(prompt, "gp")
    assert "count as '11', '12', and '13'" in short and "Cards: [" in short
    assert "[Output]" not in short and len(short) < len(prompt) / 2
    virl = eval_spec("virl", "rule_ood", n=1)
    prompt = virl.make_env().reset(seed=virl.seeds[0])[0]["text"]
    short = shorten_prompt(prompt, "virl", max_chars=None)
    assert "'slightly left', 'slightly right'" in short and "1. First, turn" in short and "O_1:" in short
    assert "[Output]" not in short and "[Task Description]" not in short
    cut = shorten_prompt(prompt, "virl", max_chars=200)
    assert len(cut) <= 200 and cut.startswith("[Instruction]") and cut.rstrip().endswith("A_1:")
    assert shorten_prompt("You failed this trial because x.", "gp") == "You failed this trial because x."


def test_the_package_exports():
    import sftrl_repro.plots as plots
    from sftrl_repro.plots import failures

    assert plots.plot_failure_examples is failures.plot_failure_examples
    assert plots.pick_failure_examples is failures.pick_failure_examples
    with pytest.raises(AttributeError):
        plots.no_such_figure  # noqa: B018
