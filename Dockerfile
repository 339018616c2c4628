# syntax=docker/dockerfile:1
# stillframe: Node 24, a static ffmpeg/ffprobe 7.1 (fast to start: ~1 ms vs ~60 ms for a distro build
# linked against hundreds of shared libraries), non-root, health-checked.

FROM node:24-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund

FROM mwader/static-ffmpeg:7.1 AS ffmpeg

FROM node:24-bookworm-slim
WORKDIR /app
COPY --from=ffmpeg /ffmpeg /ffprobe /usr/local/bin/
COPY --from=deps /app/node_modules ./node_modules
COPY package.json ./
COPY bin ./bin
COPY src ./src
RUN mkdir -p /data && chown node:node /data
USER node
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=8080 \
    STILLFRAME_STORAGE=file:///data \
    STILLFRAME_FFMPEG=/usr/local/bin/ffmpeg \
    STILLFRAME_FFPROBE=/usr/local/bin/ffprobe
VOLUME ["/data"]
EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s \
  CMD ["node", "-e", "fetch('http://127.0.0.1:8080/_/health').then(r => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# SIGTERM drains in-flight requests for up to STILLFRAME_SHUTDOWN_GRACE_MS (25 s, inside Docker's default 30 s stop timeout).
CMD ["node", "bin/stillframe.js", "serve"]
