# binance-bridge: build with the Swift toolchain, run on a slim Debian with only the
# runtime libraries (hiredis 0.14, OpenSSL via the static Swift runtime's dependencies).
FROM swift:6.3-bookworm AS build
RUN apt-get update \
    && apt-get install -y --no-install-recommends libhiredis-dev libssl-dev pkg-config \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Package.swift ./
COPY Sources ./Sources
COPY Tests ./Tests
RUN swift build -c release --product binance-bridge --static-swift-stdlib \
    && install -D "$(swift build -c release --show-bin-path)/binance-bridge" /out/binance-bridge

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends libhiredis0.14 ca-certificates tzdata \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /app bridge
WORKDIR /app
COPY --from=build /out/binance-bridge /usr/local/bin/binance-bridge
COPY config ./config
USER 10001
EXPOSE 9464
ENTRYPOINT ["/usr/local/bin/binance-bridge"]
CMD ["run", "--config", "/app/config/bridge.yaml"]
