"""Finding clients of a business unit by name, email, phone or id, fast at 100,000 clients.

Every branch of the search is a range scan on a B-tree index: name words on
``client_search_words (business_unit_id, word, client_id)``, contacts on
``client_contacts (kind, value)`` (values are normalised when stored), ids on
the primary key. Results come in id order with a keyset cursor, so page N
costs what page 1 costs.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import Select, intersect, select, union
from sqlalchemy.orm import Session

from backend.models import Client, ClientContact
from backend.search_text import fold, prefix_upper_bound
from backend.staff_models import ClientSearchWord

MAX_TOKENS = 5
_HIGH = "\U0010ffff"  # above any character a contact holds: the end of a prefix range


def _word_ids(bu_id: int, token: str) -> Select[Any]:
    query = select(ClientSearchWord.client_id).where(
        ClientSearchWord.business_unit_id == bu_id, ClientSearchWord.word >= token
    )
    bound = prefix_upper_bound(token)
    if bound is not None:
        query = query.where(ClientSearchWord.word < bound)
    return query


def _contact_ids(kind: str, prefix: str) -> Select[Any]:
    return select(ClientContact.client_id).where(
        ClientContact.kind == kind,
        ClientContact.value >= prefix,
        ClientContact.value < prefix + _HIGH,
    )


def phone_prefix(text: str, country_code: str = "33") -> str | None:
    """The stored form's start of a phone number typed in any usual way, or None."""
    digits = re.sub(r"\D", "", text)
    if len(digits) < 3 or re.search(r"[^\d\s+().-]", text):
        return None
    if text.strip().startswith("+"):
        return "+" + digits
    if digits.startswith("00"):
        return "+" + digits[2:]
    if digits.startswith("0"):
        return f"+{country_code}{digits[1:]}"
    return "+" + digits


def matching_ids(bu_id: int, q: str) -> Select[Any] | None:
    """A SELECT of the ids of clients whose name, email, phone or id match ``q``
    (not yet limited to the business unit for contacts), or None for no criterion."""
    parts: list[Select[Any]] = []
    tokens = fold(q).split()[:MAX_TOKENS]
    if tokens:
        words = [_word_ids(bu_id, t) for t in tokens]
        parts.append(words[0] if len(words) == 1 else select(intersect(*words).subquery().c[0]))
    text = q.strip().lower()
    if text and " " not in text:
        parts.append(_contact_ids("email", text))
    phone = phone_prefix(q)
    if phone is not None:
        parts.append(_contact_ids("phone", phone))
    if text.isdigit() and len(text) <= 9:
        parts.append(select(Client.id).where(Client.id == int(text)))
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else select(union(*parts).subquery().c[0])


def search(
    db: Session, bu_id: int, q: str, limit: int, after: int
) -> tuple[list[dict[str, Any]], int | None]:
    """One page of matching clients in id order after ``after``; returns (items, next)."""
    query = select(Client).where(Client.business_unit_id == bu_id, Client.id > after)
    if q.strip():
        ids = matching_ids(bu_id, q)
        if ids is None:
            return [], None
        query = query.where(Client.id.in_(ids))
    rows = list(db.scalars(query.order_by(Client.id).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    contacts: dict[int, dict[str, list[str]]] = {c.id: {"email": [], "phone": []} for c in rows}
    if rows:
        for client_id, kind, value in db.execute(
            select(ClientContact.client_id, ClientContact.kind, ClientContact.value)
            .where(ClientContact.client_id.in_(list(contacts)))
            .order_by(ClientContact.id)
        ):
            contacts[client_id].setdefault(kind, []).append(value)
    items = [
        {
            "id": c.id,
            "name": c.name,
            "reference": None,
            "portal_access": c.portal_access,
            "emails": contacts[c.id]["email"],
            "phones": contacts[c.id]["phone"],
        }
        for c in rows
    ]
    return items, (rows[-1].id if more else None)
