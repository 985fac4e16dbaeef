# fanzha: `make run` starts the assistant, `make test` runs every check.
VENV   := .venv
PY     := $(VENV)/bin/python
RASA   := $(VENV)/bin/rasa
MODEL  := models/fanzha.tar.gz
FAQ_DOMAIN := bot/domain/faq_answers.yml
TRAINING_INPUTS := config.yml $(FAQ_DOMAIN) $(wildcard bot/domain/*.yml nlu/*.yml nlu/jieba/* stories/*.yml)
export TF_CPP_MIN_LOG_LEVEL := 2
export SQLALCHEMY_SILENCE_UBER_WARNING := 1
# pytest's worker processes (pytest-xdist): one per core of the 2-core machine the suite is timed on.
# Each file runs whole on one worker, files sharing a loaded model on the same one, the costliest first (tests/conftest.py).
PYTEST_WORKERS ?= 2
PYTEST := $(VENV)/bin/pytest -n $(PYTEST_WORKERS) --dist loadgroup --no-loadscope-reorder

.PHONY: run test test-fast check system-packages install validate train nlu-gate conversation-tests model-gates unit-tests pytest container-test bench clean

run: install $(FAQ_DOMAIN) $(MODEL)
	scripts/run.sh

# Training keeps about one and a half of the two cores busy, so the unit tests run beside it
# (-j2), in two workers at the lowest priority: they take what training leaves, then both cores
# (training beside them 208 s -> 147 s, this step 225 s -> 173 s, with 18 s of a core idle).
# The tests that need the model or start servers run after, in two workers.
test: system-packages install check validate
	$(MAKE) --no-print-directory -j2 --output-sync=target model-gates unit-tests
	$(PYTEST) -q -m "not unit"

# Lint and type-check (ruff and mypy, set up in pyproject.toml): seconds, so it runs first.
check: install
	$(VENV)/bin/ruff check bot actions knowledge bench scripts tests
	$(VENV)/bin/mypy

# The inner loop: the checks and the unit tests (no model, no server, no browser; tests/tiers.py).
test-fast: install check $(FAQ_DOMAIN)
	$(PYTEST) -q -m unit

# Chromium, fonts, PostgreSQL and Redis for the browser and scale-out tests: installed when run as
# root, otherwise the command stops and prints the exact command to run (never skipped silently).
system-packages:
	scripts/system_packages.sh

install:
	scripts/bootstrap.sh

# The FAQ answers live in knowledge/faq.yml; Rasa wants them as domain responses.
$(FAQ_DOMAIN): knowledge/faq.yml bot/cli/faq_domain.py
	$(PY) -m bot.cli.faq_domain $@

# Retrain only when the training data, the domain or the config changed.
$(MODEL): $(TRAINING_INPUTS)
	$(RASA) train --config config.yml --domain bot/domain --data nlu stories \
	    --out models --fixed-model-name fanzha --quiet

train: install $(MODEL)

validate: $(FAQ_DOMAIN)
	scripts/validate.sh

nlu-gate: $(MODEL)
	$(PY) scripts/nlu_gate.py --model $(MODEL) --test-file tests/nlu/holdout.yml --min-macro-f1 0.90

# On the server as it runs (bot/rasa_patches/ installed); tests/test_patch_parity.py shows stock Rasa agrees.
conversation-tests: $(MODEL)
	$(PY) -m bot.cli.rasa_server test core --model $(MODEL) --stories tests/stories --out results/core \
	    --fail-on-prediction-errors --no-plot

# The model, the NLU gate and the conversation tests.
model-gates: nlu-gate conversation-tests

unit-tests: $(FAQ_DOMAIN)
	nice -n 19 $(PYTEST) -q -m unit

pytest:
	$(PYTEST) -q

# Builds deploy/Dockerfile's image with podman (as root; minutes) and talks to it: not in `make test`.
container-test: install $(MODEL)
	FANZHA_CONTAINER_TEST=1 $(VENV)/bin/pytest -q tests/test_container.py

bench: install $(MODEL)
	$(PY) bench/checker_bench.py
	$(PY) bench/ocr_bench.py --count 64
	$(PY) bench/lookup_bench.py
	$(PY) bench/risklist_bench.py
	$(PY) bench/rest_bench.py
	$(PY) bench/wechat_bench.py --messages 500 --concurrency 8
	$(PY) bench/voice_bench.py --calls 200 --concurrency 10
	$(PY) bench/storage_bench.py --reports 1000
	$(PY) bench/load_bench.py --users 50 --duration 300 --socketio-share 0.3 --warmup 10

clean:
	rm -rf models results .pytest_cache
