"""Keyward's benchmark: ``make bench`` (full) or ``make bench-smoke`` (seconds, run in CI).

For each stack — PostgreSQL + Redis, and the embedded default (SQLite, in-process cache) — it
starts gunicorn with one sync worker, loads it with wrk (-t1 -c4) and prints req/s and p50/p99
for health, key (Bearer), Basic ``apikey:``, JWT (ES256, and HS256 on a server of its own),
session, ``keys/verify`` and the introspection of a key, each as a share of health, and for
refusals: well-formed keys (valid checksum) that were never issued, a different one on each
request from a rotating set, as an attacker who knows the public checksum sends them. On
PostgreSQL it runs the peers (djangorestframework-api-key, knox, SimpleJWT) in the same shape,
side by side with Keyward and interleaved with it, so that both are measured in the same minutes.
Beside them, the floors (``bench.floors``): a canned WSGI answer, and one after the single
Redis trip every counted request makes, as shares of the same health. Then the in-process
cost of each authentication step, the lookup cost at 10 / 10k / 1M keys,
and the password-login cost. Nothing here is a test: it prints figures.
"""

import argparse
import base64
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import ExitStack
from dataclasses import dataclass, replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
PG = "postgres://postgres@127.0.0.1:5432"
REDIS = "redis://127.0.0.1:6379/14"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="a few seconds per stage, for CI")
    parser.add_argument("--duration", type=int, default=5, help="seconds per wrk run")
    parser.add_argument("--rounds", type=int, default=5, help="runs per scenario (best kept)")
    parser.add_argument(
        "--stack",
        choices=("all", "postgres+redis", "embedded", "sentinel", "cluster"),
        default="all",
        help="serve only one stack (the peers run beside postgres+redis; the in-process"
        " steps are measured on postgres+redis whatever this says, unless --skip-steps);"
        " sentinel / cluster: a Redis Sentinel set or a 3-master Redis Cluster of the bench's"
        " own, served beside postgres+redis and interleaved with it",
    )
    parser.add_argument("--skip-peers", action="store_true")
    parser.add_argument("--skip-steps", action="store_true", help="no in-process step costs")
    parser.add_argument("--skip-nginx", action="store_true", help="no nginx auth_request scenario")
    parser.add_argument("--only-nginx", action="store_true", help="only the nginx scenario")
    parser.add_argument(
        "--nginx-keyward",
        default="4x2",
        metavar="WORKERSxTHREADS",
        help="Keyward's gunicorn behind nginx (default 4x2, as docs/deploy.md deploys it)",
    )
    parser.add_argument(
        "--baseline",
        metavar="REV",
        help="also serve the code of git revision REV on PostgreSQL + Redis, interleaved with"
        " this tree's, and print each scenario's paired ratio of this tree over it",
    )
    parser.add_argument(
        "--scenarios",
        metavar="LABEL,LABEL",
        help="run only these scenarios (and health, which every share is of), for a long"
        ' paired run of a few: --scenarios "key (Bearer),JWT" --rounds 12',
    )
    args = parser.parse_args()
    duration = 1 if args.smoke else args.duration
    global ROUNDS, SCENARIOS
    ROUNDS = 1 if args.smoke else args.rounds
    SCENARIOS = frozenset(args.scenarios.split(",")) if args.scenarios else None
    ensure_wrk()

    stacks = {
        "postgres+redis": {"DATABASE_URL": f"{PG}/keyward_bench", "REDIS_URL": REDIS},
        "embedded": {"DATABASE_URL": f"sqlite:///{ROOT / 'var' / 'bench.sqlite3'}"},
    }
    results = {}
    workers, threads = (int(n) for n in args.nginx_keyward.split("x"))
    if args.only_nginx:
        nginx_auth_request(stacks["postgres+redis"], duration, workers=workers, threads=threads)
        return
    if args.stack in ("all", "postgres+redis"):
        # Keyward on PostgreSQL and the peers are served side by side and their runs
        # interleaved, so that "the same run" means the same minutes of a shared machine.
        servers = {"postgres+redis": keyward_server(stacks["postgres+redis"])}
        if args.baseline:
            baseline_root = checkout(args.baseline)
            servers["baseline"] = keyward_server(
                {**stacks["postgres+redis"], "DATABASE_URL": f"{PG}/keyward_bench_baseline"},
                root=baseline_root,
            )
        # The JWT scenario above is signed with the asymmetric default (ES256); this one with
        # HS256, set explicitly, to show what the default costs a JWT request.
        servers["postgres+redis HS256"] = keyward_server(
            {
                **stacks["postgres+redis"],
                "DATABASE_URL": f"{PG}/keyward_bench_hs256",
                "KEYWARD_JWT_ALGORITHM": "HS256",
            },
            only=("health", "JWT"),
        )
        # The same tree with the WSGI lane off: the lane's endpoints through Django's stack.
        servers["postgres+redis lane off"] = keyward_server(
            {
                **stacks["postgres+redis"],
                "DATABASE_URL": f"{PG}/keyward_bench_lane_off",
                "KEYWARD_LANE": "false",
            },
            only=LANE_SCENARIOS,
        )
        # The same tree with the opt-in Redis busy-poll (KEYWARD_REDIS_POLL_MICROSECONDS),
        # off by default: what the knob buys on this machine, measured in the same minutes.
        servers["postgres+redis busy-poll"] = keyward_server(
            {
                **stacks["postgres+redis"],
                "DATABASE_URL": f"{PG}/keyward_bench_busy_poll",
                "KEYWARD_REDIS_POLL_MICROSECONDS": "200",
            },
            only=POLL_SCENARIOS,
        )
        # What one worker serves at best here: a canned answer, and one after a Redis trip.
        servers["floors"] = Server(
            "bench.floors:application",
            server_env(stacks["postgres+redis"]),  # its database is the first server's
            {
                "health": ("/api/v1/health", {}),
                "canned WSGI answer": ("/floor/canned", {}),
                "one Redis trip, canned answer": ("/floor/one-trip", {}),
            },
        )
        if not args.skip_peers:
            servers["peers"] = peers_server()
        results.update(best_of_rounds(servers, duration))
    if args.stack in ("all", "embedded"):
        results.update(best_of_rounds({"embedded": keyward_server(stacks["embedded"])}, duration))
    if args.stack in ("sentinel", "cluster"):
        results.update(topology_rounds(args.stack, stacks["postgres+redis"], duration))
    print_table(results)
    if args.stack in ("all", "postgres+redis") and not args.skip_nginx:
        nginx_auth_request(stacks["postgres+redis"], duration, workers=workers, threads=threads)
    print()
    for name, rows in results.items():
        if "key + proposal (Bearer)" in rows and "key (Bearer)" in rows:
            share = paired_share(rows["key + proposal (Bearer)"], rows["key (Bearer)"])
            print(f"{name}: key with an active proposal / the same key without: {share:.3f}")
    if args.skip_steps:
        return
    run_django_script("bench.steps", stacks["postgres+redis"], ["--smoke"] if args.smoke else [])


