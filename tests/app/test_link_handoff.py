"""Taking the sign-in link the browser stored for the app."""

from __future__ import annotations

from typing import Any

from app.link_handoff import PENDING_LINK_KEY, take_pending_link


class FakePrefs:
    """Stands in for ``ft.SharedPreferences`` (browser local storage)."""

    def __init__(self, values: dict[str, Any], fail: bool = False) -> None:
        self.values = values
        self.fail = fail

    async def get(self, key: str) -> Any:
        if self.fail:
            raise TimeoutError("no answer from the client")
        return self.values.get(key)

    async def remove(self, key: str) -> bool:
        return self.values.pop(key, None) is not None


async def test_the_link_is_returned_once_and_removed() -> None:
    prefs = FakePrefs({PENDING_LINK_KEY: " tok-123 ", "other": 1})
    assert await take_pending_link(prefs) == "tok-123"  # type: ignore[arg-type]
    assert prefs.values == {"other": 1}
    assert await take_pending_link(prefs) is None  # type: ignore[arg-type]


async def test_nothing_stored_or_a_blank_value_means_no_link() -> None:
    assert await take_pending_link(FakePrefs({})) is None  # type: ignore[arg-type]
    blank = FakePrefs({PENDING_LINK_KEY: "  "})
    assert await take_pending_link(blank) is None  # type: ignore[arg-type]
    assert blank.values == {}


async def test_a_client_that_cannot_answer_does_not_break_start_up() -> None:
    assert await take_pending_link(FakePrefs({}, fail=True)) is None  # type: ignore[arg-type]
