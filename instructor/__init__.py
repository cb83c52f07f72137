"""The instructor's guide: `python -m instructor.build_guide` writes instructor/*.md.

answers      the written part, one module per notebook: for every question beside a panel the
             settings it asks about and the expected answer (the why, never a number); what to say
             at each figure and panel; the likely mistakes
probe        reads a panel's caption at those settings: in the notebook run with probe cells (the
             guide), or with each panel built from only the cells it needs (the test)
readings     what a panel's figure shows and its caption does not say, from the panel's own data
build_guide  plans each notebook's class minute by minute (tools/course_time.py) and writes its
             page, the deck's page (deck_guide) and an index
deck_guide   the deck's live panels at their opening and at the moves worth making, the measured
             limitations, the static fallback
"""
