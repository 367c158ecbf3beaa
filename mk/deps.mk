# mk/deps.mk: the "deps" suite of `make check`: tools/install-deps.sh's decisions (plain install, the one-transaction
# pin of a skewed mirror, downgrades, failure, interrupt, the old pin file) played against a fake apt on PATH, with
# no root, no network and nothing written outside $(BUILD). See tests/deps/run.sh.

CHECK_SUITES += deps
.PHONY: check-deps
check-deps:
	@mkdir -p $(BUILD)/results
	@BUILD=$(BUILD) RESULT=$(BUILD)/results/deps bash tests/deps/run.sh
