"""Normalising names for search: ASCII words in lower case, accents removed.

Pure (no database, no web): the migration that fills the search index and the
application that keeps it and queries it use the same rule.
"""

from __future__ import annotations

import re
import unicodedata

MAX_WORD = 60
_NOT_ALNUM = re.compile(r"[^a-z0-9]+")


def fold(text: str) -> str:
    """``text`` in lower case ASCII: "Éloïse  D'Arc" -> "eloise d arc"."""
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    return _NOT_ALNUM.sub(" ", stripped.lower().replace("\u00df", "ss")).strip()


def name_words(name: str) -> list[str]:
    """The distinct words of a name as the index stores them (at most 60 characters each)."""
    seen: dict[str, None] = {}
    for word in fold(name).split():
        seen.setdefault(word[:MAX_WORD], None)
    return list(seen)


def prefix_upper_bound(prefix: str) -> str | None:
    """The smallest word greater than every word starting with ``prefix``, or None.

    Words hold only ``[0-9a-z]`` (digits sort before letters in byte order and
    in every usual collation), so ``word >= prefix AND word < bound`` is a
    B-tree range on SQLite and PostgreSQL alike. None: no upper bound ("zz").
    """
    chars = list(prefix)
    while chars:
        last = chars.pop()
        if last == "9":
            return "".join(chars) + "a"
        if last != "z":
            return "".join(chars) + chr(ord(last) + 1)
    return None
