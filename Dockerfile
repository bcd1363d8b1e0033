# syntax=docker/dockerfile:1
#
# Yubin mail server image.
#
#   docker build -t yubin --build-arg VERSION=v1.2.3 .
#   docker compose up -d            (see docker-compose.yml and README "Docker")
#
# The SQLite driver (mattn/go-sqlite3, via gorm.io/driver/sqlite) needs cgo,
# so the binary links against glibc: it is built on Debian bookworm and runs
# on distroless/base-debian12 (bookworm), the same glibc on both sides.

# Matches the go directive of go.mod; the official images set
# GOTOOLCHAIN=local, so an older image would refuse to build.
ARG GO_VERSION=1.26.8

FROM golang:${GO_VERSION}-bookworm AS build
WORKDIR /src
ENV CGO_ENABLED=1 GOFLAGS=-buildvcs=false
# Module downloads first: this layer survives source changes.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
ARG VERSION=docker
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/yubin ./cmd/yubin \
 && /out/yubin version

# The data folder, owned by the unprivileged user the server runs as.
RUN mkdir -p /out/data && chown 10001:10001 /out/data && chmod 0700 /out/data

# distroless/base: glibc (for cgo), CA certificates (verifying smarthost and
# remote MX certificates) and time zones, and nothing else: no shell, no
# package manager, so building the image needs no network beyond the Go
# module proxy and the two base images.
FROM gcr.io/distroless/base-debian12
COPY --from=build /out/yubin /usr/local/bin/yubin
COPY --from=build --chown=10001:10001 /out/data /data

# Everything Yubin keeps (database, message bodies, TLS certificate, API key).
ENV YUBIN_DATA=/data
VOLUME ["/data"]
WORKDIR /data
USER 10001:10001

# Unprivileged ports: SMTP, submission, submissions, IMAP, IMAPS, POP3,
# POP3S, HTTP, HTTPS. Map the standard ports onto them (docker-compose.yml).
EXPOSE 2525 2587 2465 2143 2993 2110 2995 8080 8443 4190

HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["/usr/local/bin/yubin", "healthcheck"]

# `docker stop` sends SIGTERM: yubin finishes SMTP transactions under way
# (at most 30 s) before it exits, so give it that long (compose does).
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/yubin"]
CMD ["serve"]
