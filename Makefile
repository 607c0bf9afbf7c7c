# `sam build` runs these targets (BuildMethod: makefile in template.yaml):
# each function is built with the `lambda` profile of Cargo.toml (size over
# speed, fat LTO, abort on panic), cross-compiled by cargo-lambda, and its
# `bootstrap` placed in ARTIFACTS_DIR.
#
# The architecture comes from template.yaml's `Architectures:` line, the
# same line the deployed functions use: SAM tells a Makefile nothing about
# it, so reading it here is what keeps a build from silently mismatching the
# deploy. To build for x86-64, change that line to [x86_64].
ARCH := $(shell sed -n 's/^ *Architectures: *\[\([a-z0-9_]*\)\].*/\1/p' template.yaml | head -n 1)
ifeq ($(ARCH),arm64)
LAMBDA_TARGET := --arm64
else ifeq ($(ARCH),x86_64)
LAMBDA_TARGET := --x86-64
else
$(error template.yaml's Architectures line says "$(ARCH)"; it must be [arm64] or [x86_64])
endif
LAMBDA_BUILD = cargo lambda build --profile lambda --locked $(LAMBDA_TARGET)

build-IngestFunction:
	$(LAMBDA_BUILD) -p hookline-ingest --bin ingest --lambda-dir "$(ARTIFACTS_DIR)" --flatten ingest

build-DeliverFunction:
	$(LAMBDA_BUILD) -p hookline-deliver --bin deliver --lambda-dir "$(ARTIFACTS_DIR)" --flatten deliver

build-RetryFunction:
	$(LAMBDA_BUILD) -p hookline-retry --bin retry --lambda-dir "$(ARTIFACTS_DIR)" --flatten retry

build-OutboxFunction:
	$(LAMBDA_BUILD) -p hookline-outbox --bin outbox --lambda-dir "$(ARTIFACTS_DIR)" --flatten outbox

build-IngestQueueFunction:
	$(LAMBDA_BUILD) -p hookline-ingest-queue --bin ingest-queue --lambda-dir "$(ARTIFACTS_DIR)" --flatten ingest-queue

# What the build would target, for a look before `sam build`.
print-arch:
	@echo "$(ARCH) ($(LAMBDA_TARGET))"
