"""Exercise checkers, one module per notebook topic: each check_* says whether an answer is right."""
