"""Shared pieces of the benchmarks: a throwaway PostgreSQL database and a gunicorn server."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parents[2]
LOG = "/tmp/bench-server.log"
PG = os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432")


def fresh_database(name: str) -> str:
    with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {name}")
    return f"{PG}/{name}"


def bench_env(database_url: str, **extra) -> dict:
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "DEBUG": "false",
        "API_KEY_THROTTLE_RATE": "1000000/second",
        "CELERY_BROKER_URL": os.environ.get("CELERY_BROKER_URL", "redis://127.0.0.1:6379/14"),
        "LOG_LEVEL": "WARNING",
        **extra,
    }
    return env


def manage(env: dict, *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout


def agent_world(name: str) -> tuple[str, dict, str]:
    """A fresh, migrated database with agent `bench-agent`, customers cus_1..cus_1000 and
    an API key of the agent: (database URL, server environment, key)."""
    database_url = fresh_database(name)
    env = bench_env(database_url)
    manage(env, "migrate", "--noinput", "-v0")
    manage(
        env,
        "shell",
        "-c",
        "from agents.models import Agent; from customers.models import Customer;"
        "Agent.objects.create(external_id='bench-agent', name='Bench');"
        "Customer.objects.bulk_create([Customer(external_id=f'cus_{i}', name=f'C{i}', "
        "billing_email='b@example.com') for i in range(1, 1001)])",
    )
    return database_url, env, manage(env, "create_agent_key", "bench-agent").strip()


class Server:
    """gunicorn serving the project on a local port; reports the peak RSS of its workers."""

    def __init__(self, env: dict, port: int = 8765, workers: int = 2):
        self.port = port
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "config.wsgi",
                "-b",
                f"127.0.0.1:{port}",
                "-w",
                str(workers),
                "--access-logfile",
                "-",
                "--log-level",
                "warning",
                "--access-logformat",
                "",
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=open(LOG, "w"),  # noqa: SIM115 - the server owns it
        )
        self.url = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                import httpx

                if httpx.get(f"{self.url}/healthz", timeout=1).status_code in (200, 503):
                    return
            except Exception:
                time.sleep(0.1)
        raise RuntimeError("server did not start: " + Path(LOG).read_text()[-2000:])

    def pids(self) -> list[int]:
        out = subprocess.run(["pgrep", "-P", str(self.proc.pid)], capture_output=True, text=True)
        return [self.proc.pid] + [int(p) for p in out.stdout.split()]

    def peak_rss_mb(self) -> float:
        peaks = []
        for pid in self.pids():
            try:
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmHWM:"):
                        peaks.append(int(line.split()[1]) / 1024)
            except FileNotFoundError:
                pass
        return max(peaks)

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=20)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]
