# Two commands do all the set-up on a fresh machine with Python 3.11:
#   make lab    opens the course in JupyterLab
#   make test   runs every test (unit tests + every notebook with nbval)
# Each creates the local environment .venv on first use.
PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: lab test lint bench pretrain clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

lab: $(STAMP)
	$(BIN)/jupyter lab --notebook-dir=notebooks

test: $(STAMP)
	$(BIN)/ruff check helpers tests benchmarks
	$(BIN)/pytest --nbval-lax --nbval-current-env

pretrain: $(STAMP)
	$(BIN)/python -m helpers.pretrain

clean:
	rm -rf $(VENV)
