"""The verifier: every reward outcome in both modes, precedence, the parser and the safe arithmetic."""

from fractions import Fraction

import pytest

from sftrl_repro.prompts.gp import FEEDBACK_PREFIX, gp_answer, parse_gp_answer
from sftrl_repro.prompts.parsing import extract_list_field, extract_string_field
from sftrl_repro.rewards import arith
from sftrl_repro.rewards.gp import PAPER_REWARDS, cards_match, numbers_field_correct, verify_gp

HAND = ["4", "3", "2", "K"]  # values 4, 3, 2, 10 (id) / 4, 3, 2, 13 (ood)


def answer(formula, cards=HAND, numbers=(4, 3, 2, 10)):
    return gp_answer(cards, numbers, formula)


# ----------------------------------------------------------------------------------- paper mode
@pytest.mark.parametrize("formula, outcome", [
    ("4*3+2+10=24", "correct"),
    ("4*3+2+10", "correct"),                   # the "=..." tail is optional
    (" ( 4 * 3 ) + 2 + 10 = 24 ", "correct"),  # spaces are allowed
    ("4*3+2+10=25", "correct"),                # the tail is ignored
    ("((((4*3))))+2+10", "correct"),
    ("4*3*2*10", "wrong_value"),
    ("4/(3-3)+2*10", "wrong_numbers"),         # 3 used twice, no 10
    ("10/(3-3)*4*2", "wrong_numbers"),
    ("10/(4-2-2)+3", "wrong_numbers"),
    ("4*3+2+1+0", "wrong_numbers"),
    ("43+2+10", "wrong_numbers"),              # digits run together: forty-three
    ("4*3+2", "wrong_numbers"),
    ("-4*3+2+10", "illegal_formula"),          # unary minus
    ("4*3+2+10.0", "illegal_formula"),         # decimals
    ("4**3+2+10", "illegal_formula"),
    ("4^3+2+10", "illegal_formula"),
    ("[4*3]+2+10", "illegal_formula"),
    ("(4*3+2+10", "illegal_formula"),
    ("4*3+2+10)", "illegal_formula"),
    ("4*3+2+10+", "illegal_formula"),
    ("()4*3+2+10", "illegal_formula"),
    ("4 3+2+10", "illegal_formula"),
    ("", "illegal_formula"),
    ("=24", "illegal_formula"),
    ("four times three", "illegal_formula"),
    ("__import__('os').system('rm -rf /')", "illegal_formula"),
])
def test_paper_outcomes(formula, outcome):
    v = verify_gp(answer(formula), HAND, rule="id")
    assert v.outcome == outcome
    assert v.reward == PAPER_REWARDS[outcome]
    assert (v.feedback == "") == (outcome == "correct")
    if outcome != "correct":
        assert v.feedback.startswith(FEEDBACK_PREFIX)


def test_division_by_zero_inside_a_legal_formula_is_a_wrong_value():
    v = verify_gp(answer("10/(4-2*2)+3", cards=["4", "2", "2", "K"]), ["4", "2", "2", "K"], rule="id")
    assert v.outcome == "wrong_numbers"  # 3 is not a card here: numbers checked before value
    hand = ["3", "2", "2", "K"]
    v = verify_gp(answer("10/(2-2)+3", cards=hand), hand, rule="id")
    assert (v.outcome, v.reward) == ("wrong_value", -1.0)
    assert "divides by zero" in v.feedback


def test_rule_changes_the_values():
    assert verify_gp(answer("4*3+2+10"), HAND, rule="ood").outcome == "wrong_numbers"
    assert verify_gp(answer("(13-3*2)*4"), HAND, rule="ood").outcome == "wrong_value"
    assert verify_gp(answer("4*3*2+13-13"), HAND, rule="ood").outcome == "wrong_numbers"
    ok = ["4", "2", "2", "K"]  # ood: 4, 2, 2, 13 -> 13*2-4/2 = 24
    assert verify_gp(answer("13*2-4/2", cards=ok), ok, rule="ood").outcome == "correct"


