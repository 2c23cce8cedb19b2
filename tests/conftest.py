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


@pytest.fixture
def on_postgres():
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (set DATABASE_URL)")


@pytest.fixture(autouse=True)
def _forget_verified_api_keys():
    from agents.api.authentication import AgentKeyAuthentication

    AgentKeyAuthentication._verified.clear()
