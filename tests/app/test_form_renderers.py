"""Each field renderer on a headless Flet page: it renders from the definition
alone, and what the client does becomes the answer the server validates.

The page's connection encodes every message as the web transport would, so
the signature pad's traffic is measured too: each stroke sends its own
points, never the earlier strokes again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import datetime
from types import SimpleNamespace
from typing import Any

import flet as ft
import msgpack
import pytest
from flet.controls.base_control import BaseControl
from flet.messaging.connection import Connection
from flet.messaging.protocol import configure_encode_object_for_msgpack
from flet.messaging.session import Session
from flet.pubsub.pubsub_hub import PubSubHub

from app.forms import renderers as r
from app.forms.fields import parse_fields
from app.i18n import Translator
from backend.forms import validate_answer

ENCODE = configure_encode_object_for_msgpack(BaseControl)


class Recording(Connection):
    """Encodes messages like the web transport and keeps their sizes."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[int] = []

    def send_message(self, message: Any) -> None:
        self.sent.append(len(msgpack.packb([message.action, message.body], default=ENCODE)))


@pytest.fixture
def page() -> Iterator[tuple[ft.Page, Recording]]:
    loop = asyncio.new_event_loop()
    conn = Recording()
    conn.loop = loop
    conn.pubsubhub = PubSubHub(loop=loop)
    session = Session(conn)
    msgpack.packb(session.get_page_patch(), default=ENCODE)
    yield session.page, conn
    loop.close()


