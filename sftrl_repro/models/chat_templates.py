"""Chat templates of the package, with ``{% generation %}`` markers for assistant-only loss.

TRL's ``SFTTrainer(assistant_only_loss=True)`` takes the loss mask from the spans a template marks
with ``{% generation %}...{% endgeneration %}``. Neither SmolLM2's nor Llama-3.2-Vision's shipped
template has the markers, so the package renders every conversation with one of the two templates
below. Both mark the assistant's content *and* its end-of-turn token, so SFT teaches the model
to stop.

* :data:`LLAMA3_TEMPLATE` (``tiny`` and ``paper``): the Llama 3 header format
  ``<|start_header_id|>role<|end_header_id|>\\n\\n content <|eot_id|>``, an image part rendered as
  ``<|image|>``. It is Llama-3.2-Vision's own template for conversations without a system turn,
  minus the dated system block that the shipped template adds to text-only prompts (it holds
  "Today Date: <today>", which would make prompts depend on the day they are rendered).
* :data:`CHATML_TEMPLATE` (``small``): SmolLM2-Instruct's template, character for character,
  including its default system turn.

Message contents may be a ``str`` or a list of parts (``{"type": "image"}`` /
``{"type": "text", "text": ...}``), the two forms of ``sftrl_repro.prompts.chat``.
"""

from __future__ import annotations

# Renders a message content in either form; shared by both templates.
_RENDER_CONTENT = (
    "{%- macro render_content(content) -%}"
    "{%- if content is string -%}{{- content -}}"
    "{%- else -%}{%- for part in content -%}"
    "{%- if part['type'] == 'image' -%}{{- '<|image|>' -}}"
    "{%- elif part['type'] == 'text' -%}{{- part['text'] -}}{%- endif -%}"
    "{%- endfor -%}{%- endif -%}"
    "{%- endmacro -%}"
)

#: Llama 3 header format (tiny and paper scales); see the module docstring.
LLAMA3_TEMPLATE = (
    _RENDER_CONTENT
    + "{{- bos_token -}}"
    "{%- for message in messages -%}"
    "{{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' -}}"
    "{%- if message['role'] == 'assistant' -%}"
    "{%- generation -%}{{- render_content(message['content']) + '<|eot_id|>' -}}{%- endgeneration -%}"
    "{%- else -%}{{- render_content(message['content']) + '<|eot_id|>' -}}{%- endif -%}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' -}}{%- endif -%}"
)

#: SmolLM2-Instruct's ChatML template with its default system turn (small scale).
CHATML_TEMPLATE = (
    _RENDER_CONTENT
    + "{%- for message in messages -%}"
    "{%- if loop.first and messages[0]['role'] != 'system' -%}"
    "{{- '<|im_start|>system\\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\\n' -}}"
    "{%- endif -%}"
    "{{- '<|im_start|>' + message['role'] + '\\n' -}}"
    "{%- if message['role'] == 'assistant' -%}"
    "{%- generation -%}{{- render_content(message['content']) + '<|im_end|>' -}}{%- endgeneration -%}"
    "{{- '\\n' -}}"
    "{%- else -%}{{- render_content(message['content']) + '<|im_end|>\\n' -}}{%- endif -%}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{- '<|im_start|>assistant\\n' -}}{%- endif -%}"
)
