"""Languages: English and Vietnamese with Flask-Babel, chosen per user.

The catalogs are kept as ``.po`` files only and compiled in memory the first time a language
is used, so a fresh clone, an editable install and a wheel all work with no build step.
"""

from __future__ import annotations

import io
import threading
from pathlib import Path
from typing import Any

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations
from flask import Flask, g, request, session
from flask_babel import Babel, Domain  # type: ignore[import-untyped]
from flask_babel import gettext as _gettext
from flask_babel import lazy_gettext as _lazy_gettext

LANGUAGES = {"en": "English", "vi": "Tiếng Việt"}
TRANSLATIONS = Path(__file__).resolve().parent / "translations"


def _(text: str, **variables: Any) -> str:
    """Translate ``text`` for the current request (``%(name)s`` placeholders filled)."""
    return str(_gettext(text, **variables))


def N_(text: str) -> str:  # noqa: N802 (the name gettext tools look for)
    """Mark ``text`` for translation without translating it yet."""
    return text


def lazy(text: str, **variables: Any) -> Any:
    """Translate ``text`` when it is shown (for module-level labels)."""
    return _lazy_gettext(text, **variables)


def load_catalog(language: str) -> Translations | NullTranslations:
    """The compiled catalog of ``language`` from its ``.po`` file (none for English)."""
    po = TRANSLATIONS / language / "LC_MESSAGES" / "messages.po"
    if not po.is_file():
        return NullTranslations()
    with po.open("rb") as source:
        catalog = read_po(source, locale=language)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return Translations(buffer)


class PoDomain(Domain):  # type: ignore[misc]
    """A Flask-Babel domain that reads ``.po`` catalogs, compiled once per language."""

    def __init__(self) -> None:
        super().__init__()
        self._loaded: dict[str, Translations | NullTranslations] = {}
        self._lock = threading.Lock()

    def get_translations(self) -> Translations | NullTranslations:
        """The catalog for the current request's language."""
        from flask_babel import get_locale

        locale = get_locale()
        language = locale.language if locale is not None else "en"
        with self._lock:
            if language not in self._loaded:
                self._loaded[language] = load_catalog(language)
            return self._loaded[language]


def current_language() -> str:
    """The signed-in user's language, else the one picked on the login page, else the
    browser's preference."""
    user = getattr(g, "user", None)
    if user is not None:
        return str(user.language)
    chosen = session.get("lang")
    if chosen in LANGUAGES:
        return str(chosen)
    return request.accept_languages.best_match(list(LANGUAGES), default="en") or "en"


def init_app(app: Flask) -> None:
    """Install Babel on ``app`` with the ``.po`` domain and the per-user language."""
    babel = Babel()
    babel.domain_instance = PoDomain()
    babel.init_app(app, locale_selector=current_language, default_timezone="UTC")
    app.jinja_env.globals["LANGUAGES"] = LANGUAGES
    app.jinja_env.globals["current_language"] = current_language
