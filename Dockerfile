# geoapp: multi-stage image. Stage 1 fetches the pinned browser assets from npm,
# stage 2 builds the Python wheel, the final stage runs `geoapp serve` as a non-root user.

FROM node:20-bookworm-slim AS assets
WORKDIR /build
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund

FROM python:3.11-slim-bookworm AS wheel
WORKDIR /build
COPY pyproject.toml README.md requirements.lock ./
COPY geoapp ./geoapp
# The locked, hash-checked dependencies, then geoapp itself without resolving again.
RUN pip wheel --no-cache-dir --wheel-dir /wheels --require-hashes -r requirements.lock \
    && pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

FROM python:3.11-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    GEOAPP_ENVIRONMENT=production \
    GEOAPP_LAYERS_DIR=/app/layers GEOAPP_GEO_DIR=/app/data/geo \
    GEOAPP_TEMPLATES_DIR=/app/templates GEOAPP_VENDOR_DIR=/app/node_modules \
    GEOAPP_REPORTS_YAML=/app/data/reports.yaml \
    GEOAPP_DATA_DIR=/var/lib/geoapp
RUN useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin geoapp \
    && mkdir -p /var/lib/geoapp && chown geoapp /var/lib/geoapp
COPY --from=wheel /wheels /wheels
RUN pip install --no-cache-dir --no-index --find-links /wheels /wheels/geoapp-*.whl \
    && rm -rf /wheels
WORKDIR /app
COPY layers ./layers
COPY data ./data
COPY templates ./templates
COPY --from=assets /build/node_modules ./node_modules
USER geoapp
VOLUME ["/var/lib/geoapp"]
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=3s CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2)"
CMD ["geoapp", "serve", "--host", "0.0.0.0", "--port", "8000"]
