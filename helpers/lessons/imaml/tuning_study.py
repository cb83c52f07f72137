"""Notebook 05's tuning study (helpers.lessons.imaml.tuning), run from the command line; a module of
its own because the lesson's package imports tuning, which `python -m` would then run a second time.

    python -m helpers.lessons.imaml.tuning_study             # writes helpers/weights/tuning_study.json
    python -m helpers.lessons.imaml.tuning_study --quick --out /tmp/study.json   # a smoke run
"""

from .tuning import main

if __name__ == "__main__":
    main()
