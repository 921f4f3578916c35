# syntax=docker/dockerfile:1
#
# Vigil's container image: built on the official Swift image, run on plain Ubuntu.
#
#   docker build -t vigil .
#   docker run --rm -p 8080:8080 vigil          # development defaults: SQLite inside the container
#
# Production settings (PostgreSQL, secrets as *_FILE) come from the environment at run time:
# see compose.yaml, deploy/ and docs/DEPLOY.md.

# The project is built and tested with Swift 6.3 (swift-tools-version 6.1). Noble in both
# stages, so the binary meets the glibc it was linked against.
ARG SWIFT_VERSION=6.3
ARG UBUNTU_VERSION=noble

FROM swift:${SWIFT_VERSION}-${UBUNTU_VERSION} AS build
WORKDIR /src

# Dependencies first: this layer is reused until Package.swift (or a Package.resolved, when
# one is present) changes.
COPY Package.* ./
RUN swift package resolve

# Tests/ is copied only because the manifest declares a test target; nothing in it is built.
COPY Sources ./Sources
COPY Tests ./Tests

# --static-swift-stdlib links the Swift runtime and Foundation into the binary, so the run stage
# needs no Swift toolchain. SQLite (sqlite-nio) and TLS (swift-nio-ssl) are compiled in too.
# swift-backtrace-static prints a symbolicated backtrace if the process ever crashes.
RUN swift build -c release --product vigil --static-swift-stdlib \
    && mkdir -p /staging \
    && cp "$(swift build -c release --show-bin-path)/vigil" /staging/vigil \
    && cp /usr/libexec/swift/linux/swift-backtrace-static /staging/swift-backtrace-static

FROM ubuntu:${UBUNTU_VERSION}

# ca-certificates: provider calls (Veriff, SendGrid, Stripe, Lightspeed) and sslmode=verify-full
# check certificates against the system trust store. tzdata: Foundation's time zones.
# curl: the HEALTHCHECK below (vigil has no health-check subcommand).
# Versions are not pinned: the base image's security updates should flow in on rebuild.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates tzdata curl \
    && rm -rf /var/lib/apt/lists/*

# A fixed numeric uid so Kubernetes' runAsNonRoot can verify it without running the image.
RUN groupadd --system --gid 10001 vigil \
    && useradd --system --uid 10001 --gid vigil --home-dir /app --shell /usr/sbin/nologin vigil \
    && mkdir -p /app/vigil-data \
    && chown -R vigil:vigil /app

COPY --from=build /staging/vigil /usr/local/bin/vigil
COPY --from=build /staging/swift-backtrace-static /usr/local/libexec/swift-backtrace-static

WORKDIR /app
USER 10001:10001

# Listen on every interface inside the container (Vigil's own default is 127.0.0.1).
ENV VIGIL_HOST=0.0.0.0 \
    VIGIL_PORT=8080 \
    SWIFT_BACKTRACE=enable=yes,sanitize=yes,threads=all,images=all,interactive=no,swift-backtrace=/usr/local/libexec/swift-backtrace-static

EXPOSE 8080

# /healthz is liveness only (no database round trip), so a database outage does not get a
# healthy container restarted; readiness (/health) belongs to the orchestrator's probes.
HEALTHCHECK --interval=15s --timeout=3s --start-period=30s --retries=3 \
    CMD ["sh", "-c", "curl -fsS -o /dev/null http://127.0.0.1:${VIGIL_PORT}/healthz || exit 1"]

# vigil serve stops gracefully on SIGTERM (drains requests, hands back running tasks).
STOPSIGNAL SIGTERM
ENTRYPOINT ["vigil"]
CMD ["serve"]
