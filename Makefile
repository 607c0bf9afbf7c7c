# `sam build` runs these targets (BuildMethod: makefile in template.yaml):
# each function is built with the `lambda` profile of Cargo.toml (size over
# speed, fat LTO, abort on panic), cross-compiled by cargo-lambda for the
# architecture in template.yaml (arm64), and its `bootstrap` placed in
# ARTIFACTS_DIR. Override the target with LAMBDA_TARGET=--x86-64.
LAMBDA_TARGET ?= --arm64
LAMBDA_BUILD = cargo lambda build --profile lambda --locked $(LAMBDA_TARGET)

build-IngestFunction:
	$(LAMBDA_BUILD) --bin ingest --lambda-dir "$(ARTIFACTS_DIR)" --flatten ingest

build-DeliverFunction:
	$(LAMBDA_BUILD) --bin deliver --lambda-dir "$(ARTIFACTS_DIR)" --flatten deliver

build-RetryFunction:
	$(LAMBDA_BUILD) --bin retry --lambda-dir "$(ARTIFACTS_DIR)" --flatten retry
