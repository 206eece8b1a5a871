"""Screenshots of every TUI screen from a real demo run, for docs/tui.md.

Starts ``esl-connector demo --no-tui`` (simulator, connector, CRM receivers,
one of them flaky), lets it take calls for ``--seconds`` and until a dead
letter shows, then drives the TUI headless over the demo's status API and saves
one SVG per screen in docs/images/. Run it with ``make screenshots``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tui.app import ConnectorApp  # noqa: E402
from tui.client import StatusClient  # noqa: E402

OUT = ROOT / "docs" / "images"
SIZE = (150, 42)


def dead_letters(url: str) -> int:
    with urllib.request.urlopen(f"{url}/api/v1/deliveries?status=dead", timeout=5) as answer:
        return len(json.load(answer)["deliveries"])


def start_demo(db: Path, speed: float, rate: float) -> tuple[subprocess.Popen, str]:
    demo = subprocess.Popen([sys.executable, "-m", "esl_connector.cli", "demo", "--no-tui", "--speed", str(speed),
                             "--calls-per-second", str(rate), "--database", str(db)],
                            stdout=subprocess.PIPE, text=True, cwd=ROOT)
    for line in demo.stdout:
        found = re.search(r"Connector HTTP API on (http://[\d.]+:\d+)", line)
        if found:
            threading.Thread(target=demo.stdout.read, daemon=True).start()  # keep its pipe flowing
            return demo, found.group(1)
    raise SystemExit("the demo did not start")


async def settle(pilot, screen_type=None) -> None:
    app, before = pilot.app, getattr(pilot.app.screen, "loads", 0)
    for _ in range(200):
        screen = app.screen
        if (screen_type is None or isinstance(screen, screen_type)) and getattr(screen, "loads", 0) > before:
            break
        await pilot.pause(0.05)
    await pilot.pause(0.3)


async def shoot(url: str) -> None:
    from tui.screens.attempt import AttemptScreen
    from tui.screens.call_detail import CallDetailScreen
    from tui.screens.delivery_detail import DeliveryDetailScreen
    from tui.screens.help import HelpScreen
    app = ConnectorApp(StatusClient(url), refresh=1.0)
    async with app.run_test(size=SIZE) as pilot:
        for key, name in (("1", "dashboard"), ("2", "extensions"), ("3", "calls"), ("4", "deliveries")):
            await pilot.press(key)
            await settle(pilot)
            app.save_screenshot(f"tui-{name}.svg", str(OUT))
        await pilot.press("s")  # the dead letters
        await settle(pilot)
        table = app.screen.query_one("#deliveries-table")
        table.focus()
        await pilot.press("enter")
        await settle(pilot, DeliveryDetailScreen)
        app.save_screenshot("tui-delivery.svg", str(OUT))
        await pilot.press("enter")  # its newest attempt
        await settle(pilot, AttemptScreen)
        app.save_screenshot("tui-attempt.svg", str(OUT))
        await pilot.press("escape", "escape", "3", "down", "down", "enter")
        await settle(pilot, CallDetailScreen)
        app.save_screenshot("tui-call.svg", str(OUT))
        await pilot.press("escape", "2")
        await settle(pilot)
        await pilot.press("slash", "f", "l", "a", "k", "y", "enter")
        await settle(pilot)
        app.save_screenshot("tui-filter.svg", str(OUT))
        await pilot.press("question_mark")
        await pilot.pause(0.3)
        assert isinstance(app.screen, HelpScreen)
        app.save_screenshot("tui-keys.svg", str(OUT))
    small = ConnectorApp(StatusClient(url), refresh=1.0, theme="textual-light")
    async with small.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        small.save_screenshot("tui-80x24-light.svg", str(OUT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=90.0, help="how long the demo runs first")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        demo, url = start_demo(Path(tmp) / "demo.db", speed=1.0, rate=1.0)  # real time: real clocks
        try:
            time.sleep(args.seconds)
            deadline = time.monotonic() + args.seconds * 3  # the flaky CRM's 400s: every 9th request
            while not dead_letters(url) and time.monotonic() < deadline:
                time.sleep(2)
            asyncio.run(shoot(url))
        finally:
            demo.terminate()
            demo.wait(timeout=20)
    print(f"screenshots in {OUT}")


if __name__ == "__main__":
    main()
