FROM python:3.11-slim-bookworm
WORKDIR /app
COPY pyproject.toml README.md ./
COPY devices devices
COPY gateway gateway
COPY market market
COPY community community
RUN pip install --no-cache-dir .
ENV SC_HTTP_HOST=0.0.0.0 SC_DATA_DIR=/data SC_LOG_FORMAT=json
VOLUME /data
EXPOSE 8080
ENTRYPOINT ["smartcity"]
CMD ["gateway"]
