"""Mail texts: one Jinja template per kind of mail in ``templates/mail/``, in any language.

A template's first line is the subject, the rest (after a blank line) the body. Templates
read their words from the catalogue (``t("mail.…")``) and their times through
``when(moment)`` (Japan time, `geoapp.japantime`); the domain passes values, not strings.
Mails are plain text, so nothing is HTML-escaped.
"""

from __future__ import annotations

from pathlib import Path

import jinja2

from geoapp.i18n import Lang, in_lang, t
from geoapp.japantime import format_time
from geoapp.settings import PROJECT_ROOT

#: Where the mail templates live unless the app names another templates folder.
DEFAULT_DIR = PROJECT_ROOT / "templates" / "mail"


class MailTexts:
    """Renders the mail templates of one folder; built once and shared."""

    def __init__(self, directory: Path = DEFAULT_DIR) -> None:
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(str(directory)), autoescape=False,  # noqa: S701
            undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
            keep_trailing_newline=True)

    def render(self, kind: str, lang: Lang, **values: object) -> tuple[str, str]:
        """The subject and body of the mail ``kind`` in ``lang``, filled with ``values``."""

        def text_in(in_: Lang, key: str, **fields: object) -> str:
            return t(f"mail.{key}", in_, **fields)

        def text(key: str, **fields: object) -> str:
            return text_in(lang, key, **fields)

        # Values given in several languages ({"ja": ..., "en": ...}) arrive in the mail's.
        chosen = {name: in_lang(lang, value) for name, value in values.items()}
        rendered = self.env.get_template(f"{kind}.txt").render(
            lang=lang, t=text, t_in=text_in, when=lambda m: format_time(m, lang),
            when_in=lambda in_, m: format_time(m, in_), **chosen)
        subject, _, body = rendered.partition("\n\n")
        return subject.strip(), body
