"""Take the screenshots of docs/labelling.md (docs/img/label-*.png) in headless Chromium.

    .venv/bin/python docs/screenshots.py

Needs Debian's chromium and chromium-driver and the selenium package (the test extra). It runs
`summariser label` on the seed dump with fewshot-v4 (TF-IDF only: no model is loaded), in a
temporary folder whose labelled file starts with the gold labels of 40 seed papers, so the
progress and the classifier's suggestion show what they look like mid-way. The review shot
reviews fewshot-v8's answers to the seed papers as committed in evals/results/ (its eval keeps
no per-paper confidence, so none is shown).
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "img"
DUMP = ROOT / "examples" / "papers-dump.txt"
GOLD = [json.loads(line) for line in (ROOT / "evals" / "gold.jsonl").read_text().splitlines()]
RESULT = ROOT / "evals" / "results" / "2026-12-02-fewshot-v8.json"
VERSION = "fewshot-v4"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(folder: Path, *extra: str, probe: str = GOLD[0]["id"]) -> tuple[subprocess.Popen, str]:
    """`summariser label` on the seed dump; returns the process and the page's address."""
    port = free_port()
    args = [sys.executable, "-m", "summariser", "label", str(DUMP), "--prompt", VERSION, "--no-browser", "--port", str(port),
            "-o", str(folder / "labelled.jsonl"), "--cache-dir", str(folder / "cache"), *extra]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # until the ranking runs on TF-IDF, not dump order
        try:
            with urllib.request.urlopen(f"{url}api/suggestion?id={probe}", timeout=2) as resp:
                if json.loads(resp.read())["ranked_by"] != "no features yet":
                    return proc, url
        except OSError:
            pass
        time.sleep(0.1)
    proc.kill()
    raise SystemExit("summariser label did not start")


def browser() -> webdriver.Chrome:
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,1000", "--hide-scrollbars"):
        options.add_argument(arg)
    return webdriver.Chrome(options=options, service=Service(executable_path="/usr/bin/chromedriver"))


def shown(driver: webdriver.Chrome) -> str:
    return driver.find_element(By.ID, "paper").get_attribute("data-id") or ""


def key_of(field: str, value: str) -> str:
    from summariser.prompting.store import load_prompt

    values = list(load_prompt(VERSION).field(field).values)
    return "1234567890"[values.index(value)]


def shoot(driver: webdriver.Chrome, name: str) -> None:
    height, chrome = driver.execute_script(
        "return [document.documentElement.scrollHeight, window.outerHeight - window.innerHeight]")
    driver.set_window_size(1280, min(height + chrome, 1600))
    time.sleep(0.2)  # a frame to lay out at the new size
    driver.save_screenshot(str(OUT / name))
    print(f"wrote {OUT / name}")


def labelling(driver: webdriver.Chrome, folder: Path) -> None:
    """A paper mid-answer, then the line after an answer with the classifier's view."""
    gold = {row["id"]: row for row in GOLD}
    seeded = "".join(json.dumps({k: row[k] for k in ("id", "title", "annotator", "labels")}) + "\n" for row in GOLD[:40])
    (folder / "labelled.jsonl").write_text(seeded)
    proc, url = start(folder)
    try:
        wait = WebDriverWait(driver, 20)
        driver.get(url)
        wait.until(lambda d: shown(d))
        for n in range(2):  # answer two papers as the gold set does; the first shot mid-answer
            labels = gold[shown(driver)]["labels"]
            before = shown(driver)
            ActionChains(driver).send_keys(key_of("topic", labels["topic"])).perform()
            if n == 0:
                shoot(driver, "label-page.png")
            ActionChains(driver).send_keys(key_of("contribution", labels["contribution"])).perform()
            wait.until(lambda d: shown(d) != before)
        wait.until(lambda d: "classifier would have said" in d.find_element(By.ID, "previous").text)
        shoot(driver, "label-after-answer.png")
    finally:
        proc.kill()


def review(driver: webdriver.Chrome, folder: Path) -> None:
    """Review mode: fewshot-v8's answer selected, to confirm with Enter or correct."""
    version = json.loads(RESULT.read_text())["versions"][0]
    titles = {row["id"]: row["title"] for row in GOLD}
    rows = [{"id": pid, "title": titles[pid], "summary": version["summaries"].get(pid), "labels": labels,
             "confidence": {}, "needs_review": False} for pid, labels in version["predictions"].items()]
    (folder / "out.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows[5:40]))
    (folder / "labelled.jsonl").write_text("")
    proc, url = start(folder, "--review", str(folder / "out.jsonl"), "--annotator", "a2", probe=rows[5]["id"])
    try:
        driver.set_window_size(1280, 1000)
        driver.get(url)
        WebDriverWait(driver, 20).until(lambda d: shown(d))
        shoot(driver, "label-review.png")
    finally:
        proc.kill()


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    driver = browser()
    try:
        with tempfile.TemporaryDirectory() as one, tempfile.TemporaryDirectory() as two:
            labelling(driver, Path(one))
            review(driver, Path(two))
    finally:
        driver.quit()


if __name__ == "__main__":
    main()