def test_missing_formula_and_non_json_answers_are_illegal():
    assert verify_gp('{"cards": ["4"]}', HAND, rule="id").outcome == "illegal_formula"
    assert verify_gp("4*3+2+10=24", HAND, rule="id").outcome == "illegal_formula"
    assert verify_gp(None, HAND, rule="id").outcome == "illegal_formula"


def test_vision_card_check_comes_first_and_is_a_multiset_check():
    right = answer("4*3+2+10", cards=["K", "2", "3", "4"])
    wrong = answer("4*3+2+10", cards=["Q", "3", "2", "4"])
    missing = '{"formula": "4*3+2+10"}'
    assert verify_gp(right, HAND, rule="id", modality="vision").outcome == "correct"
    for a in (wrong, missing):
        v = verify_gp(a, HAND, rule="id", modality="vision")
        assert (v.outcome, v.reward, v.cards_correct) == ("wrong_cards", -1.5, False)
        # The language variant does not grade recognition, but still reports it.
        v = verify_gp(a, HAND, rule="id", modality="language")
        assert v.outcome == "correct" and v.cards_correct is False
    assert verify_gp(answer("1", cards=["Q", "3"]), HAND, rule="id", modality="vision").outcome == "wrong_cards"


def test_verdict_unpacks_and_rejects_bad_modes():
    reward, outcome, feedback, cards_ok = verify_gp(answer("4*3+2+10"), HAND, rule="id")
    assert (reward, outcome, feedback, cards_ok) == (5.0, "correct", "", True)
    with pytest.raises(ValueError, match="'paper', 'official'"):
        verify_gp("x", HAND, rule="id", mode="strict")
    with pytest.raises(ValueError, match="'language', 'vision'"):
        verify_gp("x", HAND, rule="id", modality="audio")


# -------------------------------------------------------------------------------- official mode
# The authors' verifier (LeslieTrue/SFTvsRL @ 5a6ea55); tests/test_golden_gp.py checks it against
# 20,574 answers graded by their code. These cases name the rules one by one (hand 4 3 2 K, id).
@pytest.mark.parametrize("formula, outcome, reward, info", [
    ("4*3+2+10=24", "correct", 5.0, "Correct solution."),
    ("4*3+2+10=99", "correct", 5.0, "Correct solution."),          # everything after '=' is ignored
    ("4 * 3+2+10", "illegal_formula", -3.0, "illegal characters."),  # spaces are illegal characters
    ("4*3+2+10 = 24", "illegal_formula", -3.0, "illegal characters."),  # the space before '='
    ("4*3+2+x", "illegal_formula", -3.0, "illegal characters."),
    ("4*3+2+10.0", "illegal_formula", -3.0, "illegal characters."),
    ("4*3++2+10", "formula_errors", -3.0, "invalid sequence after operator."),
    ("+4*3++2+10", "formula_errors", -6.0, "invalid sequence after operator, invalid sequence after operator."),
    ("4*3+2+10+7", "wrong_numbers", -2.0, "you used invalid numbers: [7]."),
    ("4*3+2+10+7+9", "wrong_numbers", -2.0, "you used invalid numbers: [7, 9]."),  # not per number
    ("4*3*3+2+10", "wrong_numbers", -2.0, "you used numbers: [3] too many times."),
    ("4*3+2+13+7", "wrong_numbers", -4.0, "you used invalid numbers: [13, 7], you didn't use numbers: [10]."),
    ("4*3++2+10+7+9", "formula_errors", -5.0, "invalid sequence after operator, you used invalid numbers: [7, 9]."),
    ("4*3+2", "wrong_numbers", -2.0, "you didn't use numbers: [10]."),
    ("", "wrong_numbers", -2.0, "you didn't use numbers: [4, 3, 2, 10]."),
    ("(4*3)+(10+2", "partial_solution", 1.0, "partial solution."),  # fails to evaluate, a prefix
    ("4*3+2+10+", "wrong_value", -1.0,  # the last token is not sequence-checked; eval fails; no prefix
     "4*3+2+10 is partially correct but the full formula does not match any solution."),
    ("(4*3+2+10", "wrong_value", -1.0,
     "(4*3+2 is partially correct but the full formula does not match any solution."),
    ("4*3+2+10)", "formula_errors", -3.0, "unmatched closing parenthesis."),
    ("4*3*2*10", "wrong_value", -1.0, "4*3 is partially correct but the full formula does not match any solution."),
    ("4*03+2+10", "wrong_value", -1.0, "4* is partially correct but the full formula does not match any solution."),
    ("2(4*3+10)", "formula_errors", -6.0, "invalid sequence before '(', unmatched closing parenthesis."),
])
def test_official_outcomes(formula, outcome, reward, info):
    v = verify_gp(answer(formula), HAND, rule="id", mode="official")
    assert (v.outcome, v.reward, v.verify_info) == (outcome, reward, info)
    assert v.feedback == ("" if outcome == "correct" else f"{FEEDBACK_PREFIX} {info}")


