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
ENV TICKER_ADDR=:8080
EXPOSE 8080
ENTRYPOINT ["/ticker"]
