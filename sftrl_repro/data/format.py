"""The Arrow layout shared by every demonstration dataset (TRL's conversational format).

Text datasets store ``messages`` as ``[{"role": str, "content": str}, ...]``. Vision datasets store
every ``content`` in the list-of-parts form, ``[{"type": "image" | "text", "text": str | None}]``,
because one Arrow column needs one schema (an image part reads back as
``{"type": "image", "text": None}``, which the chat templates render as ``<|image|>``), and hold the
first user turn's image in an ``images`` column (a list with one image, as TRL expects).
"""

from __future__ import annotations

from datasets import Dataset, Features, Image, List, Value


def listed_message(message: dict) -> dict:
    """A chat message with its content in the list-of-parts form."""
    content = message["content"]
    if isinstance(content, str):
        content = [{"type": "text", "text": content}]
    return {"role": message["role"], "content": [{"type": p["type"], "text": p.get("text")} for p in content]}


def demonstrations(rows: list[dict], *, vision: bool, columns: dict) -> Dataset:
    """A ``Dataset`` of ``rows`` (dicts with ``messages``, the ``columns`` and, for vision, ``images``).

    Args:
        rows: one dict per demonstration; vision rows hold PIL images in ``images``.
        vision: whether messages use the list-of-parts form and an ``images`` column exists.
        columns: the other columns' ``datasets`` feature types, by name.
    """
    if vision:
        part = {"type": Value("string"), "text": Value("string")}
        messages = List({"role": Value("string"), "content": List(part)})
        rows = [{**row, "messages": [listed_message(m) for m in row["messages"]]} for row in rows]
    else:
        messages = List({"role": Value("string"), "content": Value("string")})
    features = {"messages": messages, **columns}
    if vision:
        features["images"] = List(Image())
    return Dataset.from_dict({name: [row[name] for row in rows] for name in features}, features=Features(features))