def test_official_parser_is_the_authors_regex_or_json():
    good = '{"formula": "4*3+2+10"}'
    assert verify_gp(good, HAND, rule="id", mode="official").reward == 5.0
    for bad in ('{"formula":"4*3+2+10"}, x', "{'formula': '4*3+2+10'}", '"Formula": "4*3+2+10"',
                '"formula": 4*3+2+10,', '"formula": \u201c4*3+2+10\u201d', "4*3+2+10=24", ""):
        v = verify_gp(bad, HAND, rule="id", mode="official")
        assert (v.reward, v.verify_info) == (-3.0, "illegal characters."), bad
    # Valid JSON reads the JSON value (no space needed); the regex takes the first match.
    assert verify_gp('{"formula":"4*3+2+10"}', HAND, rule="id", mode="official").reward == 5.0
    assert verify_gp('"formula": "1+1",\n"formula": "4*3+2+10",', HAND, rule="id", mode="official").reward == -4.0
    # Their code raises TypeError on a non-string JSON formula; the package grades it as missing.
    for value in ("24", "null", '["4*3+2+10"]'):
        v = verify_gp('{"formula": %s}' % value, HAND, rule="id", mode="official")
        assert (v.reward, v.verify_info) == (-3.0, "illegal characters.")


def test_official_mode_compares_in_floats_against_the_authors_solution_strings():
    hand = ["8", "8", "3", "3"]
    v = verify_gp(answer("8/(3-8/3)", cards=hand, numbers=(8, 8, 3, 3)), hand, rule="id", mode="official")
    assert verify_gp(answer("8/(3-8/3)", cards=hand), hand, rule="id").outcome == "correct"  # paper: exact
    assert (v.reward, v.verify_info) == (0.0, ".")  # 23.999999999999993, one of their strings
    v = verify_gp(answer("(8/(3-8/3))", cards=hand), hand, rule="id", mode="official")
    assert (v.reward, v.verify_info) == (-1.0, "your formula does not match any solution.")
    v = verify_gp(answer("8/(3-8/3", cards=hand), hand, rule="id", mode="official")
    assert (v.reward, v.verify_info) == (1.0, "partial solution.")


def test_official_non_ascii_digits_count_as_numbers_then_fail_to_evaluate():
    hand = ["8", "8", "3", "3"]
    v = verify_gp(answer("8/(\uff13-8/3)", cards=hand), hand, rule="id", mode="official")
    assert v.reward == -1.0
    v = verify_gp(answer("8/(\u0663-8/3)", cards=hand), hand, rule="id", mode="official")
    assert v.reward == -1.0


@pytest.mark.parametrize("depth, reward", [(200, 5.0), (201, -1.0)])
def test_official_nesting_limit_is_cpythons(depth, reward):
    formula = "(" * depth + "4*3" + ")" * depth + "+2+10"
    assert verify_gp(answer(formula), HAND, rule="id", mode="official").reward == reward