class Answers:
    """What renderers reported, by field key."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}

    async def __call__(self, key: str, value: Any) -> None:
        self.values[key] = value


def event(control: Any, **extra: Any) -> Any:
    return SimpleNamespace(control=control, **extra)


def render(page: ft.Page, spec: dict[str, Any], value: Any = None, **context: Any) -> Any:
    answers = Answers()
    [field] = parse_fields({"fields": [spec]})
    renderer = r.render_field(
        field,
        value,
        answers,
        r.FieldContext(tr=Translator(context.pop("language", "fr")), **context),
    )
    page.add(renderer.control)
    return renderer, answers


def check(spec: dict[str, Any], value: Any) -> list[str]:
    return [e.code for e in validate_answer(spec, value)]


async def test_text_and_textarea(page: Any) -> None:
    spec = {"key": "t", "type": "textarea", "label": "Notes", "required": True}
    renderer, answers = render(page[0], spec, "déjà")
    assert renderer.field.value == "déjà" and renderer.field.label == "Notes *"
    assert renderer.field.multiline and renderer.field.max_length == 5000  # the counter
    renderer.field.value = "Sonner deux fois"
    await renderer._typed(event(renderer.field))
    assert answers.values == {"t": "Sonner deux fois"}
    assert check(spec, answers.values["t"]) == []


async def test_number_typed_the_french_way(page: Any) -> None:
    spec = {"key": "n", "type": "number", "label": "Étage", "min": -2, "max": 40}
    renderer, answers = render(page[0], spec, 3.5)
    assert renderer.field.value == "3,5" and renderer.field.helper == "Entre -2 et 40"
    renderer.field.value = "12"
    await renderer._typed(event(renderer.field))
    assert answers.values["n"] == 12 and check(spec, 12) == []
    renderer.field.value = "douze"
    await renderer._typed(event(renderer.field))
    assert check(spec, answers.values["n"]) == ["not_number"]


async def test_date_typed_or_picked(page: Any) -> None:
    spec = {"key": "d", "type": "date", "label": "Depuis quand ?"}
    renderer, answers = render(page[0], spec, "2026-12-04")
    assert renderer.field.value == "04/12/2026" and renderer.field.hint_text == "jj/mm/aaaa"
    renderer.field.value = "25/12/2026"
    await renderer._typed(event(renderer.field))
    assert answers.values["d"] == "2026-12-25"
    picker = SimpleNamespace(value=datetime(2027, 1, 15))
    await renderer._picked(event(picker))
    assert answers.values["d"] == "2027-01-15" and renderer.field.value == "15/01/2027"
    assert check(spec, answers.values["d"]) == []


async def test_time_typed_in_english_or_picked(page: Any) -> None:
    spec = {"key": "h", "type": "time", "label": "Arrival"}
    renderer, answers = render(page[0], spec, "14:30", language="en")
    assert renderer.field.value.replace("\u202f", " ") == "2:30 PM"
    renderer.field.value = "8:15 am"
    await renderer._typed(event(renderer.field))
    assert answers.values["h"] == "08:15"
    await renderer._picked(event(SimpleNamespace(value=datetime(2026, 1, 1, 17, 5).time())))
    assert answers.values["h"] == "17:05" and check(spec, "17:05") == []


async def test_yes_no(page: Any) -> None:
    spec = {"key": "y", "type": "yes_no", "label": "Animaux ?"}
    renderer, answers = render(page[0], spec, False)
    assert renderer.group.value == "no"
    assert [c.label for c in renderer.group.content.controls] == ["Oui", "Non"]
    await renderer._picked(event(SimpleNamespace(value="yes")))
    assert answers.values["y"] is True and check(spec, True) == []


async def test_single_and_multiple_choice(page: Any) -> None:
    spec = {"key": "c", "type": "choice", "label": "Qui ?", "choices": ["Moi", "Voisin"]}
    renderer, answers = render(page[0], spec, "Voisin")
    assert renderer.group.value == "Voisin"
    await renderer._picked(event(SimpleNamespace(value="Moi")))
    assert answers.values["c"] == "Moi" and check(spec, "Moi") == []
    multi = {**spec, "key": "m", "multiple": True, "choices": ["A", "B", "C"]}
    renderer, answers = render(page[0], multi, ["C"])
    assert [b.value for b in renderer.boxes] == [False, False, True]
    renderer.boxes[0].value = True
    await renderer._ticked(event(renderer.boxes[0]))
    assert answers.values["m"] == ["A", "C"] and check(multi, ["A", "C"]) == []


async def test_rating_stars(page: Any) -> None:
    spec = {"key": "r", "type": "rating", "label": "Note"}
    renderer, answers = render(page[0], spec, 2)
    assert [s.icon for s in renderer.stars].count(ft.Icons.STAR) == 2
    assert [n.label for n in renderer.named][3] == "4 sur 5"
    await renderer._tapped(event(renderer.stars[3]))
    assert answers.values["r"] == 4 and [n.selected for n in renderer.named] == [True] * 4 + [False]
    await renderer._tapped(event(renderer.stars[3]))  # the same star again: taken back
    assert answers.values["r"] is None


async def test_photo_picked_shown_and_removed(page: Any) -> None:
    photo = {"media_type": "image/jpeg", "data": "/9j/AAAA"}
    picked: list[Any] = [photo, "Ce fichier n’est pas une photo lisible."]

    async def pick() -> Any:
        return picked.pop(0)

    spec = {"key": "p", "type": "photo", "label": "Photo", "required": True}
    renderer, answers = render(page[0], spec, None, pick_photo=pick)
    assert not renderer.thumb.visible
    await renderer._pick(event(renderer.pick))
    assert answers.values["p"] == photo and renderer.thumb.visible
    assert renderer.thumb.src.startswith("data:image/jpeg;base64,")
    await renderer._pick(event(renderer.pick))  # an unusable file: said beside the field
    assert renderer.error.visible and answers.values["p"] == photo
    await renderer._remove(event(renderer.remove))
    assert answers.values["p"] is None and not renderer.thumb.visible


async def test_display_text_fills_codes_and_takes_no_answer(page: Any) -> None:
    spec = {"key": "i", "type": "display_text", "label": "Bonjour {client.name} !"}
    renderer, _answers = render(page[0], spec, values={"client.name": "Claire"})
    assert not renderer.label.visible
    assert renderer.control.controls[1].content.value == "Bonjour Claire !"


def drag(x: float, y: float) -> Any:
    return SimpleNamespace(local_position=ft.Offset(x, y))


async def test_signature_strokes_each_send_only_their_own_points(page: Any) -> None:
    pg, conn = page
    spec = {"key": "s", "type": "signature", "label": "Signature", "required": True}
    renderer, answers = render(pg, spec, signed_line="Signé par Claire le 4 déc.")
    pad = renderer.pad
    assert pad.signed_line.value == "Signé par Claire le 4 déc."
    assert pad.undo_button.disabled and pad.clear_button.disabled
    per_stroke = []
    for stroke in range(12):
        before = sum(conn.sent)
        await pad._start(drag(10 + stroke * 20, 20))
        for step in range(1, 20):
            await pad._move(drag(10 + stroke * 20 + step, 20 + step * 4))
        await pad._end(drag(0, 0))
        per_stroke.append(sum(conn.sent) - before)
    assert len(pad.canvas.shapes) == 12
    assert not pad.undo_button.disabled
    # No stroke resends the earlier ones: the last costs what the second did.
    assert per_stroke[-1] <= per_stroke[1] * 1.1, per_stroke
    assert max(per_stroke[1:]) <= 1000, per_stroke
    answer = answers.values["s"]
    assert len(answer["strokes"]) == 12 and check(spec, answer) == []
    await pad._undo(event(pad.undo_button))
    assert len(answers.values["s"]["strokes"]) == 11 and len(pad.canvas.shapes) == 11
    await pad._redo(event(pad.redo_button))
    assert len(answers.values["s"]["strokes"]) == 12
    await pad._clear(event(pad.clear_button))
    assert answers.values["s"] is None and pad.canvas.shapes == []


async def test_a_tap_on_the_pad_is_a_dot(page: Any) -> None:
    renderer, answers = render(page[0], {"key": "s", "type": "signature", "label": "S"})
    await renderer.pad._start(drag(50, 50))
    await renderer.pad._end(drag(50, 50))
    assert answers.values["s"]["strokes"] == [[[50, 50]]]
    assert type(renderer.pad.canvas.shapes[0]).__name__ == "Circle"


def test_every_type_has_a_renderer() -> None:
    from backend.forms import ANSWERABLE_TYPES

    assert set(r.RENDERERS) == set(ANSWERABLE_TYPES) | {"display_text"}
