"""What every exercise checker (helpers.lessons.<topic>.exercises.check_*) is built on.

A checker calls the student's function (through `call`, so an unfinished stub or a bug becomes a
message, never an exception), compares it with an independent computation and `report`s. When the
answer is wrong, `likely_mistake` names the usual slip whose result it matches (the wrong set, one
step too few, a sign), so the message says what to check, not only how far off the answer is.
"""


def report(ok, message):
    """Print "correct: ..." or "not yet right: ..." and return ok."""
    print(("correct: " if ok else "not yet right: ") + message)
    return ok


def call(fn, *args, name=None):
    """(value, None), or (None, a message) if the student's function raised or returned None."""
    name = name or getattr(fn, "__name__", "your function")
    try:
        value = fn(*args)
    except NotImplementedError:
        return None, f"{name} is not implemented yet (it raised NotImplementedError)"
    except Exception as err:  # an error in a student's code is an answer that is not yet right
        return None, f"{name} raised {type(err).__name__}: {err}"
    if value is None:
        return None, f"{name} returned None: replace the stub with your code"
    return value, None


def likely_mistake(got, mistakes, matches):
    """The hint of the first (hint, wrong) pair in `mistakes` whose wrong answer `got` reproduces,
    `matches(got, wrong())` (wrong is a callable, so a wrong answer is computed only when needed),
    else None."""
    for hint, wrong in mistakes:
        try:
            if matches(got, wrong()):
                return hint
        except (TypeError, ValueError, RuntimeError):  # a wrong answer of another shape: no match
            continue
    return None


def with_hint(message, hint):
    """message, followed by "Likely mistake: hint." when a hint was found."""
    return message if hint is None else f"{message}. Likely mistake: {hint}."
