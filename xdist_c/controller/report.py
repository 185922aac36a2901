"""Text of the "Different tests were collected" error."""

from __future__ import annotations

import difflib
from collections.abc import Sequence


def report_collection_diff(
    from_collection: Sequence[str],
    to_collection: Sequence[str],
    from_id: str,
    to_id: str,
) -> str | None:
    """The message describing how two collections differ, or None if equal.

    The layout (blank line after each diff header, trailing blanks
    stripped) matches pytest-xdist's, which users and tests grep for.
    """
    if list(from_collection) == list(to_collection):
        return None
    diff_lines = difflib.unified_diff(list(from_collection), list(to_collection), fromfile=from_id, tofile=to_id)
    text = (
        f"Different tests were collected between {from_id} and {to_id}. "
        "The difference is:\n"
        + "\n".join(diff_lines)
        + "\nTo see why this happens see 'Known limitations' in documentation "
        "for pytest-xdist"
    )
    return "\n".join(line.rstrip() for line in text.split("\n"))
