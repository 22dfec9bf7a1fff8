# The two commands a new user needs (README.md):
#   make run    install what is missing, build, start snipd on ./data
#   make test   install what is missing, build, run the whole suite
# Both use Debian's packages only (bazel/install_deps.sh) and build offline.

BAZEL ?= bazel
LISTEN ?= 127.0.0.1:50051
DATA_DIR ?= $(CURDIR)/data

.PHONY: run test deps build bench lint install

# make install: optimised binaries, man pages, systemd units, the snipwise
# user (sysusers.d) and /etc/snipwise/snipd.conf (docs/OPERATIONS.md,
# "Install"). The copying is dist/install.sh, which the tests run too.
PREFIX ?= /usr/local
SYSCONFDIR ?= /etc
DESTDIR ?=
INSTALL_TARGETS = //service:snipd //clients/snipctl:snipctl //clients/nm:snipwise-nm

deps:
	./bazel/install_deps.sh

build: deps
	$(BAZEL) build //service:snipd //clients/snipctl:snipctl

run: build
	"$$($(BAZEL) info bazel-bin 2>/dev/null)/service/snipd" serve --listen $(LISTEN) --data-dir $(DATA_DIR)

test: deps
	$(BAZEL) test //...
	$(BAZEL) test --config=asan //...

install: deps
	$(BAZEL) build --config=opt $(INSTALL_TARGETS)
	B="$$($(BAZEL) info --config=opt bazel-bin 2>/dev/null)" && \
	DESTDIR="$(DESTDIR)" PREFIX="$(PREFIX)" SYSCONFDIR="$(SYSCONFDIR)" \
	    ./dist/install.sh "$$B/service/snipd" "$$B/clients/snipctl/snipctl" \
	    "$$B/clients/nm/snipwise-nm" "$(CURDIR)"

lint: deps
	$(BAZEL) test //bazel:lint

bench: deps
	./tests/bench/run.sh

# Mutation testing (tests/mutation/README.md): long, so not part of `make
# test`. Pass options through, e.g. make mutation MUTATION_ARGS="--module store".
.PHONY: mutation
mutation: deps
	python3 tests/mutation/run.py --bazel "$(BAZEL)" $(MUTATION_ARGS)
