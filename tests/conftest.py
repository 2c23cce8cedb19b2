import pytest
from django.conf import settings
from django.db import connection


@pytest.fixture(autouse=True, scope="session")
def _close_connections_after_each_request():
    # Live-server threads must not keep connections open, or the test database
    # cannot be dropped at the end of the run.
    # (On SQLite the live server shares the test's in-memory connection instead.)
    if settings.DATABASES["default"]["ENGINE"].endswith("postgresql"):
        settings.DATABASES["default"]["CONN_MAX_AGE"] = 0


@pytest.fixture(autouse=True, scope="session")
def _tasks_queued_by_tests_stay_in_the_test_run(tmp_path_factory):
    # On the filesystem broker (SQLite runs), tasks queued by tests (a margin check after
    # a close) would otherwise wait in .celery/ for the next `make run` worker.
    if settings.CELERY_BROKER_URL.startswith("filesystem://"):
        from config.celery import app

        folder = tmp_path_factory.mktemp("celery")
        app.conf.broker_transport_options = {
            "data_folder_in": str(folder / "out"),
            "data_folder_out": str(folder / "out"),
            "control_folder": str(folder / "control"),
        }


DATABASE_FIXTURES = ("db", "transactional_db", "live_server", "django_db_reset_sequences")


@pytest.fixture(autouse=True)
def _seller_profile(request):
    """Every test with a database has a complete seller profile, as an installation that
    issues invoices does (tests of an incomplete one empty it). Tests without a database
    are left alone."""
    marker = request.node.get_closest_marker("django_db")
    if marker is not None and marker.kwargs.get("transaction"):
        request.getfixturevalue("transactional_db")
    elif marker is not None:
        request.getfixturevalue("db")
    elif not any(name in request.fixturenames for name in DATABASE_FIXTURES):
        return
    else:
        for name in DATABASE_FIXTURES:
            if name in request.fixturenames:
                request.getfixturevalue(name)
    from tests.factories import SellerProfileFactory

    SellerProfileFactory()


@pytest.fixture
def on_postgres():
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (set DATABASE_URL)")


@pytest.fixture(autouse=True)
def _forget_verified_api_keys():
    from agents.api.authentication import AgentKeyAuthentication

    AgentKeyAuthentication._verified.clear()


# The data migrations that create the groups and give them their permissions, in order.
GROUP_MIGRATIONS = (
    ("billing.migrations.0003_groups", "create_groups"),
    ("billing.migrations.0005_invoicing_groups_and_counter", "forwards"),
    ("billing.migrations.0008_margin_permissions", "forwards"),
    ("billing.migrations.0016_invoice_document_permissions", "forwards"),
    ("billing.migrations.0019_credit_note_documents", "groups_forwards"),
    ("billing.migrations.0020_disputes", "forwards"),
    ("billing.migrations.0024_credits_admin_groups", "forwards"),
    ("billing.migrations.0025_balances", "forwards"),
    ("billing.migrations.0026_credit_grant_permissions", "forwards"),
    ("webhooks.migrations.0002_groups", "forwards"),
)


@pytest.fixture
def migrated_groups(transactional_db):
    """The groups as the migrations made them, for a transactional test: an earlier one
    flushed the tables, and the flush's post-migrate recreates permissions, not groups.
    (serialized_rollback would restore them, but collides with the content types that
    flush recreated under new ids.)"""
    import importlib

    from django.apps import apps

    for module, function in GROUP_MIGRATIONS:
        getattr(importlib.import_module(module), function)(apps, None)
