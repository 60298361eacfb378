"""Evaluation: protocol counts and seeds, metrics on scripted policies, the sweep, the API evaluator."""

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from sftrl_repro.games.cards import card_values
from sftrl_repro.games.solver import one_solution
from sftrl_repro.evaluation import ChatAPIPolicy, binomial_se, eval_spec, evaluate, verification_sweep
from sftrl_repro.prompts.chat import message_text
from sftrl_repro.prompts.gp import gp_answer
from sftrl_repro.trainers.rollout import collect


class Answers:
    def __init__(self, texts):
        self.texts = texts


def _hand(conversation):
    prompt = message_text(conversation[0])
    cards = re.search(r"Cards: \[(.*?)\]", prompt).group(1).replace("'", "").split(", ")
    rule = "ood" if "'11', '12', and '13'" in prompt else "id"
    return cards, rule


def oracle_answer(conversation, wrong_first=False):
    cards, rule = _hand(conversation)
    values = card_values(cards, rule)
    if wrong_first and len(conversation) == 1:
        return gp_answer(cards, values, "-".join(map(str, values)))  # at most 13 - 3 = 10: always a wrong value
    return gp_answer(cards, values, one_solution(values) + "=24")


class ScriptedGP:
    """Reads the hand from the prompt and answers with the solver (optionally wrong at first)."""

    def __init__(self, wrong_first=False):
        self.wrong_first = wrong_first
        self.calls = []

    def generate(self, conversations, images=None, **kw):
        self.calls.append(len(conversations))
        return Answers([oracle_answer(c, self.wrong_first) for c in conversations])


def test_protocol_defaults():
    spec = eval_spec("gp", "rule_ood")
    assert len(spec.seeds) == 234 and spec.env_kwargs["rule"] == "ood" and spec.env_kwargs["verify_iter"] == 5
    assert eval_spec("gp", "rule_ood").seeds == spec.seeds != eval_spec("gp", "rule_ood", seed=1).seeds
    v = eval_spec("virl", "visual_ood", "vision")
    assert len(v.seeds) == 18 and v.options == [{"route_index": i} for i in range(18)]
    assert v.env_kwargs["routes"] == "vln_mini" and v.env_kwargs["verify_iter"] == 2
    assert len(eval_spec("virl", "id").seeds) == 48 and eval_spec("virl", "rule_ood").env_kwargs["actions"] == "relative"
    with pytest.raises(ValueError, match="only valid with modality='vision'"):
        eval_spec("gp", "visual_ood", "language")
    with pytest.raises(ValueError, match="'id', 'rule_ood', 'visual_ood'"):
        eval_spec("gp", "ood")


def test_oracle_scores_perfectly_on_the_full_protocol():
    row = evaluate(ScriptedGP(), "gp", "rule_ood")
    assert row["episodes"] == 234 and row["answers"] == 234
    assert row["success"] == row["per_step_accuracy"] == row["first_attempt_success"] == 1.0
    assert row["rule_reading"] == row["recognition"] == 1.0 and row["success_se"] == 0.0


def test_second_attempt_policy_and_verification_sweep():
    table = verification_sweep(ScriptedGP(wrong_first=True), "gp", "id", iters=(1, 2, 5), n=30)
    assert table["success"].tolist() == [0.0, 1.0, 1.0]
    assert table["first_attempt_success"].tolist() == [0.0, 0.0, 0.0]
    assert table["per_step_accuracy"].tolist() == [0.0, 0.5, 0.5]
    assert table["outcome_wrong_value"].tolist() == [1.0, 0.5, 0.5]


def test_hands_do_not_depend_on_the_batch_size():
    spec = eval_spec("gp", "id", n=20)
    hands = []
    for num_envs in (1, 7, 32):
        trans = collect(ScriptedGP(), spec.make_env, spec.seeds, num_envs=num_envs)
        hands.append([_hand(t.conversation)[0] for t in trans])
    assert hands[0] == hands[1] == hands[2]


def test_binomial_se():
    assert binomial_se(0.5, 100) == pytest.approx(0.05)
    assert binomial_se(0.0, 10) == 0.0


