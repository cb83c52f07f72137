"""The instructor's guide: `python -m instructor.build_guide` writes instructor/*.md.

answers      the typed part: for every question beside a panel, the settings it asks about, the
             expected answer and the likely mistake; what to say at each panel
build_guide  runs each notebook with probe cells after its questions (the panels' own captions at
             those settings), plans the class minute by minute (tools/course_time.py) and writes
             one page per notebook, one for the deck and an index
"""
