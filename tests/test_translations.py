"""Vietnamese first: the committed catalogue is complete and compiled, and pages speak it by default."""

import gettext

import polib
from django.conf import settings
from django.test import Client
from django.utils import translation

from tests import factories

CATALOGUE = settings.BASE_DIR / "locale" / "vi" / "LC_MESSAGES"


def test_every_text_is_translated_and_the_compiled_catalogue_matches():
    po = polib.pofile(str(CATALOGUE / "django.po"))
    assert po.untranslated_entries() == [] and po.fuzzy_entries() == []
    with open(CATALOGUE / "django.mo", "rb") as fh:
        mo = gettext.GNUTranslations(fh)
    for entry in po.translated_entries():
        if entry.msgid_plural:
            for n, text in entry.msgstr_plural.items():
                assert mo.ngettext(entry.msgid, entry.msgid_plural, 1 if n == 0 else 2) == text, entry.msgid
        elif entry.msgctxt:
            assert mo.pgettext(entry.msgctxt, entry.msgid) == entry.msgstr, entry.msgid
        else:
            assert mo.gettext(entry.msgid) == entry.msgstr, entry.msgid


def test_pages_are_vietnamese_by_default_and_english_on_request(db):
    user = factories.user(factories.tenant())
    client = Client()
    client.force_login(user)
    assert "Tổng quan" in client.get("/").content.decode()
    assert "Tổng quan" in client.get("/", HTTP_ACCEPT_LANGUAGE="en-US,en").content.decode()  # not a choice
    client.post("/i18n/setlang/", {"language": "en", "next": "/"})
    assert ">Overview<" in client.get("/").content.decode()
    with translation.override("vi"):
        assert translation.gettext("Overview") == "Tổng quan"
