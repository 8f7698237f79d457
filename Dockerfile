# The lookout image used by docker-compose.yml (services `lookout` and `producer`).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
# The whole tree (minus .dockerignore): the package and the demo data under sim/data/ that
# `lookout produce /app/sim/data/demo` replays.
COPY . /app
RUN pip install . \
    && useradd --system --no-create-home --uid 10001 lookout

USER lookout
EXPOSE 9108
CMD ["lookout", "--help"]
