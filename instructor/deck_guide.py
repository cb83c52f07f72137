"""The deck's page of the instructor's guide: written in the next step."""


def deck_page():
    return "# Guide: the lecture deck\n"
