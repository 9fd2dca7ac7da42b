# The orchestrator image: the control plane, its web console and the vendored browser
# libraries. Build from the repository root:
#   docker build -f images/orchestrator.Dockerfile -t ghcr.io/openclaw-as-a-service/orchestrator:0.1.0 .
# Not built or tested here (no container engine on the development machine): see README.md.

FROM rust:1.95-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends nodejs npm \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p orchestrator \
    && scripts/vendor-web.sh

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10000 --user-group --home-dir /data --no-create-home ocaas
COPY --from=build /src/target/release/orchestrator /usr/local/bin/orchestrator
COPY --from=build /src/web-static /app/web-static
WORKDIR /app
ENV OCAAS_DATA_DIR=/data OCAAS_LISTEN=0.0.0.0:8080 OCAAS_LOG_FORMAT=json
USER 10000:10000
# 8080: the API and console; 8081: sandboxes' model calls (cluster-internal).
EXPOSE 8080 8081
ENTRYPOINT ["/usr/local/bin/orchestrator"]
