"""The plateau study (helpers.lessons.imaml.plateau), run from the command line; a module of its own
because the lesson's package imports plateau, which `python -m` would then run a second time.

    python -m helpers.lessons.imaml.plateau_study             # writes helpers/weights/plateau_study.json
    python -m helpers.lessons.imaml.plateau_study --quick --out /tmp/plateau.json   # a smoke run
"""

from .plateau import main

if __name__ == "__main__":
    main()
