# syntax=docker/dockerfile:1
# Build with the dev toolchain, run on the current Node LTS with production dependencies only.
FROM node:26-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY bin ./bin
RUN npm ci --no-audit --no-fund && npm run build && npm prune --omit=dev

FROM node:26-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /app/bin ./bin
# A numeric non-root user, so runAsNonRoot can verify it.
USER 65532:65532
EXPOSE 8443
ENTRYPOINT ["node", "/app/bin/fn-pinner.js"]
CMD ["serve"]