POLL_SCENARIOS = ("health", "key (Bearer)", "JWT", "session")
LANE_SCENARIOS = (
    "health",
    "auth/check",
    "auth/check invented (401)",
    "keys/verify",
    "introspect key",
)


# --- the servers --------------------------------------------------------------------------


def keyward_server(extra_env: dict, root: Path = ROOT, only: tuple = ()) -> "Server":
    env = server_env(extra_env)
    database = extra_env["DATABASE_URL"]
    if database.startswith("postgres"):
        recreate_database(database.rsplit("/", 1)[1])
    else:
        Path(database.removeprefix("sqlite:///")).unlink(missing_ok=True)
    subprocess.run([PYTHON, "manage.py", "migrate", "-v0"], cwd=root, env=env, check=True)
    creds = json.loads(
        subprocess.run(
            [PYTHON, "-m", "bench.seed"], cwd=root, env=env, check=True, capture_output=True
        ).stdout
    )
    basic = base64.b64encode(f"apikey:{creds['key']}".encode()).decode()
    scenarios = {
        "health": ("/api/v1/health", {}),
        "key (Bearer)": ("/api/v1/auth/verify", {"Authorization": f"Bearer {creds['key']}"}),
        "key (X-API-Key)": ("/api/v1/auth/verify", {"X-API-Key": creds["key"]}),
        "Basic apikey:": ("/api/v1/auth/verify", {"Authorization": f"Basic {basic}"}),
        "JWT": ("/api/v1/auth/verify", {"Authorization": f"Bearer {creds['jwt']}"}),
        "session": ("/api/v1/auth/verify", {"Cookie": f"sessionid={creds['session']}"}),
    }
    if "credits_key" in creds:  # a baseline revision may predate credits
        scenarios["key with credits"] = (
            "/api/v1/auth/verify",
            {"Authorization": f"Bearer {creds['credits_key']}"},
        )
    if "invented" in creds:  # a tree whose seed invents keys (not an older one)
        # Every response is a 401 (the non-2xx column): each one is a refusal.
        script = rotating_keys_script(creds["invented"])
        scenarios["invented keys (401)"] = ("/api/v1/auth/verify", {}, script)
    # A reverse proxy's sub-request (nginx auth_request): answered by the WSGI lane.
    original = {"X-Original-Method": "GET", "X-Original-URI": "/api/v1/health"}
    scenarios["auth/check"] = ("/api/v1/auth/check", {"X-API-Key": creds["key"], **original})
    if "invented" in creds:
        scenarios["auth/check invented (401)"] = ("/api/v1/auth/check", original, script)
    if "verifier_key" in creds:  # a baseline revision may predate it
        verifier = {"X-API-Key": creds["verifier_key"]}
        scenarios["keys/verify"] = (
            "/api/v1/keys/verify",
            {**verifier, "Content-Type": "application/json"},
            json.dumps({"key": creds["key"], "method": "GET", "path": "/api/v1/health"}),
        )
        scenarios["introspect key"] = (
            "/oauth2/introspect",
            {**verifier, "Content-Type": "application/x-www-form-urlencoded"},
            f"token={creds['key']}",
        )
    if "shadow_key" in creds:  # the same key as "key (Bearer)", with an active proposal
        shadowed = {"Authorization": f"Bearer {creds['shadow_key']}"}
        scenarios["key + proposal (Bearer)"] = ("/api/v1/auth/verify", shadowed)
    if only:
        scenarios = {label: scenarios[label] for label in only}
    return Server("config.wsgi", env, scenarios, root)


