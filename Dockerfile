# One dropviz server: CPU-only torch, a non-root user, a health check. See README "Hosting".
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    # One BLAS thread per training job: the runner already trains one job per core.
    OMP_NUM_THREADS=1

RUN useradd --create-home --uid 10001 dropviz
WORKDIR /app

COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt

COPY --chown=dropviz:dropviz app.py ./
COPY --chown=dropviz:dropviz .streamlit ./.streamlit
COPY --chown=dropviz:dropviz dropviz ./dropviz

USER dropviz
EXPOSE 8501
HEALTHCHECK --interval=30s --timeout=5s --start-period=40s --retries=3 \
  CMD python -c "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8501/_stcore/health', timeout=4).status != 200)"

CMD ["streamlit", "run", "app.py", "--server.port=8501", "--server.address=0.0.0.0"]
