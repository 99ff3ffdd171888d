# binance-bridge: build with the Swift toolchain, run on a slim Debian with only the runtime
# libraries (hiredis 0.14, OpenSSL; the Swift runtime is linked statically).
# Validated in CI with hadolint (scripts/validate-containers.sh).
FROM swift:6.3-bookworm AS build
RUN apt-get update \
    && apt-get install -y --no-install-recommends libhiredis-dev libssl-dev pkg-config \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Package.swift ./
COPY Sources ./Sources
COPY Tests ./Tests
RUN swift build -c release --product binance-bridge --static-swift-stdlib \
    && swift build -c release --product binance-sim --static-swift-stdlib \
    && bin="$(swift build -c release --show-bin-path)" \
    && install -D "$bin/binance-bridge" /out/binance-bridge \
    && install -D "$bin/binance-sim" /out/binance-sim

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends libhiredis0.14 libssl3 ca-certificates tzdata \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /app bridge
WORKDIR /app
COPY --from=build /out/binance-bridge /out/binance-sim /usr/local/bin/
COPY config ./config
USER 10001
EXPOSE 9464
# The binary probes its own /healthz: no curl in the image.
HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=3 \
    CMD ["/usr/local/bin/binance-bridge", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/binance-bridge"]
CMD ["run", "--config", "/app/config/bridge.yaml"]
