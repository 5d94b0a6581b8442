"""One process: every lesson's experiment run headless, then in the window's
Experiment panel (one click, live curves on screen), timed the same way.
Prints `RESULT <json>`. Used by bench_lessons_window; run with QT_QPA_PLATFORM=offscreen."""
from __future__ import annotations

import json
import sys
import time


def main(only: list[str]) -> None:
    from gui.app import create_application
    from gui.main_window import MainWindow
    from gui.screenshots import wait_for

    create_application()
    window = MainWindow(restore_settings=False)
    window.resize(1280, 800)
    window.show()
    window.create_panels()
    from engine.device import warm_up
    from engine.lessons import experiments, run_experiment
    from engine.pretrained import load_classifier

    warm_up()  # the window does this at start-up
    load_classifier()  # and keeps the ImageNet model once loaded
    panel = window.show_panel("Experiment")
    ended = []
    panel.jobs.succeeded.connect(lambda *_: ended.append("ok"))
    panel.jobs.failed.connect(lambda *_: ended.append("failed"))
    panel.jobs.stopped.connect(lambda *_: ended.append("stopped"))
    rows = []
    for exp in experiments():
        if only and exp.lesson_id not in only:
            continue
        start = time.perf_counter()
        headless = run_experiment(exp)
        headless_s = time.perf_counter() - start
        panel.result = None
        ended.clear()
        start = time.perf_counter()
        panel.run_lesson(exp.lesson_id)
        wait_for(lambda: bool(ended), 900)  # the job's own end signal, then its result is on screen
        window_s = time.perf_counter() - start
        result = panel.result
        rows.append({"lesson": exp.lesson_id, "headless_s": headless_s, "window_s": window_s,
                     "headless_shows_point": headless.shows_point,
                     "window_shows_point": bool(result and result.shows_point),
                     "same_numbers": bool(result) and result.summary == headless.summary,
                     "summary": result.summary if result else panel.headline.text()})
    window.close()
    print("RESULT " + json.dumps(rows), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
