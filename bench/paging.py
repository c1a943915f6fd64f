"""Urgent-alert paging, end to end, against a release build (issue 13).

Starts a real SMTP server in-process (PyPI aiosmtpd), `speciosa serve` on a fresh SQLite
data directory with `--smtp-url`, registers BENCH_PATIENTS patients on one clinician's care
team, and submits a PHQ-9 with item 9 positive for each (one urgent alert, one page each).
Reports:
  - the urgent check-in's latency (the alert and its page are written before it answers),
  - the server's CPU milliseconds per urgent check-in (from /proc, user + system),
  - pages delivered per second, from the first submission to the last e-mail received,
    and the time from each alert's submission to its e-mail (p50, p99),
  - the ceiling: the same number of e-mails sent by Python's smtplib straight to the same
    SMTP server, one connection per message as Speciosa's sender uses, and the ratio.

    target/mail-venv/bin/python bench/paging.py        (scripts/test makes that venv)
    BENCH_PATIENTS=200 SPECIOSA_BIN=target/release/speciosa target/mail-venv/bin/python bench/paging.py
"""

import http.cookiejar
import json
import os
import re
import smtplib
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from email.message import EmailMessage

from aiosmtpd.controller import Controller

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.environ.get("SPECIOSA_BIN", os.path.join(ROOT, "target/release/speciosa"))
PATIENTS = int(os.environ.get("BENCH_PATIENTS", "200"))
PASSWORD = "a long enough password"


class Inbox:
    def __init__(self):
        self.lock = threading.Lock()
        self.arrivals = []  # (time, raw message)

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.arrivals.append((time.monotonic(), envelope.content.decode("ascii", "replace")))
        return "250 OK"

    def count(self):
        with self.lock:
            return len(self.arrivals)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_ms(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])
    return ticks * 1000 / os.sysconf("SC_CLK_TCK")


class Client:
    def __init__(self, base):
        self.base = base
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
        )
        self.csrf = ""

    def call(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base + path, data=data, method=method)
        request.add_header("content-type", "application/json")
        if self.csrf:
            request.add_header("x-csrf-token", self.csrf)
        with self.opener.open(request) as response:
            text = response.read()
            return json.loads(text) if text else None

    def sign_in(self, email):
        session = self.call("POST", "/api/v1/session", {"email": email, "password": PASSWORD})
        self.csrf = session["csrf_token"]
        return session


def percentile(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def main():
    inbox = Inbox()
    smtp_port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=smtp_port)
    controller.start()
    data = tempfile.mkdtemp(prefix="speciosa-paging-")
    subprocess.run(
        [BIN, "admin", "create", "--data-dir", data, "--org", "Bench Clinic",
         "--email", "admin@bench.test", "--password-stdin"],
        input=PASSWORD + "\n", text=True, check=True, capture_output=True,
    )
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [BIN, "serve", "--data-dir", data, "--listen", f"127.0.0.1:{port}",
         "--smtp-url", f"smtp://127.0.0.1:{smtp_port}", "--mail-from", "Bench <alerts@bench.test>",
         "--staff-idle-minutes", "600"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(200):
            try:
                urllib.request.urlopen(base + "/readyz")
                break
            except OSError:
                time.sleep(0.1)
        admin = Client(base)
        admin.sign_in("admin@bench.test")
        admin.call("POST", "/api/v1/users", {"email": "casey@bench.test", "password": PASSWORD,
                                             "role": "clinician", "display_name": "Casey Doe"})
        clinician = Client(base)
        clinician.sign_in("casey@bench.test")
        patients = []
        for i in range(PATIENTS):
            patient = clinician.call("POST", "/api/v1/patients", {
                "display_name": f"Bench Patient {i}", "birth_date": "1985-03-14",
                "time_zone": "America/Chicago"})
            patients.append(patient["id"])
        answers = {str(i): 1 for i in range(1, 9)}
        answers["9"] = 2
        sent_at, latencies = [], []
        cpu_before = cpu_ms(server.pid)
        started = time.monotonic()
        for patient in patients:
            t = time.monotonic()
            clinician.call("POST", f"/api/v1/patients/{patient}/assessments",
                           {"instrument": "phq9", "answers": answers})
            latencies.append(time.monotonic() - t)
            sent_at.append(t)
        submitted = time.monotonic()
        while inbox.count() < PATIENTS and time.monotonic() - submitted < 120:
            time.sleep(0.05)
        finished = time.monotonic()
        cpu_after = cpu_ms(server.pid)
        delivered = inbox.count()
        # Pages arrive in submission order (one care team, one worker): pair them up.
        alert_times = []
        with inbox.lock:
            arrivals = list(inbox.arrivals)
        paged = [t for t, raw in arrivals if re.search(r"/alerts/[0-9a-f-]{36}", raw)]
        for index, t in enumerate(sorted(paged)):
            if index < len(sent_at):
                alert_times.append(t - sent_at[index])

        # The ceiling: the same number of e-mails straight from smtplib.
        before = inbox.count()
        ceiling_started = time.monotonic()
        for i in range(PATIENTS):
            message = EmailMessage()
            message["From"] = "alerts@bench.test"
            message["To"] = "casey@bench.test"
            message["Subject"] = "ceiling"
            message.set_content("An urgent alert needs you.\n" + base + "/alerts/x\n")
            with smtplib.SMTP("127.0.0.1", smtp_port) as smtp:
                smtp.send_message(message)
        while inbox.count() < before + PATIENTS:
            time.sleep(0.01)
        ceiling = PATIENTS / (time.monotonic() - ceiling_started)
        rate = delivered / (finished - started)
        print(f"urgent check-ins: {PATIENTS}, pages delivered: {delivered}")
        print(f"urgent check-in latency: p50 {percentile(latencies, 50) * 1000:.1f} ms, "
              f"p99 {percentile(latencies, 99) * 1000:.1f} ms")
        print(f"server CPU per urgent check-in (incl. its page's delivery): "
              f"{(cpu_after - cpu_before) / PATIENTS:.2f} ms")
        print(f"submission to e-mail received: p50 {percentile(alert_times, 50) * 1000:.0f} ms, "
              f"p99 {percentile(alert_times, 99) * 1000:.0f} ms")
        print(f"pages delivered/s: {rate:.1f}; ceiling (smtplib, one connection per message): "
              f"{ceiling:.1f}/s; ratio {rate / ceiling:.2f}")
        return 0 if delivered == PATIENTS else 1
    finally:
        server.terminate()
        server.wait()
        controller.stop()


if __name__ == "__main__":
    sys.exit(main())
