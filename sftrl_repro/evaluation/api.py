"""Evaluate a model behind an OpenAI-compatible chat endpoint (vLLM, SGLang, llama.cpp, a hosted API).

:class:`ChatAPIPolicy` has the ``generate`` method the rollout needs, so
``evaluate(ChatAPIPolicy(base_url, model), "gp", "rule_ood")`` evaluates it with exactly the
protocol used for the package's own checkpoints (like the authors' API evaluator). Only the Python
standard library is used. Images are sent inline as base64 PNG data URLs in the first user turn.
"""

from __future__ import annotations

import base64
import io
import json
import urllib.error
import urllib.request
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass
class APIGeneration:
    """Answers from the endpoint (texts only: no token ids or log-probs)."""

    texts: list[str]


class ChatAPIError(RuntimeError):
    """The endpoint could not be reached or answered with an error."""


def _image_url(image: np.ndarray) -> str:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.asarray(image, dtype=np.uint8)).save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def to_openai_messages(conversation: list[dict], image: np.ndarray | None) -> list[dict]:
    """The package's chat format -> OpenAI's (the image placeholder becomes an ``image_url`` part)."""
    out = []
    for message in conversation:
        content = message["content"]
        if isinstance(content, str):
            out.append({"role": message["role"], "content": content})
            continue
        parts = []
        for part in content:
            if part.get("type") == "image":
                if image is None:
                    raise ValueError("a conversation has an image placeholder but no image was given")
                parts.append({"type": "image_url", "image_url": {"url": _image_url(image)}})
            else:
                parts.append({"type": "text", "text": part.get("text", "")})
        out.append({"role": message["role"], "content": parts})
    return out


class ChatAPIPolicy:
    """A chat-completions endpoint as a policy.

    Args:
        base_url: the API root, e.g. ``http://localhost:8000/v1``.
        model: the model name the endpoint serves.
        api_key: sent as a bearer token when given.
        timeout: seconds per request.
        max_workers: concurrent requests per batch.
    """

    def __init__(self, base_url: str, model: str, *, api_key: str | None = None, timeout: float = 120.0,
                 max_workers: int = 8) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ValueError(f"base_url={base_url!r} is not valid; give an http(s) URL such as http://localhost:8000/v1")
        self.base_url = base_url.rstrip("/")
        self.model, self.api_key, self.timeout, self.max_workers = model, api_key, timeout, max_workers

    def _complete(self, messages: list[dict], max_new_tokens: int, temperature: float | None, seed: int | None) -> str:
        body = {"model": self.model, "messages": messages, "max_tokens": max_new_tokens}
        if temperature is not None:  # None: the endpoint's default decoding
            body["temperature"] = temperature
        if seed is not None:
            body["seed"] = seed
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        request = urllib.request.Request(f"{self.base_url}/chat/completions", data=json.dumps(body).encode(),
                                         headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310 (user's URL)
                payload = json.loads(response.read().decode())
        except (urllib.error.URLError, TimeoutError, json.JSONDecodeError) as err:
            raise ChatAPIError(f"the endpoint {self.base_url} failed: {err}") from err
        try:
            return payload["choices"][0]["message"]["content"] or ""
        except (KeyError, IndexError, TypeError) as err:
            raise ChatAPIError(f"the endpoint {self.base_url} answered without choices[0].message.content") from err

    def generate(self, conversations: Sequence[list[dict]], images: Sequence[Any] | None = None, *,
                 max_new_tokens: int = 256, temperature: float | None = 0.0, seed: int | None = None,
                 **_: Any) -> APIGeneration:
        """Answer each conversation (requests run concurrently); texts only.

        ``temperature=None`` leaves decoding to the endpoint (its model's generation config);
        per-episode ``sample_keys`` cannot be honoured by an API and are ignored.
        """
        images = list(images) if images is not None else [None] * len(conversations)
        jobs = [to_openai_messages(c, im) for c, im in zip(conversations, images)]
        with ThreadPoolExecutor(max_workers=self.max_workers) as pool:
            texts = list(pool.map(lambda m: self._complete(m, max_new_tokens, temperature, seed), jobs))
        return APIGeneration(texts)
