# The lookout image used by docker-compose.yml (services `lookout` and `producer`).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    # numba's compile cache: the installed sources are read-only for the runtime user, who has
    # no home, so the kernels are compiled at build time into a folder that user owns (and
    # can refresh, e.g. on another CPU). Without it, `lookout` would still start
    # (stream/compile_cache.py) but compile for half a minute at every start.
    NUMBA_CACHE_DIR=/var/cache/lookout/numba

WORKDIR /app
# The whole tree (minus .dockerignore): the package and the demo data under sim/data/ that
# `lookout produce /app/sim/data/demo` replays.
COPY . /app
RUN pip install . \
    && useradd --system --no-create-home --home-dir /nonexistent --uid 10001 lookout \
    && mkdir -p "$NUMBA_CACHE_DIR" \
    && chown lookout "$NUMBA_CACHE_DIR"

USER lookout
# Compile the detector kernels once, as the user that runs them, into NUMBA_CACHE_DIR: through
# the installed `lookout` (numba's cache is keyed by the source files' paths, and a `python`
# started in /app would import the copies in /app instead), replaying the bundled demo; the
# result rows' loop also for the long format's extra column (started in /tmp, as lookout is).
RUN cd /tmp && lookout replay --out /tmp/smoke --no-progress > /dev/null && rm -rf /tmp/smoke \
    && python -c "from stream.outputs.csv_rows import warm_up; warm_up()"
EXPOSE 9108
CMD ["lookout", "--help"]
