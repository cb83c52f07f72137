# Two commands do all the set-up on a fresh machine with Python 3.11:
#   make lab    opens the course in JupyterLab
#   make test   runs every test (unit tests + every notebook with nbval) after `make book`
# Each creates the local environment .venv on first use, with the exact versions of constraints.txt.
#   make doctor checks this machine before class (python -m helpers.doctor)
PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: lab test doctor bench pretrain tuning plateau sgd-study clean-notebooks clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv --clear $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[test,book]'
	touch $(STAMP)

lab: $(STAMP)
	$(BIN)/jupyter lab --notebook-dir=notebooks

# The tests marked `numerics` run a second time on other floating-point kernels of this CPU, as
# another machine would: ATen's generic (not vectorised) kernels and MKL held to SSE4.2 (the BLAS
# picks its kernels by CPU; ATEN_CPU_CAPABILITY alone leaves the matrix products unchanged).
OTHER_KERNELS := ATEN_CPU_CAPABILITY=default MKL_ENABLE_INSTRUCTIONS=SSE4_2

test: $(STAMP) book
	$(BIN)/ruff check helpers tests benchmarks lecture book tools instructor conftest.py
	$(BIN)/pytest --nbval-lax --nbval-current-env
	@start=$$(date +%s) && $(OTHER_KERNELS) $(BIN)/pytest -m numerics -q -p no:cacheprovider tests && \
	    echo "numerics on other kernels: $$(( $$(date +%s) - start )) s"

doctor: $(STAMP)
	$(BIN)/python -m helpers.doctor

bench: $(STAMP)
	$(BIN)/python -m benchmarks.bench_peers $(BENCH_ARGS)
	$(BIN)/python -m benchmarks.bench_meta_iteration
	$(BIN)/python -m benchmarks.bench_race
	$(BIN)/python -m benchmarks.bench_panels

pretrain: $(STAMP)
	$(BIN)/python -m helpers.lessons.pretrain

# iMAML's tuning study (notebook 05, section 6): stage 1 as the course ran it, resumable
tuning: $(STAMP)
	$(BIN)/python -m helpers.lessons.imaml.tuning_study --stages 1

# Why iMAML's 5-shot error lagged (notebook 06, section 4): controlled experiments, resumable
plateau: $(STAMP)
	$(BIN)/python -m helpers.lessons.imaml.plateau_study

sgd-study: $(STAMP)
	$(BIN)/python -m helpers.lessons.beyond.sgd_study

clean-notebooks: $(STAMP)
	$(BIN)/jupyter nbconvert --clear-output --inplace notebooks/*.ipynb $(wildcard solutions/*.ipynb)

clean:
	rm -rf $(VENV)

# The lecture deck (notebooks/lecture_imaml.ipynb), see "Presenting the lecture" in the README.
#   make present   live slides in the browser (Voila, reveal template, code hidden; no internet needed)
#   make slides    build/slides/: a static HTML deck, and a PDF of the live deck when Chromium is here
# reveal.js, jQuery, RequireJS and MathJax come from the npm registry into lecture/node_modules
# (git-ignored), pinned by lecture/package-lock.json.
PORT     ?= 8866
ASSETS   := lecture/node_modules/.installed
CHROMIUM ?= /usr/bin/chromium

.PHONY: present slides slides-html lecture-assets

lecture-assets: $(ASSETS)

$(ASSETS): lecture/package.json lecture/package-lock.json
	cd lecture && npm ci --no-audit --no-fund --loglevel=error
	touch $@

present: $(STAMP) $(ASSETS)
	$(BIN)/voila --Voila.config_file_paths=lecture --Voila.root_dir=. --Voila.ip=127.0.0.1 \
	    --port=$(PORT) notebooks/lecture_imaml.ipynb

slides: slides-html
	@if [ -x $(CHROMIUM) ]; then $(BIN)/python lecture/deck.py pdf build/slides/lecture_imaml.pdf; \
	else echo "no $(CHROMIUM): skipped the PDF (apt-get install chromium)"; fi

# The HTML deck alone (the website carries it)
slides-html: $(STAMP) $(ASSETS)
	rm -rf build/slides
	mkdir -p build/slides/reveal.js/plugin/notes
	cp -R lecture/node_modules/reveal.js/dist build/slides/reveal.js/dist
	cp lecture/node_modules/reveal.js/dist/plugin/notes.js build/slides/reveal.js/plugin/notes/
	mkdir -p build/slides/mathjax
	cp lecture/node_modules/mathjax/es5/tex-svg-full.js build/slides/mathjax/
	cp lecture/node_modules/requirejs/require.js lecture/node_modules/jquery/dist/jquery.min.js \
	    build/slides/
	PYTHONPATH=tools $(BIN)/jupyter nbconvert --config=lecture/nbconvert_slides.json \
	    --to slides --execute notebooks/lecture_imaml.ipynb --output-dir=build/slides \
	    --output=lecture_imaml

# The course as a website (book/make_book.py): every notebook run afresh, the static slides linked,
# MathJax and every script served by the site itself. Open build/book/_build/html/index.html.
.PHONY: book

book: $(STAMP) $(ASSETS)
	@start=$$(date +%s) && $(MAKE) --no-print-directory slides-html && \
	    $(BIN)/python book/make_book.py && echo "make book: $$(( $$(date +%s) - start )) s in all"
