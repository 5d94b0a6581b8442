"""A full benchmark rerun rewrites the table of docs/BENCHMARKS.md but keeps the sections written
by other runs or by hand (the GPU check, the soak, the in-window speed analysis)."""
from benchmarks.common import KEPT_SECTIONS, section_markers
from benchmarks.run_all import render


def test_a_rerun_keeps_every_marked_section_verbatim():
    previous = "# Benchmarks\n\n| old table |\n"
    for key in KEPT_SECTIONS:
        begin, end = section_markers(key)
        previous += f"\n## {key}\n\n{begin}\nwritten for {key}:\n- a list item\n{end}\n"
    report = render([], [], previous)
    assert "| old table |" not in report
    for key, (heading, _) in KEPT_SECTIONS.items():
        begin, end = section_markers(key)
        assert f"## {heading}\n\n{begin}\nwritten for {key}:\n- a list item\n{end}" in report


def test_a_first_run_says_what_is_not_written_yet():
    report = render([], [], "")
    for key, (_, placeholder) in KEPT_SECTIONS.items():
        begin, end = section_markers(key)
        assert f"{begin}\n{placeholder}\n{end}" in report
