# syntax=docker/dockerfile:1
# fn-pinner's image: the CLI bundled with esbuild (scripts/bundle.ts) on the current Node.js LTS, as a
# numeric non-root user, with no node_modules at run time.
#   docker build -t fn-pinner:0.1.0 --build-arg VERSION=0.1.0 .
# NODE_IMAGE lets a locally assembled base stand in for the official one (scripts/build-image.sh).
ARG NODE_IMAGE=node:26-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
# No install scripts: the tsc build (prepare) is not needed for the bundle.
RUN npm ci --no-audit --no-fund --ignore-scripts
COPY tsconfig.json ./
COPY scripts/bundle.ts ./scripts/
COPY src ./src
RUN node_modules/.bin/tsx scripts/bundle.ts bundle

FROM ${NODE_IMAGE}
ARG VERSION=0.1.0
ARG SOURCE_URL=""
LABEL org.opencontainers.image.title="fn-pinner" \
      org.opencontainers.image.description="Mutating admission webhook that pins KRM function pod images to digests" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.source="${SOURCE_URL}" \
      org.opencontainers.image.licenses="Apache-2.0"
ENV NODE_ENV=production
WORKDIR /app
COPY package.json ./
COPY bin ./bin
COPY --from=build /app/bundle ./dist
# A numeric non-root user, so runAsNonRoot can verify it.
USER 65532:65532
EXPOSE 8443
ENTRYPOINT ["node", "/app/bin/fn-pinner.js"]
CMD ["serve"]
