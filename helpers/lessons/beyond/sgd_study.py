"""Notebook 07's study of an SGD inner loop (helpers.lessons.beyond.stochastic), run from the command
line; a module of its own because the lesson's package imports stochastic, which `python -m` would
then run a second time.

    python -m helpers.lessons.beyond.sgd_study          # writes helpers/weights/sgd_study.json
    python -m helpers.lessons.beyond.sgd_study --quick  # a short smoke run, written to /tmp
"""

from .stochastic import main

if __name__ == "__main__":
    main()
