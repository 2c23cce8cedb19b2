import os
from pathlib import Path

from celery import Celery, signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("outcome_billing")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# The filesystem broker's folders, in its transport options' own names.
FILESYSTEM_BROKER_FOLDERS = ("data_folder_in", "data_folder_out", "control_folder")
_created: set[Path] = set()


def _folders_create(folders: list[Path]) -> None:
    for folder in folders:
        if folder not in _created:
            folder.mkdir(parents=True, exist_ok=True)
            _created.add(folder)


@signals.before_task_publish.connect
def broker_folders_create(**_) -> None:
    """Creates the filesystem broker's folders before a process first queues a task
    (settings create nothing when imported). Reads the options in effect, so the
    folders created are those of a test's throwaway broker."""
    if app.conf.broker_url.startswith("filesystem://"):
        options = app.conf.broker_transport_options
        _folders_create([Path(options[key]) for key in FILESYSTEM_BROKER_FOLDERS if key in options])


@signals.import_modules.connect
def worker_and_beat_folders_create(**_) -> None:
    """A worker or beat loading its tasks: the broker's folders, and the folder of beat's
    schedule file (under CELERY_DATA_DIR whichever the broker), before beat opens it."""
    broker_folders_create()
    _folders_create([Path(app.conf.beat_schedule_filename).parent])
