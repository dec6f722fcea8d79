# todo-api container image.
#
#   make image ENV=dev            (podman build --format docker, or docker build:
#                                  -t todo-api:TAG --build-arg ENV=dev .)
#
# Stage "build" compiles build/todo-api with the project's Makefile on Debian 12;
# the runtime stage is Debian 12 slim with only the shared libraries the binary
# loads, the binary, and env/.env.$ENV as /app/.env. That file is read the way
# godotenv reads it and never overrides the environment, so Kubernetes' ConfigMap
# and Secret values win over it. Env files hold no secrets (tests/deploy checks).
# No registry is reachable on the project machines: deploy/podman-base.sh makes
# the base image locally under this name.

FROM docker.io/library/debian:bookworm-slim AS build
# Versions come from the base image's Debian 12 suite and its security updates;
# pinning exact Debian revisions would break the build at every point release.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      build-essential pkg-config protobuf-compiler protobuf-c-compiler grpc-proto \
      libprotobuf-dev libprotobuf-c-dev libnghttp2-dev libuv1-dev libssl-dev zlib1g-dev libmongoc-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Makefile ./
COPY proto/ proto/
COPY src/ src/
# `-o deps`: the packages above replace the Makefile's apt step (third_party/deps.sh),
# which would also install the linters and test tools.
RUN make -o deps -j"$(nproc)" BUILD=/tmp/build /tmp/build/todo-api \
 && install -D -m 0755 -s /tmp/build/todo-api /out/todo-api \
 && /out/todo-api --version

FROM docker.io/library/debian:bookworm-slim AS runtime
ARG ENV=dev
ARG CONTAINER_PORT=8001
LABEL org.opencontainers.image.title="todo-api" \
      org.opencontainers.image.description="Todo gRPC API (grpc.Todos) on the ugrpc C library"
# Only the libraries build/todo-api links (libmongoc pulls libbson, libmongocrypt,
# ICU, SASL, snappy, zstd) and CA certificates for MongoDB over TLS.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      ca-certificates libnghttp2-14 libuv1 libprotobuf-c1 libssl3 zlib1g libmongoc-1.0-0 libbson-1.0-0 \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --gid 10001 todo \
 && useradd --no-log-init --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin todo
COPY --from=build /out/todo-api /usr/local/bin/todo-api
WORKDIR /app
COPY env/.env.${ENV} /app/.env
# Numeric, so Kubernetes can verify runAsNonRoot.
USER 10001:10001
EXPOSE ${CONTAINER_PORT}
# Kubernetes probes the pod itself (gRPC health for readiness, /healthz of ADMIN_PORT for
# liveness: deploy/deployment.yaml); the image has no client for a HEALTHCHECK to run.
HEALTHCHECK NONE
ENTRYPOINT ["/usr/local/bin/todo-api"]
