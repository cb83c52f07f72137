"""The typed part of the instructor's guide. Every number comes from the panels at run time
(instructor/build_guide.py): an answer here says what to look for and why, never a value.

QUESTIONS[notebook]: one Q per question beside a panel, in the notebook's order (numbered 1, 2, ...
across the notebook's question lists). `asks` is how the question starts (a test checks that it
still does); `settings` are Python expressions evaluated in the notebook's kernel, each a dict of
the panel's controls: the guide prints the panel's caption at each.
PANELS[notebook]: what to say at each panel (its variable name in the notebook), one or two points.
MISTAKES[notebook]: what students are likely to get wrong in that notebook.
"""

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Q:
    asks: str
    answer: str
    settings: list = field(default_factory=list)
    mistake: str = ""


QUESTIONS = {}
PANELS = {}
MISTAKES = {}