class _Handler(BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802 (http.server's name)
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        conv = [{"role": m["role"], "content": m["content"] if isinstance(m["content"], str)
                 else [{"type": "text", "text": p.get("text", "")} if p["type"] == "text" else {"type": "image"}
                       for p in m["content"]]} for m in body["messages"]]
        text = oracle_answer(conv) if body["model"] == "oracle" else "I don't know"
        data = json.dumps({"choices": [{"message": {"role": "assistant", "content": text}}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture
def endpoint():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


def test_openai_compatible_endpoint(endpoint):
    row = evaluate(ChatAPIPolicy(endpoint, "oracle"), "gp", "id", n=12, num_envs=4)
    assert row["success"] == 1.0 and row["episodes"] == 12
    row = evaluate(ChatAPIPolicy(endpoint, "silly"), "gp", "id", n=6, verify_iter=2)
    assert row["success"] == 0.0 and row["outcome_illegal_formula"] == 1.0 and row["answers"] == 12
    # Vision: the image travels as a data URL; the stub server ignores it.
    row = evaluate(ChatAPIPolicy(endpoint, "silly"), "gp", "visual_ood", "vision", n=3, verify_iter=1, image_size=64)
    assert row["outcome_wrong_cards"] == 1.0 and row["recognition"] == 0.0


def test_api_errors_are_clear():
    with pytest.raises(ValueError, match="http"):
        ChatAPIPolicy("localhost:8000", "m")
    from sftrl_repro.evaluation.api import ChatAPIError

    with pytest.raises(ChatAPIError, match="failed"):
        ChatAPIPolicy("http://127.0.0.1:9", "m", timeout=2).generate([[{"role": "user", "content": "hi"}]])


def test_virl_evaluation_counts_every_attempt():
    class Forward:
        def generate(self, conversations, images=None, **kw):
            return Answers(['{"current observation": "x", "current instruction": "y", "action": "forward()"}'] * len(conversations))

    # Every route starts with a turn, so "forward()" fails twice at the first point: 2 answers each.
    row = evaluate(Forward(), "virl", "id", n=6)
    assert row["episodes"] == 6 and row["answers"] == 12
    assert row["success"] == row["per_step_accuracy"] == 0.0


class Recorder(ScriptedGP):
    """Records the decoding arguments each generate call receives."""

    def __init__(self):
        super().__init__()
        self.kwargs = []

    def generate(self, conversations, images=None, **kw):
        self.kwargs.append(kw)
        return super().generate(conversations, images)


def test_evaluation_decodes_as_the_authors_by_default_and_greedy_on_request():
    rec = Recorder()
    row = evaluate(rec, "gp", "id", n=4)
    assert row["decoding"] == "checkpoint"
    assert all(k["temperature"] is None and k["sample_keys"] is not None for k in rec.kwargs)
    greedy = Recorder()
    assert evaluate(greedy, "gp", "id", n=4, greedy=True)["decoding"] == "greedy"
    assert all(k["temperature"] == 0 and k["sample_keys"] is None for k in greedy.kwargs)


def test_sampled_evaluation_is_reproducible_and_batch_independent():
    from sftrl_repro.models import load_policy

    policy = load_policy("tiny", "language", seed=0, base="random")
    a = evaluate(policy, "gp", "id", n=4, num_envs=4, max_new_tokens=6, return_transitions=True)[1]
    b = evaluate(policy, "gp", "id", n=4, num_envs=1, max_new_tokens=6, return_transitions=True)[1]
    assert [t.answer for t in a] == [t.answer for t in b]


def test_reusing_each_episodes_keys_between_turns_changes_no_answer():
    """``collect`` keeps a text policy's keys/values between an episode's turns (TurnCache): the
    same sampled answers as re-encoding every conversation, with most prompt tokens reused."""
    from sftrl_repro.models import load_policy
    from sftrl_repro.models.kv_cache import TurnCache

    policy = load_policy("tiny", "language", seed=0, base="random")
    spec = eval_spec("gp", "id", n=6)
    runs = {}
    for reuse in (False, True):
        runs[reuse] = collect(policy, spec.make_env, spec.seeds, num_envs=3, temperature=1.0, max_new_tokens=16,
                              generation_seed=7, refill=reuse, reuse_turns=reuse)
    assert [t.answer for t in runs[True]] == [t.answer for t in runs[False]]
    assert max(t.turn for t in runs[True]) >= 2  # multi-turn episodes: there was something to reuse
    seen = []
    real = TurnCache.pack

    def spy(self, *args, **kwargs):
        out = real(self, *args, **kwargs)
        seen.append((self.reused_tokens, self.computed_tokens))
        return out

    TurnCache.pack = spy
    try:
        collect(policy, spec.make_env, spec.seeds, num_envs=3, temperature=1.0, max_new_tokens=16, generation_seed=7)
    finally:
        TurnCache.pack = real
    reused, computed = seen[-1]
    assert reused > 2 * computed


def test_split_episodes_caps_only_the_vln_mini_split():
    from sftrl_repro.evaluation import split_episodes

    assert split_episodes("virl", "visual_ood", 200) == 18 and split_episodes("virl", "visual_ood", 5) == 5
    assert split_episodes("virl", "id", 200) == split_episodes("gp", "visual_ood", 200) == 200
    with pytest.raises(ValueError, match="'id', 'rule_ood', 'visual_ood'"):
        split_episodes("virl", "ood", 10)


class Forward:
    """Always answers the same V-IRL action (the evaluation's episode count is what is tested)."""

    def generate(self, conversations, images=None, **kw):
        return Answers(['{"current observation": "x", "current instruction": "x", "action": "forward()"}']
                       * len(conversations))


def test_an_experiment_asking_for_more_routes_than_vln_mini_has_plays_all_18():
    """The study's eval_n (200 routes) once stopped V-IRL-VL at its visual OOD split (18 routes)."""
    from sftrl_repro.experiments.rl import RLExperiment, evaluate_policy

    rows = evaluate_policy(Forward(), RLExperiment(task="virl", variant="vl", eval_n=20, splits=("visual_ood",)))
    assert [(r["split"], r["episodes"]) for r in rows] == [("visual_ood", 18)]


class MixedGP(ScriptedGP):
    """Solves some hands at once, some at the second attempt, and misreads the rest forever
    (decided by the hand), so that every metric varies across episodes."""

    def generate(self, conversations, images=None, **kw):
        answers = []
        for c in conversations:
            cards, rule = _hand(c)
            kind = sum(map(ord, "".join(cards))) % 3
            values = card_values(cards, rule)
            if kind == 2 or (kind == 1 and len(c) == 1):
                seen = [("K" if cards[0] != "K" else "A"), *cards[1:]] if kind == 2 else cards
                answers.append(gp_answer(seen, values, "-".join(map(str, values))))
            else:
                answers.append(oracle_answer(c))
        return Answers(answers)


def test_a_larger_evaluation_is_a_smaller_one_plus_its_remaining_episodes_merged_exactly():
    from sftrl_repro.experiments.eval_cache import merge_rows
    from sftrl_repro.experiments.rl import EVAL_KEYS

    def row(**kw):
        r = evaluate(MixedGP(), "gp", "id", **kw)
        return {"split": "id", **{k: r[k] for k in EVAL_KEYS if k in r}}

    whole, head, rest = row(n=40), row(n=17), row(n=40, first=17)
    assert head["episodes"] == 17 and rest["episodes"] == 23
    assert 0 < whole["success"] < 1 and 0 < whole["first_attempt_success"] < whole["success"] < 1
    assert 0 < whole["recognition"] < 1 and head["success"] != rest["success"]
    merged = merge_rows(head, rest)
    assert merged.keys() == whole.keys()
    for key in whole:
        assert merged[key] == pytest.approx(whole[key], abs=1e-12), key
    with pytest.raises(ValueError, match=r"first=40 is not valid: an episode index in \[0, 40\)"):
        evaluate(MixedGP(), "gp", "id", n=40, first=40)
    with pytest.raises(ValueError, match="different splits"):
        merge_rows(head, {**rest, "split": "rule_ood"})
