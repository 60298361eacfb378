"""The tiny scale's tokenizer: a byte-level BPE trained in-process on the package's own text.

Nothing is downloaded: the training text is made by the package's prompt templates (GeneralPoints
prompts under both face-card rules and both modalities, answers with solver formulas, verifier
feedback turns; V-IRL prompts and answers when ``sftrl_repro.prompts.virl`` is importable).

Design choices, and why:

* byte-level: any string a model or a user writes is encodable (no unknown token);
* digits split one by one before BPE: ``"24"`` is ``"2" "4"``, so arithmetic sees every digit and
  numbers never merge into opaque tokens;
* Llama 3's special tokens (``<|begin_of_text|>``, ``<|start_header_id|>``, ``<|eot_id|>``,
  ``<|image|>`` ...), so the tiny models read the same chat format as the paper's model;
* deterministic: the corpus is fixed (seeded), the trainer single-pass; the same call gives the
  same vocabulary and merges on every machine (tested).
"""

from __future__ import annotations

import random
from functools import lru_cache

from transformers import PreTrainedTokenizerFast

from sftrl_repro.models.chat_templates import LLAMA3_TEMPLATE

#: Special tokens, in id order (``<|pad|>`` = 0). ``<|python_tag|>`` is looked up by Mllama's processor.
SPECIAL_TOKENS: tuple[str, ...] = (
    "<|pad|>",
    "<|begin_of_text|>",
    "<|end_of_text|>",
    "<|start_header_id|>",
    "<|end_header_id|>",
    "<|eot_id|>",
    "<|image|>",
    "<|python_tag|>",
)
BOS, EOS, PAD, IMAGE = "<|begin_of_text|>", "<|eot_id|>", "<|pad|>", "<|image|>"


def tokenizer_corpus(n_hands: int = 400, seed: int = 0) -> list[str]:
    """The tokenizer's training text: one string per prompt, answer or feedback turn.

    Args:
        n_hands: hands to write prompts and answers for (each under both rules and modalities).
        seed: seed of the hand sampler.
    """
    from sftrl_repro.games.cards import RANKS, card_values
    from sftrl_repro.games.solver import solve
    from sftrl_repro.prompts.gp import gp_answer, gp_prompt
    from sftrl_repro.rewards.gp import verify_gp

    rng = random.Random(seed)
    texts: list[str] = []
    for i in range(n_hands):
        cards = [rng.choice(RANKS) for _ in range(4)]
        target = 24 if i % 4 else rng.choice((10, 12, 18, 24, 30, 36))
        for rule in ("id", "ood"):
            for modality in ("language", "vision"):
                texts.append(gp_prompt(cards, rule=rule, modality=modality, target=target))
            numbers = card_values(cards, rule)
            formulas = solve(numbers, target)
            if formulas:
                answer = gp_answer(cards, numbers, f"{rng.choice(formulas)}={target}")
            else:  # an unsolvable hand still teaches the answer format
                answer = gp_answer(cards, numbers, "+".join(map(str, numbers)) + f"={target}")
            texts.append(answer)
            # Feedback turns of every kind the verifier writes (wrong value, numbers, cards, illegal).
            for wrong in (answer.replace("=", "+1="), answer.replace('"formula": "', '"formula": "(')):
                texts.append(verify_gp(wrong, cards, rule=rule, target=target, modality="vision").feedback)
    texts.extend(_virl_texts(seed))
    return [t for t in texts if t]


def _virl_texts(seed: int) -> list[str]:
    """V-IRL prompts and answers for the tokenizer corpus, when the V-IRL prompts exist."""
    try:
        from sftrl_repro.data.virl import virl_tokenizer_texts
    except ImportError:  # V-IRL not installed in this checkout: GeneralPoints text only
        return []
    return virl_tokenizer_texts(seed=seed)


@lru_cache(maxsize=4)
def _trained_tokenizer_json(vocab_size: int, n_hands: int, seed: int) -> str:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False),
    ])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(tokenizer_corpus(n_hands, seed), trainer)
    return tok.to_str()


def train_tiny_tokenizer(vocab_size: int = 1024, *, n_hands: int = 400, seed: int = 0) -> PreTrainedTokenizerFast:
    """A fresh tiny tokenizer (trained once per process and argument set, then copied).

    Args:
        vocab_size: the BPE's vocabulary budget; the package's text is repetitive, so the trained
            vocabulary may stop short of it (``len(tokenizer)`` is the real size).
        n_hands: hands in the training corpus (see :func:`tokenizer_corpus`).
        seed: seed of the corpus.

    Returns:
        A fast tokenizer with BOS ``<|begin_of_text|>``, EOS ``<|eot_id|>`` (end of turn), PAD
        ``<|pad|>``, the Llama 3 chat template (:data:`~sftrl_repro.models.chat_templates.LLAMA3_TEMPLATE`)
        and an ``image_token`` attribute for Mllama's processor.
    """
    from tokenizers import Tokenizer

    backend = Tokenizer.from_str(_trained_tokenizer_json(vocab_size, n_hands, seed))
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        bos_token=BOS,
        eos_token=EOS,
        pad_token=PAD,
        chat_template=LLAMA3_TEMPLATE,
        model_max_length=4096,
    )
