"""Prove the README's first command on this machine: start the demo on a free port, wait until
it serves, open the street map it prints, /docs and one API call (locate), then stop it.

    python3 scripts/smoke_demo.py               # `bash scripts/demo.sh` (setup included)
    python3 scripts/smoke_demo.py --wheel       # a plain `pip install .` in a new venv, `grid demo`

Standard library only: it runs before anything is installed. Exit 0 when every check passed.
"""

from __future__ import annotations

import argparse
import http.cookiejar
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
POINT = (116.4433, 39.9727)  # inside the sample street: 青年沟社区第2网格


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(wheel: bool, port: int, work: Path) -> subprocess.Popen:
    env = os.environ | {"PORT": str(port), "PYTHONUNBUFFERED": "1"}
    env.pop("GRID_DATABASE_URL", None)  # the embedded default, as a new user has it
    if not wheel:
        command, cwd = ["bash", "scripts/demo.sh"], ROOT
    else:
        venv = work / "venv"
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        print("==> pip install . (not editable) into", venv, flush=True)
        subprocess.run([str(venv / "bin" / "pip"), "install", "-q", str(ROOT)], check=True)
        command, cwd = [str(venv / "bin" / "grid"), "demo", "--port", str(port)], work
    return subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)


def watch(proc: subprocess.Popen, lines: list[str]) -> None:
    for line in proc.stdout:
        print("   |", line.rstrip(), flush=True)
        lines.append(line)


def opener() -> urllib.request.OpenerDirector:
    return urllib.request.build_opener(
        urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))


def get(url: str, token: str | None = None, web=None) -> tuple[int, str]:
    request = urllib.request.Request(url)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with (web or opener()).open(request, timeout=60) as response:
        return response.status, response.read().decode()


def check(base: str, output: str) -> list[str]:
    """What failed, one line each."""
    failures = []
    roles = dict(re.findall(r"^\s*(\S+) \((\w+), [^)]*\): \S+\s*$", output, re.M))
    tokens = re.findall(r"^\s*\S+ \((?:admin|street)[^)]*\): (\S+)\s*$", output, re.M)
    links = {name: url for name, url in
             re.findall(r"^\s*(\S+): (https?://\S+/signin/link/\S+)\s*$", output, re.M)}
    maps = re.findall(r"(https?://[^\s?]+/maps/streets/[^\s?]+)", output)
    street_link = next((url for name, url in links.items() if roles.get(name) == "street"), None)
    if not maps or not street_link:
        failures.append(f"the demo printed no street-map URL ({len(maps)}) or no sign-in link "
                        f"for the street office ({street_link})")
    else:
        # As a browser: the one-time link signs in (a session cookie), then the map opens.
        web = opener()
        get(street_link, web=web)
        status, html = get(maps[0], web=web)
        if status != 200 or "leaflet" not in html.lower():
            failures.append(f"street map after sign-in: {status}, leaflet "
                            f"{'leaflet' in html.lower()}")
    status, html = get(base + "/docs")
    if status != 200 or "swagger-ui" not in html:
        failures.append(f"/docs: {status}")
    if not tokens:
        failures.append("the demo printed no admin or street token")
    else:
        status, body = get(f"{base}/api/v1/locate?lon={POINT[0]}&lat={POINT[1]}", tokens[0])
        answer = json.loads(body)
        if status != 200 or not answer.get("covered") or "110105001" not in answer["message"]:
            failures.append(f"/api/v1/locate: {status} {body[:200]}")
    return failures


def stop(proc: subprocess.Popen) -> None:
    """End the demo and whatever it started (its process group)."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(30)
    except ProcessLookupError:
        return
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--wheel", action="store_true")
    parser.add_argument("--timeout", type=float, default=1200, help="seconds to wait for it")
    args = parser.parse_args()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as tmp:
        proc = start(args.wheel, port, Path(tmp))
        lines: list[str] = []
        threading.Thread(target=watch, args=(proc, lines), daemon=True).start()
        try:
            deadline = time.monotonic() + args.timeout
            while True:
                if proc.poll() is not None:
                    print(f"FAIL: the demo exited with {proc.returncode} before serving")
                    return 1
                if time.monotonic() > deadline:
                    print("FAIL: the demo did not serve in time")
                    return 1
                try:
                    if get(base + "/openapi.json")[0] == 200 and any("docs" in x for x in lines):
                        break
                except OSError:
                    pass
                time.sleep(1)
            failures = check(base, "".join(lines))
        finally:
            stop(proc)
    for failure in failures:
        print("FAIL:", failure)
    print("demo smoke:", "ok" if not failures else f"{len(failures)} failed",
          "(wheel)" if args.wheel else "(scripts/demo.sh)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
