"""Every registered adapter keeps the contract the core and the screens rely on.

Run over whatever is registered (today Haravan and meInvoice): each method answers, every label a person
reads is translated, a preview renders, and a document of every kind the target knows is made, processed
in the simulators and shown on every screen — in Vietnamese and in English.
"""

import gettext

import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import translation

from config.celery import app as celery_app
from connectors import registry
from connectors.models import License
from connectors.sale import ReadOptions, Sale
from syncjobs.models import SyncDocument, SyncRun
from tests import contracts, factories

TARGETS = registry.targets()
SOURCES = registry.sources()
CATALOGUE = settings.BASE_DIR / "locale" / "vi" / "LC_MESSAGES" / "django.mo"


def vietnamese():
    with open(CATALOGUE, "rb") as fh:
        return gettext.GNUTranslations(fh)


def assert_translated(label):
    """A label shown to people has a Vietnamese translation (not the English words again)."""
    with translation.override(None):
        english = str(label)
    translated = vietnamese().gettext(english)
    assert translated != english, f"“{english}” has no Vietnamese translation"


def test_something_is_registered_and_every_adapter_has_its_contract_story():
    assert {t.name for t in TARGETS} == set(contracts.TARGET_STORIES)
    assert {s.name for s in SOURCES} == set(contracts.SOURCE_EXAMPLES)


@pytest.mark.parametrize("target", TARGETS, ids=lambda a: a.name)
def test_a_target_declares_itself_whole(target):
    assert target.name and target.label and target.tag_label
    assert (target.family, target.family_label) in registry.family_choices()
    assert target.source_kinds and all(registry.source(kind) for kind in target.source_kinds)
    assert target.order_document_kind in target.document_kinds
    for label in target.document_kinds.values():
        assert_translated(label)
    for key, label, secret in target.credential_fields:
        assert key and isinstance(secret, bool)
        assert_translated(label)
    for name in target.url_settings:
        assert hasattr(settings, name), name
    registered = set(celery_app.tasks)
    for entry in target.beat_entries().values():
        assert entry["task"] in registered and entry["schedule"] > 0
    for task in target.task_routes:
        assert task in registered
    assert target.account_id_error("not an id") is not None
    if target.has_drafts or target.has_templates or target.tests_connection:
        assert target.processes


@pytest.mark.parametrize("source", SOURCES, ids=lambda a: a.name)
def test_a_source_declares_itself_whole(source):
    assert source.name and source.label and source.dimensions
    for value, label in source.dimensions:
        assert value in dict(registry.dimension_choices())
        assert_translated(label)
    assert_translated(source.object_label)
    assert source.shape_problem(["not", "an", "object"])


@pytest.fixture
def tenant(db):
    tenant = factories.tenant("Contract")
    for target in TARGETS:
        License.objects.get_or_create(
            tenant=tenant, family=target.family, defaults={"expires_at": "2099-01-01T00:00Z"}
        )
    return tenant


@pytest.mark.parametrize("source", SOURCES, ids=lambda a: a.name)
def test_a_source_reads_fetches_and_syncs_in_the_simulator(source, tenant, sandbox):
    target = next(t for t in TARGETS if source.name in t.source_kinds)
    make_connection, _story = contracts.TARGET_STORIES[target.name]
    connection = make_connection(tenant)
    example = contracts.SOURCE_EXAMPLES[source.name](sandbox)
    assert source.shape_problem(example) is None
    sale = source.read_sale(connection, example, ReadOptions())
    assert isinstance(sale, Sale) and sale.problems == () and sale.adds_up
    assert sale.label == source.label_of(example)
    facts = source.routing_facts(example)
    assert set(facts) <= {value for value, _label in source.dimensions}
    if source.looks_up_by_number:
        number = source.label_of(example).lstrip("#")
        assert source.fetch_by_number(connection, number)["id"] == example["id"]
        with pytest.raises(LookupError):
            source.fetch_by_number(connection, "999999999")
    if source.scheduled_sync:
        state = source.set_schedule(connection, every_minutes=30, enabled=False)
        assert state.every_minutes == 30 and not state.owner_switch and not state.running
    if source.manual_sync:
        import datetime as dt

        run = source.start_manual_sync(connection, date_from=dt.date(2026, 1, 1), date_to=dt.date(2026, 1, 2))
        assert isinstance(run, SyncRun) and run.connection == connection


@pytest.mark.parametrize("target", TARGETS, ids=lambda a: a.name)
def test_every_kind_of_document_is_made_processed_and_shown(target, tenant, sandbox):
    make_connection, story = contracts.TARGET_STORIES[target.name]
    connection = make_connection(tenant)
    account = connection.accounts.get()
    if target.tests_connection:
        ok, _message = target.test_connection(account)
        assert ok
    if target.has_templates:
        assert target.sync_templates(account) and target.series_choices(account)

    documents = story(connection, sandbox)
    kinds = {doc.kind.split(":", 1)[0] for doc in documents}
    assert kinds == set(target.document_kinds), "the story makes every kind the target knows"
    for doc in documents:
        assert doc.state == SyncDocument.State.DONE, (doc.kind, doc.last_error)
        assert connection.source.admin_url(connection, doc) in (
            None,
            "",
        ) or "://" in connection.source.admin_url(connection, doc)
    assert target.retry([], user=None) == 0
    if target.has_drafts:
        assert target.publish_drafts([]) == 0
    issued = documents[0]
    code_and_page = target.lookup_link(issued)
    assert code_and_page is None or all(code_and_page)
    fields, style = contracts.WRITE_BACKS[connection.source_kind]
    connection.source.write_back(issued, fields, style=style)

    owner = factories.user(tenant, email="owner@contract.test")
    for language in ("vi", "en"):
        client = factories.signed_in(owner, language=language)
        for url in contracts.screens(connection, documents):
            assert client.get(url).status_code == 200, url
        for doc in documents:
            with translation.override(language):
                label = str(target.kind_label(doc.kind))
            page = client.get(reverse("dashboard:document", args=[doc.pk])).content.decode()
            assert label in page, (language, doc.kind)
            listed = client.get(reverse("dashboard:logs"), {"kind": doc.kind.split(":")[0]}).content.decode()
            assert f'data-kind="{doc.kind}"' in listed
            exported = b"".join(
                client.get(
                    reverse("dashboard:logs_export"), {"kind": doc.kind.split(":")[0]}
                ).streaming_content
            )
            assert label in exported.decode("utf-8-sig"), (language, doc.kind)


@pytest.mark.parametrize("target", TARGETS, ids=lambda a: a.name)
def test_a_preview_and_the_mapping_section_render(target, tenant, sandbox):
    import json

    make_connection, _story = contracts.TARGET_STORIES[target.name]
    connection = make_connection(tenant)
    example = contracts.SOURCE_EXAMPLES[connection.source_kind](sandbox)
    answer = target.preview(connection, example)
    issue, why = target.preview_outcome(answer)
    assert issue is True and why
    json.dumps(answer, default=str)  # the preview command prints it as it is
    if target.mapping_template is not None:
        section = target.mapping_section(connection)
        assert section.template == target.mapping_template and section.context()
    owner = factories.user(tenant, email="owner@contract.test")
    client = factories.signed_in(owner, language="vi")
    page = client.post(
        reverse("dashboard:mapping_preview", args=[connection.pk]), {"order_json": json.dumps(example)}
    )
    assert page.status_code == 200
    html = page.content.decode()
    assert "notice bad" not in html and "state-done" in html
