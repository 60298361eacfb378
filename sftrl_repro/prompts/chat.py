"""Chat messages in the Hugging Face format, shared by every task.

A conversation is a ``list[dict]`` of ``{"role": "user" | "assistant", "content": ...}``. Text turns
carry a ``str``; the first user turn of a vision task carries the Hugging Face multimodal form
``[{"type": "image"}, {"type": "text", "text": ...}]`` (the image itself travels beside the
conversation, in the observation), which is what Mllama's chat template expects. The authors send
the image in the first user turn only; so does the package.
"""

from __future__ import annotations

Message = dict


def user_message(text: str, *, image: bool = False) -> Message:
    """A user turn; ``image=True`` puts an image placeholder before the text."""
    if image:
        return {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": text}]}
    return {"role": "user", "content": text}


def assistant_message(text: str) -> Message:
    """An assistant turn (a model answer)."""
    return {"role": "assistant", "content": text}


def revision_conversation(prompt: str, attempts, *, image: bool) -> list[Message]:
    """Sequential revision's chat: the prompt, then each wrong answer followed by its feedback turn.

    Args:
        prompt: the first user turn.
        attempts: ``(answer, feedback_text)`` for every graded wrong attempt so far, oldest first.
        image: whether the first user turn carries the image (vision tasks; first turn only).

    Returns:
        ``[user(prompt), assistant(a1), user(f1), ..., assistant(ak), user(fk)]``: it always ends
        with the user turn the model must answer next.
    """
    messages = [user_message(prompt, image=image)]
    for answer, feedback in attempts:
        messages.append(assistant_message(answer))
        messages.append(user_message(feedback))
    return messages


def message_text(message: Message) -> str:
    """The text of a message, whichever form its content takes."""
    content = message["content"]
    if isinstance(content, str):
        return content
    return "".join(part.get("text", "") for part in content if part.get("type") == "text")


def has_image(message: Message) -> bool:
    """Whether a message carries an image placeholder."""
    content = message["content"]
    return not isinstance(content, str) and any(part.get("type") == "image" for part in content)
