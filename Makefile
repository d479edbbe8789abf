# stilalarm: `make demo` runs the system, `make test` runs every test tier.
# Both set up everything themselves on a fresh Debian machine.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
SITE ?= examples/site.toml

# chromium: the HTML report test renders the report in a real headless browser
.PHONY: venv mosquitto nats chromium test test-unit lint demo bench broker clean screenshots soak texts-update texts-check texts-init \
	deb package-test apt-repo pi-wheels

venv: $(STAMP)

$(STAMP): pyproject.toml
	@scripts/ensure-python.sh $(PY)
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[console,web,dev]'
	@touch $(STAMP)

mosquitto:
	@scripts/ensure-mosquitto.sh

nats:
	@scripts/ensure-nats.sh

chromium:
	@scripts/ensure-chromium.sh

## all three tiers: unit (pure), broker (real mosquitto; the cluster profile's on real nats-server), e2e (real processes);
## TEST_WORKERS test files at once (pytest-xdist, a file's tests in one worker); TEST_WORKERS=0 runs them one by one
TEST_WORKERS ?= 2
test: venv mosquitto nats chromium
	$(BIN)/pytest -n $(TEST_WORKERS) --dist loadfile

test-unit: venv
	$(BIN)/pytest -m unit

lint: venv
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports

## make demo: mosquitto, one console, the lead's TUI on a terminal (else a scripted scenario).
## make demo PROFILE=cluster: 3 NATS nodes, consoles a and b, simulated units; a scripted failover
## (kill -9 of the active console, then of a broker node); docs/HA.md
PROFILE ?= mosquitto
demo: venv $(if $(filter cluster,$(PROFILE)),nats,mosquitto)
	$(BIN)/python -m stilalarm.devkit.demo --site $(SITE) --profile $(PROFILE)

bench: venv mosquitto
	$(BIN)/python -m bench --site $(SITE)

## seeded fault-injection soak with invariant checks (docs/RELIABILITY.md); not part of `make test` yet
DURATION ?= 180
SEED ?= $(shell date +%s)
UNITS ?= 20
FAULT_EVERY ?= 12
SHARDS ?= 4
soak: venv mosquitto
	$(BIN)/python -m soak --duration $(DURATION) --seed $(SEED) --units $(UNITS) --fault-every $(FAULT_EVERY) --shards $(SHARDS)

## text catalogue (docs/TEXTS.md): after editing the Dutch source (nl), bring en and fr up to date
I18N := console/i18n/locale
POT := run/i18n/stilalarm.pot
texts-update: venv
	$(BIN)/python scripts/texts.py pot --out $(POT)
	for l in en fr; do $(BIN)/pybabel update -i $(POT) -d $(I18N) -D stilalarm -l $$l -w 100 \
		--no-fuzzy-matching --ignore-obsolete --ignore-pot-creation-date || exit 1; done
	$(BIN)/python scripts/texts.py check

## every language has every message with the same placeholders, every id in the code exists
texts-check: venv
	$(BIN)/python scripts/texts.py check

## start a new language: make texts-init LANG=de (then add it to console/i18n LANGUAGES)
texts-init: venv
	$(BIN)/python scripts/texts.py pot --out $(POT)
	$(BIN)/pybabel init -i $(POT) -d $(I18N) -D stilalarm -l $(LANG) -w 100

## regenerate the console's and the panic page's screenshots in docs/screenshots/
screenshots: venv mosquitto chromium
	$(BIN)/python scripts/screenshots.py
	STILALARM_SCREENSHOTS=docs/screenshots $(BIN)/pytest -q tests/e2e/test_panic_page.py

## a local broker for development, config rendered into run/broker
broker: venv mosquitto
	$(BIN)/alarm-broker run --site $(SITE)

## Debian packages (docs/PACKAGES.md): stilalarm-unit and stilalarm-console for this machine's
## architecture (dh-virtualenv; on a Pi for the Pi), in run/deb
deb:
	scripts/build-deb.sh --out run/deb

## build, re-version as +test, then install, upgrade, purge and apt-get from the site's repository in clean
## Debian 12 chroots (debootstrap); as root. CI runs it every time (about 4 minutes).
package-test:
	scripts/package-test.sh

## put run/deb's packages into the site's apt repository (reprepro):
## make apt-repo REPO=/srv/stilalarm-apt SIGN_WITH=<the site's signing key id>
REPO ?= run/apt-repo
SIGN_WITH ?=
apt-repo:
	scripts/apt-repo.sh --repo $(REPO) $(if $(SIGN_WITH),--sign-with $(SIGN_WITH)) run/deb/*.deb

## can the packages be built on a Pi (arm64/armhf) without a compiler? asks PyPI for wheels
pi-wheels: venv
	$(BIN)/python scripts/check-pi-wheels.py

clean:
	rm -rf $(VENV) run build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache .hypothesis
