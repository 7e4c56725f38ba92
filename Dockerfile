# iop-callback container image.
#   docker build -t iop-callback .
#   docker run --rm -p 8080:8080 iop-callback demo      # the sandbox, nothing to configure
# Real use is configured with IOP_* variables and *_FILE secrets (see docker-compose.yml).

ARG RUST_VERSION=1.95.0

# --- build: Debian 12, the same C library as the runtime base below ---------------------
FROM rust:${RUST_VERSION}-slim-bookworm AS build
WORKDIR /src

# jemalloc's C sources are built with make, which the slim image leaves out.
RUN apt-get update \
 && apt-get install -y --no-install-recommends make=4.3-4.1 \
 && rm -rf /var/lib/apt/lists/*

# Dependencies in their own layer: rebuilt only when Cargo.toml or Cargo.lock change.
# .cargo/config.toml sets jemalloc's options at build time.
COPY Cargo.toml Cargo.lock ./
COPY .cargo .cargo
# Stubs for every target Cargo.toml names (the benchmark example is never built here).
RUN mkdir src bench \
 && echo 'fn main() {}' > src/main.rs \
 && echo 'fn main() {}' > bench/flow.rs \
 && touch src/lib.rs \
 && cargo build --release --locked \
 && rm -rf src target/release/.fingerprint/iop-callback-*

# The application. Templates, static files and migrations are compiled into the binary.
COPY migrations migrations
COPY templates templates
COPY static static
COPY src src
RUN cargo build --release --locked \
 && install -D -m 0755 target/release/iop-callback /out/usr/local/bin/iop-callback \
 && install -d -m 0700 /out/data

# --- runtime: glibc, libgcc and CA certificates, no shell, no package manager -----------
FROM gcr.io/distroless/cc-debian12:nonroot

LABEL org.opencontainers.image.title="iop-callback" \
      org.opencontainers.image.description="redirect_uri service for AliExpress and Lazada seller authorization: signed token exchange, token storage and refresh" \
      org.opencontainers.image.licenses="MIT OR Apache-2.0" \
      org.opencontainers.image.version="0.1.0"

COPY --from=build /out/usr/local/bin/iop-callback /usr/local/bin/iop-callback
COPY --from=build --chown=65532:65532 /out/data /data

# Relative database paths (the defaults, data/...) land in the /data volume.
WORKDIR /
ENV IOP_LISTEN=0.0.0.0:8080 \
    IOP_LOG_FORMAT=json
VOLUME ["/data"]
EXPOSE 8080
# distroless "nonroot", numerically so that runtimes can verify it is not root.
USER 65532:65532

HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
  CMD ["/usr/local/bin/iop-callback", "healthcheck"]

ENTRYPOINT ["/usr/local/bin/iop-callback"]
CMD ["serve"]
