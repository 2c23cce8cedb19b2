"""Fuzz the API from its OpenAPI schema with schemathesis, against a live gunicorn on a
fresh PostgreSQL database (run by .ci/run; alone: `python tests/fuzz/schemathesis_run.py`).

Agents' endpoints (POST) are fuzzed with an agent API key, staff reads (GET) and
Finance's writes (payments, credit notes, credit grants: POST) with a staff token,
Paid's v2 catalogue (every method) with an organisation key; the demo's due periods are
closed first, so there are invoices to pay and credit, and the customer credit grant
paths name a demo customer (a random external id would only ever be a 404). Any 5xx,
or a response that does not match the schema, fails the run. Bounded: FUZZ_SECONDS per
pass (default 75; the staff writes get a third of it), a fixed FUZZ_SEED (default 1);
FUZZ_DATABASE names the throwaway database (default fuzz_schemathesis).
"""

import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
from tests.benchmarks.common import Server, bench_env, fresh_database, manage  # noqa: E402

SECONDS = os.environ.get("FUZZ_SECONDS", "75")
SEED = os.environ.get("FUZZ_SEED", "1")
PORT = int(os.environ.get("FUZZ_PORT", "8790"))
DATABASE = os.environ.get("FUZZ_DATABASE", "fuzz_schemathesis")
CATALOGUE = "^/api/v2/(customers|contacts|products|orders|invoices)/"
CHECKS = "not_a_server_error,response_schema_conformance"

# The customer paths of credit grants name a customer seed_demo creates.
CONFIG = """
[[operations]]
include-operation-id-regex = "^(create|list)CustomerCreditGrants?$"
parameters = { "path.external_id" = "cus_01" }
"""

STAFF_USER = """
from django.contrib.auth.models import User
User.objects.get_or_create(username="fuzz-staff", is_staff=True, is_superuser=True)
"""


def main() -> int:
    database_url = fresh_database(DATABASE)
    env = bench_env(database_url, LOG_LEVEL="ERROR", API_KEY_THROTTLE_RATE="100000/second")
    manage(env, "migrate", "--noinput", "-v0")
    manage(env, "seed_demo", "--signals", "200")
    manage(env, "close_periods")
    agent_key = manage(env, "create_agent_key", "doc-extractor").strip().splitlines()[-1]
    org_key = manage(env, "create_agent_key", "--organisation").strip().splitlines()[-1]
    manage(env, "shell", "-c", STAFF_USER)
    staff_token = manage(env, "create_staff_token", "fuzz-staff").strip().splitlines()[-1]
    config = Path(tempfile.mkdtemp()) / "schemathesis.toml"
    config.write_text(CONFIG)
    server = Server(env, port=PORT)
    failed = False
    try:
        passes = [
            (
                "POST endpoints",
                ["--include-method", "POST", "--exclude-path-regex", CATALOGUE],
                f"Authorization: Bearer {agent_key}",
                SECONDS,
            ),
            (
                "staff POST endpoints (payments, credit notes, credit grants)",
                [
                    "--include-operation-id-regex",
                    "^(recordInvoicePayment|issueInvoiceCreditNote|createCustomerCreditGrant)$",
                ],
                f"Authorization: Token {staff_token}",
                str(max(int(SECONDS) // 3, 10)),
            ),
            (
                "GET endpoints",
                ["--include-method", "GET", "--exclude-path-regex", CATALOGUE],
                f"Authorization: Token {staff_token}",
                SECONDS,
            ),
            (
                "Paid's catalogue",
                ["--include-path-regex", CATALOGUE],
                f"Authorization: Bearer {org_key}",
                SECONDS,
            ),
        ]
        for label, selection, header, seconds in passes:
            print(f"== schemathesis: {label}, {seconds} s, seed {SEED}", flush=True)
            run = subprocess.run(
                [
                    str(Path(sys.executable).parent / "schemathesis"),
                    "--config-file",
                    str(config),
                    "run",
                    f"{server.url}/api/schema/?format=json",
                    "--url",
                    server.url,
                    *selection,
                    "--header",
                    header,
                    "--checks",
                    CHECKS,
                    "--max-time",
                    seconds,
                    "--seed",
                    SEED,
                    # One worker: with two, Hypothesis describes strategies by parsing
                    # source (ast.parse) in two threads at once, which CPython 3.11 does
                    # not support ("AST constructor recursion depth mismatch", a crash of
                    # the fuzzer itself, seen on the staff POST pass).
                    "--workers",
                    "1",
                    "--no-color",
                    "--generation-database",
                    "none",
                ],
                cwd=ROOT,
            )
            failed = failed or run.returncode != 0
    finally:
        server.stop()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
