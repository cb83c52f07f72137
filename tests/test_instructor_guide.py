"""The instructor's guide (instructor/, `python -m instructor.build_guide`): every question beside a
panel has an answer, the pages are built from the current answers, and every caption the guide
prints is still what its panel shows at that setting (each panel rebuilt in this process from only
the cells it needs; the race of 08, timed throughout, is left out, and wall times in captions are
blanked)."""

import sys
from pathlib import Path

import nbformat
import pytest

from instructor import probe
from instructor.answers import MODULES, for_notebook

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
from course_time import questions  # noqa: E402

GUIDE = ROOT / "instructor"
STEMS = list(MODULES)
WITH_QUESTIONS = [s for s in STEMS if for_notebook(s).QUESTIONS]


def read(stem):
    return nbformat.read(ROOT / "notebooks" / f"{stem}.ipynb", as_version=4)


@pytest.mark.parametrize("stem", STEMS)
def test_every_question_has_an_answer(stem):
    asked, answers = questions(read(stem)), for_notebook(stem).QUESTIONS
    assert len(answers) == len(asked), f"{len(asked)} questions in the notebook, {len(answers)} answers"
    for n, ((_, _, text), q) in enumerate(zip(asked, answers, strict=True), 1):
        assert text.startswith(q.asks), f"question {n} now reads {text[:80]!r}"
        assert q.answer.strip(), f"question {n} has no answer"


@pytest.mark.parametrize("stem", STEMS)
def test_the_page_is_built_from_the_current_answers(stem):
    page = (GUIDE / f"{stem}.md").read_text()
    answers = for_notebook(stem)
    for text in [q.answer for q in answers.QUESTIONS] + [p for ps in answers.PANELS.values() for p in ps]:
        assert text in page, f"instructor/{stem}.md is stale: run python -m instructor.build_guide {stem}"


def test_the_index_and_deck_pages_exist():
    index = (GUIDE / "index.md").read_text()
    assert all(f"({stem}.md)" in index for stem in STEMS) and "(deck.md)" in index
    assert (GUIDE / "deck.md").exists()


@pytest.mark.slow
@pytest.mark.parametrize("stem", WITH_QUESTIONS)
def test_every_computed_answer_is_what_its_panel_shows(stem):
    page = probe.untimed((GUIDE / f"{stem}.md").read_text()).splitlines()
    rows = probe.probe_in_process(ROOT / "notebooks" / f"{stem}.ipynb", questions(read(stem)),
                                  for_notebook(stem).QUESTIONS)
    lines = [probe.untimed(probe.line(row)) for found in rows.values() for row in found]
    assert lines, "no probe ran"
    changed = [line for line in lines if line not in page]
    assert not changed, f"the panel now shows (rebuild the guide and reread the answers): {changed}"


@pytest.mark.slow
def test_the_deck_page_is_what_the_deck_shows():
    from instructor.deck_guide import deck_page

    assert probe.untimed(deck_page()) == probe.untimed((GUIDE / "deck.md").read_text())