# --- nginx auth_request ----------------------------------------------------------------------

NGINX_CONNECTIONS = 16
NGINX_CONF = """
worker_processes auto;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    upstream keyward {{ server 127.0.0.1:{keyward}; keepalive 32; }}
    upstream static_upstream {{ server 127.0.0.1:{static}; keepalive 32; }}
    server {{                       # the guarded service: a static file
        listen 127.0.0.1:{static};
        location / {{ root {tmp}/www; index index.html; }}
    }}
    server {{                       # nginx in front of it, no authentication
        listen 127.0.0.1:{plain};
        location / {{
            proxy_pass http://static_upstream;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }}
    }}
    server {{                       # the same, each request asked of Keyward first
        listen 127.0.0.1:{guarded};
        location / {{
            auth_request /_keyward_check;
            proxy_pass http://static_upstream;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }}
        location = /_keyward_check {{   # as docs/nginx-keyward.conf
            internal;
            proxy_pass http://keyward/api/v1/auth/check;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host 127.0.0.1;
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
            proxy_set_header X-Original-Method $request_method;
            proxy_set_header X-Original-URI $request_uri;
        }}
    }}
}}
"""


def nginx_auth_request(stack_env: dict, duration: int, *, workers: int, threads: int) -> None:
    """nginx → a static upstream, without and with ``auth_request`` to Keyward, at c16.

    Keyward runs as ``workers`` processes of ``threads`` threads (by default as docs/deploy.md
    deploys it: 4 workers, 2 threads each), on PostgreSQL + Redis; the two fronts are measured
    interleaved, best of the rounds. Prints the share of the upstream's throughput kept behind
    Keyward and the latency it adds.
    """
    env = server_env({**stack_env, "DATABASE_URL": f"{PG}/keyward_bench_nginx"})
    recreate_database("keyward_bench_nginx")
    subprocess.run([PYTHON, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    creds = json.loads(
        subprocess.run(
            [PYTHON, "-m", "bench.seed"], cwd=ROOT, env=env, check=True, capture_output=True
        ).stdout
    )
    ports = {"keyward": 18461, "static": 18462, "plain": 18463, "guarded": 18464}
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        os.chmod(tmp, 0o755)  # noqa: S103 - nginx's workers may run as another user
        (Path(tmp) / "www").mkdir(mode=0o755)
        (Path(tmp) / "www" / "index.html").write_text("ok\n")
        conf = Path(tmp) / "nginx.conf"
        conf.write_text(NGINX_CONF.format(tmp=tmp, **ports))
        stack.enter_context(
            gunicorn("config.wsgi", env, port=ports["keyward"], workers=workers, threads=threads)
        )
        nginx = subprocess.Popen(
            ["nginx", "-p", tmp, "-c", str(conf), "-g", "daemon off;"], cwd=tmp
        )
        stack.callback(lambda: (nginx.terminate(), nginx.wait(timeout=10)))
        _wait_for(ports["plain"], "/")
        headers = {"X-API-Key": creds["key"]}
        runs = {"plain": [], "guarded": []}
        for round_number in range(ROUNDS):
            for front in ("plain", "guarded")[:: 1 if round_number % 2 == 0 else -1]:
                runs[front].append(
                    wrk(ports[front], "/", headers, duration, connections=NGINX_CONNECTIONS)
                )
    plain = max(runs["plain"], key=lambda run: run["rps"])
    guarded = max(runs["guarded"], key=lambda run: run["rps"])
    print(
        f"\n## nginx auth_request (Keyward {workers} workers x {threads} threads;"
        f" wrk -t1 -c{NGINX_CONNECTIONS}; best of {ROUNDS} runs)"
    )
    print(f"{'front':28} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'non-2xx':>8}")
    for label, row in (("nginx → static", plain), ("same behind auth_request", guarded)):
        print(
            f"{label:28} {row['rps']:9.0f} {row['p50']:8.2f} {row['p99']:8.2f} {row['errors']:8d}"
        )
    paired = statistics.median(
        g["rps"] / p["rps"] for g, p in zip(runs["guarded"], runs["plain"], strict=True)
    )
    print(
        f"share of the upstream's throughput kept: {guarded['rps'] / plain['rps']:.2f}"
        f" (paired: {paired:.2f}); added p50 {guarded['p50'] - plain['p50']:.2f} ms,"
        f" p99 {guarded['p99'] - plain['p99']:.2f} ms"
    )


def _wait_for(port: int, path: str) -> None:
    for _ in range(100):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=1)
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing answers on port {port}")


def topology_rounds(name: str, plain: dict, duration: int) -> dict:
    """The hot path on a Redis topology of the bench's own, interleaved with plain Redis.

    The servers come from ``tests.topology.servers`` (the ones the topology tests start).
    """
    from tests.topology import servers as topologies

    # No persistence, as the plain Redis the bench uses: the comparison is of the topology alone.
    topology = {"sentinel": topologies.SentinelSet, "cluster": topologies.ClusterSet}[name](
        persist=False
    )
    topology.start()
    try:
        only = ("health", "key (Bearer)", "JWT", "session")
        servers = {
            "postgres+redis": keyward_server(plain, only=only),
            f"postgres+{name}": keyward_server(
                {"DATABASE_URL": f"{PG}/keyward_bench_{name}", "REDIS_URL": topology.url},
                only=only,
            ),
        }
        return best_of_rounds(servers, duration)
    finally:
        topology.stop()


def checkout(revision: str) -> Path:
    """The tree of ``revision`` in ``var/bench-baseline``, to serve beside this one."""
    target = ROOT / "var" / "bench-baseline"
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    archive = subprocess.run(
        ["git", "archive", revision], cwd=ROOT, check=True, capture_output=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True)
    return target


def rotating_keys_script(keys: list[str]) -> Path:
    """A wrk script that presents the next of ``keys`` (as Bearer) on each request."""
    script = ROOT / "var" / "bench-invented-keys.lua"
    script.parent.mkdir(exist_ok=True)
    listed = ",\n".join(f'  "{key}"' for key in keys)
    script.write_text(
        f"local keys = {{\n{listed}\n}}\n"
        "local n = 0\n"
        "request = function()\n"
        "  n = n + 1\n"
        "  local headers = {}\n"
        "  for name, value in pairs(wrk.headers) do headers[name] = value end\n"
        '  headers["Authorization"] = "Bearer " .. keys[n % #keys + 1]\n'
        "  return wrk.format(nil, nil, headers)\n"
        "end\n"
    )
    return script


def peers_server() -> "Server":
    recreate_database("keyward_bench_peers")
    env = {**os.environ, "PEER_DATABASE_URL": f"{PG}/keyward_bench_peers"}
    env["DJANGO_SETTINGS_MODULE"] = "bench.peers.settings"
    subprocess.run([PYTHON, "-m", "django", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    creds = json.loads(
        subprocess.run(
            [PYTHON, "-m", "bench.peers.seed"], cwd=ROOT, env=env, check=True, capture_output=True
        ).stdout
    )
    scenarios = {
        "health": ("/health", {}),
        "drf-api-key (HasAPIKey)": ("/apikey", {"Authorization": f"Api-Key {creds['apikey']}"}),
        "knox": ("/knox", {"Authorization": f"Token {creds['knox']}"}),
        "SimpleJWT": ("/jwt", {"Authorization": f"Bearer {creds['jwt']}"}),
    }
    return Server("bench.peers.wsgi", env, scenarios)


# --- plumbing -----------------------------------------------------------------------------


def server_env(extra: dict) -> dict:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("DATABASE_URL", "REDIS_URL", "CACHE_URL")
    }
    env.update(
        {
            "SECRET_KEY": "bench-secret-key-0123456789-0123456789-0123456789",
            "DEBUG": "false",
            "KEYWARD_HTTPS": "false",
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "LOG_LEVEL": "WARNING",
            "DJANGO_SETTINGS_MODULE": "config.settings",
            # Limits and usage run on every request, but must never refuse one of wrk's.
            "KEYWARD_USER_RATE_LIMITS": '{"per_minute": 1000000000, "per_hour": 1000000000}',
            "KEYWARD_ANON_RATE_PER_IP": "1000000000/m",
            **extra,
        }
    )
    return env


def recreate_database(name: str) -> None:
    for sql in (f"DROP DATABASE IF EXISTS {name} WITH (FORCE)", f"CREATE DATABASE {name}"):
        subprocess.run(
            ["psql", "-h", "127.0.0.1", "-U", "postgres", "-qc", sql],
            check=True,
            capture_output=True,
        )


@dataclass
class Server:
    """A gunicorn with one sync worker, as in the issue's reference measurements."""

    app: str
    env: dict
    # label -> (path, headers), or (path, headers, extra): a wrk script (Path) or a POST body (str)
    scenarios: dict
    root: Path = ROOT  # the tree served: this one, or a baseline revision's


ROUNDS = 5
SCENARIOS = None  # all of them; else the labels ``--scenarios`` names


def _only_chosen(server: Server) -> Server:
    chosen = {
        label: scenario
        for label, scenario in server.scenarios.items()
        if label == "health" or label in SCENARIOS
    }
    return replace(server, scenarios=chosen)


def best_of_rounds(servers: dict[str, Server], duration: int) -> dict:
    """Run every scenario of every server in turn, ``ROUNDS`` times; keep each one's best run.

    The servers run side by side (an idle sync worker costs nothing) and the scenarios are
    interleaved (in an order rotated each round), so a noisy neighbour spreads over all of
    them alike; the best of a few runs is the machine's capacity rather than its worst moment.
    Shares are taken between these best runs; each row also keeps its throughput of every
    round (``per_round``), from which ``paired_share`` compares runs of the same round only.
    """
    if SCENARIOS is not None:
        servers = {name: _only_chosen(server) for name, server in servers.items()}
        servers = {name: server for name, server in servers.items() if len(server.scenarios) > 1}
    runs: dict = {
        name: {label: [] for label in server.scenarios} for name, server in servers.items()
    }
    with ExitStack() as stack:
        ports = {
            name: stack.enter_context(
                gunicorn(server.app, server.env, port=18431 + index, root=server.root)
            )
            for index, (name, server) in enumerate(servers.items())
        }
        for round_number in range(ROUNDS):
            for name, server in servers.items():
                for label, (path, headers, *extra) in _rotated(server.scenarios, round_number):
                    runs[name][label].append(wrk(ports[name], path, headers, duration, *extra))
    return {
        name: {
            label: {
                **max(results, key=lambda result: result["rps"]),
                "per_round": [result["rps"] for result in results],
            }
            for label, results in rows.items()
        }
        for name, rows in runs.items()
    }


def paired_share(row: dict, reference: dict) -> float:
    """The median, over rounds, of ``row``'s throughput over ``reference``'s in that round.

    The machine's speed drifts from minute to minute; two runs of one round are minutes apart
    at most, so their ratio carries less of the drift than the ratio of two best runs, which
    may come from different rounds.
    """
    return statistics.median(
        ours / theirs for ours, theirs in zip(row["per_round"], reference["per_round"], strict=True)
    )


def _rotated(scenarios: dict, by: int) -> list:
    """Each round starts one scenario later, so that none always runs right after another."""
    items = list(scenarios.items())
    by %= len(items)
    return items[by:] + items[:by]


class gunicorn:
    def __init__(
        self, app: str, env: dict, port: int, root: Path = ROOT, workers: int = 1, threads: int = 1
    ):
        self.app, self.env, self.port, self.root = app, env, port, root
        self.workers, self.threads = workers, threads

    def __enter__(self) -> int:
        self.process = subprocess.Popen(
            [
                PYTHON,
                "-m",
                "gunicorn",
                self.app,
                "--bind",
                f"127.0.0.1:{self.port}",
                "--workers",
                str(self.workers),
                *(
                    ["--worker-class", "sync"]
                    if self.threads == 1
                    else ["--worker-class", "gthread", "--threads", str(self.threads)]
                ),
                "--config",
                "python:bench.gunicorn_conf",
                "--log-level",
                "warning",
            ],
            cwd=self.root,
            env=self.env,
        )
        probe = "/health" if self.app.startswith("bench.peers") else "/api/v1/health"
        for _ in range(100):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{self.port}{probe}", timeout=1)
                return self.port
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"{self.app} did not start")

    def __exit__(self, *exc) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


def wrk(
    port: int,
    path: str,
    headers: dict,
    duration: int,
    extra: Path | str | None = None,
    connections: int = 4,
):
    """One wrk run; ``extra`` is a wrk script to run, or a body to POST (through a script)."""
    command = ["wrk", "-t1", f"-c{connections}", f"-d{duration}s", "--latency"]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    with ExitStack() as stack:
        if isinstance(extra, Path):
            command += ["-s", str(extra)]
        elif extra is not None:  # wrk posts only through a script
            script = stack.enter_context(tempfile.NamedTemporaryFile("w", suffix=".lua"))
            script.write(f'wrk.method = "POST"\nwrk.body = [==[{extra}]==]\n')
            script.flush()
            command += ["-s", script.name]
        output = subprocess.run(
            [*command, f"http://127.0.0.1:{port}{path}"], check=True, capture_output=True, text=True
        ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    return {
        "rps": rps,
        "p50": _latency(output, "50%"),
        "p99": _latency(output, "99%"),
        "errors": int(non_2xx.group(1)) if non_2xx else 0,
    }


def _latency(output: str, label: str) -> float:
    match = re.search(rf"{re.escape(label)}\s+([\d.]+)(us|ms|s)", output)
    value, unit = float(match.group(1)), match.group(2)
    return value * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def print_table(results: dict) -> None:
    for stack, rows in results.items():
        health = rows["health"]["rps"]
        print(f"\n## {stack}  (gunicorn, 1 sync worker; wrk -t1 -c4; best of {ROUNDS} runs)")
        print(
            f"{'scenario':28} {'req/s':>9} {'share':>6} {'paired':>7} {'p50 ms':>8} "
            f"{'p99 ms':>8} {'non-2xx':>8}"
        )
        for label, row in rows.items():
            print(
                f"{label:28} {row['rps']:9.0f} {row['rps'] / health:6.2f} "
                f"{paired_share(row, rows['health']):7.2f} "
                f"{row['p50']:8.2f} {row['p99']:8.2f} {row['errors']:8d}"
            )
    print("\nshare: best run over the best health run; paired: the median over rounds of the")
    print("scenario's run over the health run of the same round.")
    ours = results.get("postgres+redis", {})
    print_over("this tree over the baseline revision", ours, results.get("baseline"))
    print_over("the WSGI lane on over off", ours, results.get("postgres+redis lane off"))
    print_over("the Redis busy-poll on over off", results.get("postgres+redis busy-poll"), ours)
    if "peers" in results:
        ours = results["postgres+redis"]["key (Bearer)"]
        theirs = results["peers"]["drf-api-key (HasAPIKey)"]
        print(
            f"\nKeyward key auth vs djangorestframework-api-key: {ours['rps'] / theirs['rps']:.2f}x"
            f" (paired: {paired_share(ours, theirs):.2f}x)"
        )


def print_over(title: str, rows: dict | None, under: dict | None) -> None:
    """Each scenario's runs in ``rows`` over the same scenario's in ``under``, paired."""
    if not rows or not under:
        return
    print(f"\n## {title} (paired: median over rounds)")
    for label, row in rows.items():
        if label in under:
            print(f"{label:28} {paired_share(row, under[label]):6.2f}x")


def run_django_script(module: str, extra_env: dict, args: list) -> None:
    subprocess.run([PYTHON, "-m", module, *args], cwd=ROOT, env=server_env(extra_env), check=True)


def ensure_wrk() -> None:
    if shutil.which("wrk"):
        return
    print("wrk is missing: installing Debian's package", file=sys.stderr)
    subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True)


if __name__ == "__main__":
    main()
