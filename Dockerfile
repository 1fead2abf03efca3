# syntax=docker/dockerfile:1.7
# One image for every Apogee process: `apogee namesrv`, `apogee broker -c FILE`,
# `apogee standalone` and `apogee-operator`. Build and push:
#
#   docker build -t REGISTRY/apogee:TAG .
#   docker push REGISTRY/apogee:TAG
#
# CI cannot run an engine here; scripts/check-image lints this file and runs the build stage's
# cargo command (BUILD_COMMAND below) exactly.

ARG RUST_IMAGE=rust:1.95-slim-bookworm
ARG RUNTIME_IMAGE=gcr.io/distroless/cc-debian12:nonroot

FROM ${RUST_IMAGE} AS build
WORKDIR /src
# Dependencies first: only the manifests and the lock file, with empty sources, so this layer
# (the slow part: downloading and compiling every dependency) is reused until they change.
COPY Cargo.toml Cargo.lock rust-toolchain.toml rustfmt.toml ./
COPY broker/Cargo.toml broker/Cargo.toml
COPY operator/Cargo.toml operator/Cargo.toml
COPY e2e/Cargo.toml e2e/Cargo.toml
RUN mkdir -p broker/src/bin operator/src/bin e2e/src/bin \
 && touch broker/src/lib.rs operator/src/lib.rs e2e/src/lib.rs \
 && echo 'fn main() {}' > broker/src/bin/apogee.rs \
 && echo 'fn main() {}' > operator/src/bin/apogee-operator.rs \
 && echo 'fn main() {}' > e2e/src/bin/storebench.rs \
 && cargo build --release --locked -p apogee-broker -p apogee-operator \
 && rm -rf broker/src operator/src e2e/src
COPY broker/src broker/src
COPY operator/src operator/src
COPY e2e/src e2e/src
# Newer than the placeholders of the dependency layer, so cargo rebuilds our own crates.
RUN touch broker/src/lib.rs broker/src/bin/apogee.rs operator/src/lib.rs operator/src/bin/apogee-operator.rs
# BUILD_COMMAND (kept as its own instruction so CI can run it verbatim)
# hadolint ignore=DL3059
RUN cargo build --release --locked -p apogee-broker -p apogee-operator --bin apogee --bin apogee-operator

FROM ${RUNTIME_IMAGE}
ARG VERSION=0.1.0
# Where and from what the image was built: pass them from CI, e.g.
#   --build-arg VCS_REF=$(git rev-parse HEAD) --build-arg BUILD_DATE=$(date -u +%Y-%m-%dT%H:%M:%SZ)
# The defaults say "not given" (BUILD_DATE as the epoch, so the label stays RFC 3339) and keep
# a build without them reproducible; VCS_URL defaults to the workspace's `repository`.
ARG VCS_URL=https://example.invalid/apogee
ARG VCS_REF=unknown
ARG BUILD_DATE=1970-01-01T00:00:00Z
LABEL org.opencontainers.image.title="apogee" \
      org.opencontainers.image.description="RocketMQ-compatible NameServer, Broker and Kubernetes operator" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="${VCS_URL}" \
      org.opencontainers.image.revision="${VCS_REF}" \
      org.opencontainers.image.created="${BUILD_DATE}"
COPY --from=build /src/target/release/apogee /usr/local/bin/apogee
COPY --from=build /src/target/release/apogee-operator /usr/local/bin/apogee-operator
# distroless' nonroot user (uid 65532); the store lives on the volume mounted at /data.
USER 65532:65532
WORKDIR /data
ENV HOME=/data
# NameServer, broker (VIP, listen, HA), metrics
EXPOSE 9876 10909 10911 10912 5557
ENTRYPOINT ["/usr/local/bin/apogee"]
CMD ["standalone", "--store", "/data/store"]
