"""Texts files for the phone and the channels: YAML whose texts may name official contacts.

A text writes ``{police_110.number}`` or ``{antifraud_96110.voice}`` and gets it filled in from
knowledge/contacts.yml at load time; the other placeholders are left for the caller to fill. A
malformed file, an unknown placeholder or a missing one raises ``error`` with the file, the
field and the reason, as for the knowledge files.
"""
from __future__ import annotations

import string
from pathlib import Path
from typing import Any

from knowledge.loader import KNOWLEDGE_DIR, Contact, KnowledgeError, load_contacts, read_mapping

KEYS = "0123456789*#"  # the keys of a phone's keypad
_CONTACT_FIELDS = ("number", "voice", "name")


class TextsFile:
    """Reads fields by dotted name and fills the contact placeholders."""

    def __init__(self, path: Path, data: dict[str, Any], contacts: dict[str, Contact],
                 error: type[KnowledgeError]) -> None:
        self.path = path
        self.data = data
        self.contacts = contacts
        self.error = error

    def fail(self, name: str, reason: str) -> KnowledgeError:
        return self.error(self.path, name, reason)

    def raw(self, name: str) -> Any:
        value: Any = self.data
        for part in name.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        return value

    def word(self, name: str) -> str:
        value = self.raw(name)
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str) or not value.strip():
            raise self.fail(name, "must be a non-empty text")
        return value.strip()

    def text(self, name: str, *placeholders: str) -> str:
        """The text with contact fields filled in and exactly ``placeholders`` left for later."""
        template = self.word(name)
        out: list[str] = []
        left: set[str] = set()
        try:
            parsed = list(string.Formatter().parse(template))
        except ValueError as error:
            raise self.fail(name, f"unbalanced braces: {error}") from None
        for literal, field_name, spec, conversion in parsed:
            out.append(literal.replace("{", "{{").replace("}", "}}"))
            if field_name is None:
                continue
            if spec or conversion:
                raise self.fail(name, f"placeholder '{{{field_name}}}' must be a plain name")
            if field_name in placeholders:
                out.append("{" + field_name + "}")
                left.add(field_name)
            else:
                out.append(self._contact(name, field_name).replace("{", "{{").replace("}", "}}"))
        missing = set(placeholders) - left
        if missing:
            raise self.fail(name, f"must contain {', '.join('{' + m + '}' for m in sorted(missing))}")
        return "".join(out)

    def _contact(self, name: str, field_name: str) -> str:
        contact_id, _, attribute = field_name.partition(".")
        contact = self.contacts.get(contact_id)
        if contact is None or attribute not in _CONTACT_FIELDS:
            raise self.fail(
                name,
                f"unknown placeholder '{{{field_name}}}': use <contact id>.number, .voice or .name "
                f"with a contact id from knowledge/contacts.yml",
            )
        value = getattr(contact, attribute)
        if not value:
            raise self.fail(name, f"contact '{contact_id}' has no {attribute}")
        return value

    def key(self, name: str) -> str:
        value = self.word(name)
        if len(value) != 1 or value not in KEYS:
            raise self.fail(name, f"must be one phone key of {KEYS}")
        return value

    def words(self, name: str) -> frozenset[str]:
        value = self.raw(name)
        if not isinstance(value, list) or not value or not all(isinstance(w, str) and w.strip() for w in value):
            raise self.fail(name, "must be a list of non-empty texts")
        return frozenset(w.strip() for w in value)


def read_texts(path: Path, contacts_path: Path | None,
               error: type[KnowledgeError]) -> TextsFile:
    """A channel's texts file, ready to read field by field; ``error`` names what is malformed."""
    contacts = load_contacts(contacts_path or KNOWLEDGE_DIR / "contacts.yml")
    data = read_mapping(path, error)
    return TextsFile(path, data, contacts, error)
