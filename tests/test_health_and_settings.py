import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.django_db
def test_healthz_ok(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


@pytest.mark.django_db
def test_healthz_names_the_broker_when_it_is_down(client, settings, monkeypatch):
    from config.celery import app

    for key in ("broker_url", "broker_write_url"):
        monkeypatch.setitem(app.conf, key, "redis://127.0.0.1:1/0")
    response = client.get("/healthz")
    assert response.status_code == 503
    assert any(p.startswith("broker:") for p in response.json()["problems"])


def run_manage(*args, **env):
    unset = ("SECRET_KEY", "ALLOWED_HOSTS", "DJANGO_ALLOW_ASYNC_UNSAFE")
    base = {k: v for k, v in os.environ.items() if k not in unset}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_production_requires_secret_key_and_hosts():
    result = run_manage("check", DJANGO_ENV="production")
    assert result.returncode != 0
    assert "requires SECRET_KEY" in result.stderr


def test_production_passes_check_deploy_without_warnings():
    result = run_manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        DJANGO_ENV="production",
        SECRET_KEY="x" * 60 + "-production-secret-0123456789",
        ALLOWED_HOSTS="billing.example.com",
    )
    assert result.returncode == 0, result.stderr + result.stdout
    assert "no issues" in result.stdout


def test_starting_django_creates_no_folders(tmp_path):
    # Settings only name the broker's folders; a process that never queues a task
    # (manage.py check, a migration, a shell) leaves the checkout as it was.
    data_dir = tmp_path / "celery-data"
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import json, django; django.setup(); from config.celery import app; "
            "print(json.dumps(app.conf.broker_transport_options))",
        ],
        cwd=ROOT,
        env={**os.environ, "CELERY_DATA_DIR": str(data_dir), "CELERY_BROKER_URL": "filesystem://"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert not data_dir.exists()
    options = json.loads(result.stdout.strip().splitlines()[-1])
    # kombu's own default for the exchange tables is ./control, wherever the process started
    assert Path(options["control_folder"]).parent == data_dir


def test_queueing_a_task_creates_the_filesystem_broker_folders(tmp_path, monkeypatch):
    from config.celery import app

    if not app.conf.broker_url.startswith("filesystem://"):
        pytest.skip("needs the filesystem broker")
    folder = tmp_path / "broker"
    options = {
        "data_folder_in": str(folder / "out"),
        "data_folder_out": str(folder / "out"),
        "control_folder": str(folder / "control"),
    }
    monkeypatch.setitem(app.conf, "broker_transport_options", options)
    with app.connection_for_write() as connection:
        app.send_task("billing.tasks.close_due_periods", connection=connection)
    assert len(list((folder / "out").glob("*.msg"))) == 1
    # kombu writes its exchange table there when it first declares the exchange in this
    # process (an earlier test may have): the folder is what must be there for it.
    assert (folder / "control").is_dir()
