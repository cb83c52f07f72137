"""The written part of the instructor's guide, one module per notebook (named as its lesson). An
answer says what to look for and why, never a number: every number comes from the panels when the
guide is built (instructor/probe.py).

Each module holds, for its notebook:
    QUESTIONS  one Q per question beside a panel, in the notebook's order (numbered 1, 2, ...
               across its question lists). `asks` is how the question starts (a test checks that
               it still does); `settings` are the probe expressions (instructor/probe.py) whose
               captions the guide prints under the answer; `reading`, an expression evaluated at
               each setting, adds what the figure shows and the caption does not say.
    PANELS     {a figure or panel (a panel by its variable name): [what to say there, one or two
               points]}
    MISTAKES   what students are likely to get wrong in that notebook
"""

from dataclasses import dataclass, field
from importlib import import_module


@dataclass(frozen=True)
class Q:
    asks: str
    answer: str
    settings: list = field(default_factory=list)
    reading: str = ""


MODULES = {"00_toy_problem": "toy", "01_transfer_learning": "transfer",
           "02_multi_task_learning": "multitask", "03_maml": "maml", "04_first_order_maml": "fomaml",
           "05_imaml": "imaml", "06_imaml_in_depth": "in_depth", "07_beyond_imaml": "beyond",
           "08_takeaways": "takeaways"}


def for_notebook(stem):
    """The notebook's module of answers (QUESTIONS, PANELS, MISTAKES)."""
    return import_module(f"instructor.answers.{MODULES[stem]}")
