# syntax=docker/dockerfile:1
# stillframe: Node 24, compiled JavaScript and production dependencies only, non-root, health-checked.
# Frames are decoded by node-av (FFmpeg as a native library, prebuilt inside its npm package for glibc),
# so the image carries no ffmpeg binary; Debian slim (glibc), not Alpine (musl), for node-av's and
# sharp's prebuilt binaries. Pinned to a published release; bump deliberately.
ARG NODE_IMAGE=node:24.11.1-bookworm-slim

# Dependency install scripts stay off (--ignore-scripts): none is needed (sharp and node-av ship
# prebuilt binaries as packages), as package.json's allowScripts says for npm versions that read it.

# 1. Build: every dependency (TypeScript included), then src/ → dist/.
FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

# 2. Production dependencies only: no TypeScript, tsx or test tools.
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund

# 3. Runtime: dist/ and production node_modules; no TypeScript sources.
FROM ${NODE_IMAGE}
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY package.json LICENSE ./
COPY bin ./bin
COPY --from=build /app/dist ./dist
# `stillframe task …` inside the container (docker compose exec stillframe-1 stillframe task list …).
RUN ln -s /app/bin/stillframe.js /usr/local/bin/stillframe \
 && mkdir -p /data \
 && chown node:node /data
USER node
# Storage and the task journal both live on the /data volume, writable by `node` (/app is root's).
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=8080 \
    STILLFRAME_STORAGE=file:///data \
    STILLFRAME_STATE_DIR=/data/.stillframe
VOLUME ["/data"]
EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 8080) + '/_/health').then(r => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# SIGTERM drains in-flight requests for up to STILLFRAME_SHUTDOWN_GRACE_MS (25 s, inside Docker's default 30 s stop timeout).
CMD ["node", "dist/main.js", "serve"]
