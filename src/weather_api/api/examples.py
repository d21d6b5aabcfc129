"""Named response examples: real answers over the full dataset, each named by its request
(``summary`` is the exact path and query), so that a test can replay them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from weather_api.api.listing import list_responses

EXAMPLES: dict[str, dict[str, Any]] = json.loads(
    Path(__file__).with_name("examples.json").read_text(encoding="utf-8")
)


def list_responses_with_examples(
    csv_example: str, operation: str
) -> dict[int | str, dict[str, Any]]:
    """The list responses, with the named JSON examples of ``operation``."""
    shared = list_responses(csv_example)
    examples = {
        name: {"summary": example["summary"], "value": example["value"]}
        for name, example in EXAMPLES.items()
        if example["operation"] == operation
    }
    content = shared[200]["content"] | {"application/json": {"examples": examples}}
    return shared | {200: shared[200] | {"content": content}}
