# syntax=docker/dockerfile:1
# Build: a static binary, no cgo.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/ticker .

# Run: distroless static, as a non-root user.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/ticker /ticker
COPY --from=build /src/fixtures /fixtures
USER nonroot:nonroot
# Every flag can be set as TICKER_<FLAG> (e.g. TICKER_FEED, TICKER_ROLE,
# TICKER_NATS, TICKER_AUTH_TOKENS); see README.
ENV TICKER_ADDR=:8080 TICKER_LOG_FORMAT=json
EXPOSE 8080
# No shell in the image: the binary checks its own /readyz.
HEALTHCHECK --interval=10s --timeout=5s --start-period=15s --retries=3 CMD ["/ticker", "healthcheck"]
ENTRYPOINT ["/ticker"]