def test_official_vision_card_check():
    ok = answer("4*3+2+10", cards=["K", "2", "3", "4"])
    assert verify_gp(ok, HAND, rule="id", modality="vision", mode="official").reward == 5.0
    for cards_field in ('["4", "3", "2", "K"]', "['4', '3', '2', 'k']", "['4', '3', '2', '10']", "[4, 3, 2, 10]",
                        "['4', '3', '2']", "['4', '3', '2', 'K', '5']"):
        text = '\n{\n  "cards": %s,\n  "formula": "4*3+2+10",\n}' % cards_field
        v = verify_gp(text, HAND, rule="id", modality="vision", mode="official")
        assert (v.reward, v.verify_info, v.cards_correct) == (-1.5, "you recognized wrong cards", False), cards_field
    # Valid JSON: the list is not a string, so the check always fails (their robust_str_to_list).
    v = verify_gp('{"cards": ["4", "3", "2", "K"], "formula": "4*3+2+10"}', HAND, rule="id", modality="vision",
                  mode="official")
    assert v.reward == -1.5
    # Unquoted cards with a face card pass (the int() of the regex path fails, the string is split).
    text = '\n{\n  "cards": [4, 3, 2, K],\n  "formula": "4*3+2+10",\n}'
    assert verify_gp(text, HAND, rule="id", modality="vision", mode="official").reward == 5.0


# ------------------------------------------------------------------------- parser and arithmetic
def test_parser_reads_the_authors_template_and_sloppy_variants():
    p = parse_gp_answer(gp_answer(["A", "3", "K", "6"], [1, 3, 10, 6], "(10-6)*(3+1+2)"))
    assert p.cards == ["A", "3", "K", "6"] and p.numbers == ["1", "3", "10", "6"]
    assert p.formula == "(10-6)*(3+1+2)"
    sloppy = "Sure! {'Cards': [ace, 3, king, 6], number : [1,3,10,6], 'formula': 4*6=24 }"
    p = parse_gp_answer(sloppy)
    assert p.cards == ["ace", "3", "king", "6"] and p.formula == "4*6=24"
    assert p.numbers == ["1", "3", "10", "6"]
    assert parse_gp_answer("nothing here") == parse_gp_answer("")
    assert parse_gp_answer("nothing here").formula is None
    assert extract_list_field('"cards": [1, 2', "cards") is None  # never closed
    assert extract_string_field('"formula": "' + "9" * 10_000, "formula") == "9" * 512


def test_cards_match_and_rule_reading():
    assert cards_match(["king", "2", "3", "FOUR"], HAND)
    assert not cards_match(["K", "2", "3"], HAND)
    assert not cards_match(["K", "2", "3", "5"], HAND)
    assert not cards_match(None, HAND)
    assert numbers_field_correct(answer("x", numbers=(4, 3, 2, 10)), HAND, rule="id")
    assert not numbers_field_correct(answer("x", numbers=(4, 3, 2, 10)), HAND, rule="ood")
    assert numbers_field_correct(answer("x", numbers=(4, 3, 2, 13)), HAND, rule="ood")
    assert not numbers_field_correct("{}", HAND, rule="id")


def test_arithmetic_is_exact_and_iterative():
    assert arith.evaluate_formula("8/(3-8/3)") == 24
    assert arith.evaluate_formula("1/3+1/3+1/3") == 1
    assert arith.evaluate_formula("2-3") == -1
    assert arith.evaluate_formula("10-2-3") == 5   # left-associative
    assert arith.evaluate_formula("12/2/3") == 2
    assert arith.evaluate_formula("2+3*4") == 14   # precedence
    assert arith.evaluate_formula("1/0") is None
    assert arith.evaluate_formula("(" * 120 + "1" + ")" * 120) == 1  # deep, no recursion
    assert arith.evaluate_formula("(" * 200 + "1" + ")" * 200) is None  # over the length cap
    tokens = arith.parse_formula("7/3")
    assert arith.evaluate(tokens) == Fraction(7, 3)
    assert arith.evaluate(tokens, exact=False) == 7 / 3
    assert arith.numbers_in(arith.parse_formula("12+03")) == [12, 3]
